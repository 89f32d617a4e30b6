"""Benchmark of the polynomial-law solver (``laws.polynomial_laws``): not a timed test.

    .venv/bin/python benchmarks/laws_benchmark.py            # full run
    .venv/bin/python benchmarks/laws_benchmark.py --quick    # small ladders only

Two ladders, every case in a fresh process (so that its peak resident memory, ``ru_maxrss``, is its
own), degree 2:
(a) two-layer linear [k, k, k] under heavy-ball momentum (τ = 1, N = 4k² + 1), k = 2 … 10: the
    k(k−1)/2 laws e^{τt}(antisymmetric part of UᵀU̇ + VᵀV̇), complete and exactly verified;
(b) gradient flow of ReLU, NMF (mirror) and ICNN (mixed) nets [4, h, 6], h = 5, 10, 20, 40
    (D = 50 … 400): one law per hidden neuron, complete.
Each record holds the wall time of the whole call (fields, law solve, Lie count), the Lie count's part,
the peak memory, and the solver's statistics (weights of the lattice, blocks, the largest block, the
largest component left coupled after elimination).

Writes ``benchmarks/results/laws_benchmark.json`` and ``.md`` (``--quick``: ``laws_benchmark_quick.*``).
Exits 1 if a case is not complete and verified.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from count_benchmark import machine  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
model, dims, flow, tau = sys.argv[2], [int(x) for x in sys.argv[3].split(",")], sys.argv[4], sys.argv[5]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
from conservation_laws.engine.laws import polynomial_laws
from conservation_laws.models import make_model
imports = time.perf_counter() - t0
t0 = time.perf_counter()
res = polynomial_laws(make_model(model, dims), flow, tau=tau, degree=2)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"model": model, "dims": dims, "flow": flow, "tau": tau, "N": res.family.N, "D": res.family.model.D,
                  "unknowns": res.unknowns, "found": len(res.laws), "basis": len(res.basis),
                  "independent": res.independent, "upper_bound": res.upper_bound, "complete": res.complete,
                  "verified": res.verified, "seconds": seconds, "lie_seconds": res.lie.seconds,
                  "import_seconds": imports, "peak_rss_mb": peak / 1024, "baseline_rss_mb": base / 1024,
                  "solver": {k: v for k, v in res.stats.items() if k != "prime"}}))
"""


def run_case(model: str, dims: list[int], flow: str, tau: str, timeout: float) -> dict:
    args = [sys.executable, "-c", _CHILD, str(ROOT / "lib"), model, ",".join(map(str, dims)), flow, tau]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": model, "dims": dims, "flow": flow, "timed_out": True, "seconds": timeout, "complete": False}
    if proc.returncode != 0:
        return {"model": model, "dims": dims, "flow": flow, "error": proc.stderr.strip().splitlines()[-1:],
                "complete": False}
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {model} {dims} {flow}: N = {rec['N']}, {rec['basis']} laws in the basis ({rec['found']} found), "
          f"complete {rec['complete']}, {rec['seconds']:.2f} s, {rec['peak_rss_mb']:.0f} MB", flush=True)
    return rec


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['platform']}, {m['cpus']} logical cores, Python {m['python']}; {m['date']}; load average "
             f"at the end {', '.join(f'{x:.1f}' for x in m['load_average'] or [])}.", "",
             "Seconds: the whole `polynomial_laws` call (fields, law solve, and the Lie count N − K it certifies "
             "against), in a fresh process, imports excluded; peak RSS is the whole process.", ""]

    def table(title: str, rows: list[dict]) -> None:
        lines.extend([title, "", "| model | dims | D | N | unknowns | weights | blocks | largest block | "
                      "largest coupled | laws (basis / found) | complete | seconds | of which Lie | peak RSS (MB) |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"])
        for r in rows:
            if "N" not in r:
                lines.append(f"| {r['model']} | {r['dims']} | | | | | | | | "
                             f"{'timed out' if r.get('timed_out') else r.get('error')} | no | | | |")
                continue
            s = r["solver"]
            lines.append(f"| {r['model']} | {r['dims']} | {r['D']} | {r['N']} | {r['unknowns']} | {s['weights']} | "
                         f"{s['blocks']} | {s['largest_block']} | {s['largest_coupled']} | {r['basis']} / {r['found']} | "
                         f"{'yes' if r['complete'] else 'NO'} | {r['seconds']:.2f} | {r['lie_seconds']:.2f} | "
                         f"{r['peak_rss_mb']:.0f} |")
        lines.append("")

    table("**(a) Heavy-ball ladder**: linear [k, k, k], τ = 1, degree 2 (k(k−1)/2 laws).", report["momentum"])
    table("**(b) Gradient-flow ladders**: ReLU, NMF (mirror), ICNN (mixed) [4, h, 6], degree 2 (h laws).",
          report["gradient"])
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="k ≤ 5 and h ≤ 10")
    ap.add_argument("--k-max", type=int, default=None, help="largest k of the heavy-ball ladder (default 10, quick 5)")
    ap.add_argument("--widths", default=None, help="hidden widths h of the GF ladders (default 5,10,20,40)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    k_max = args.k_max or (5 if args.quick else 10)
    widths = [int(h) for h in (args.widths or ("5,10" if args.quick else "5,10,20,40")).split(",")]
    print("(a) heavy-ball ladder", flush=True)
    momentum = [run_case("linear", [k, k, k], "momentum", "1", args.timeout) for k in range(2, k_max + 1)]
    print("(b) gradient-flow ladders", flush=True)
    gradient = [run_case(model, [4, h, 6], "gradient", "0", args.timeout) for model in ("relu", "nmf", "icnn")
                for h in widths]
    report = {"machine": machine(), "quick": args.quick, "momentum": momentum, "gradient": gradient,
              "load_average_end": os.getloadavg(),
              "peak_rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "laws_benchmark_quick" if args.quick else "laws_benchmark"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print(f"wrote {args.out / stem}.json and .md")
    return 0 if all(r.get("complete") and r.get("verified") for r in momentum + gradient) else 1


if __name__ == "__main__":
    sys.exit(main())
