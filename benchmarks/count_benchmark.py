"""Benchmark of the counting engine (``lie.count_laws``): correctness and speed, not a timed test.

    .venv/bin/python benchmarks/count_benchmark.py            # full run (make benchmark)
    .venv/bin/python benchmarks/count_benchmark.py --quick    # a fast subset (small ladder)

Three parts:
(a) a fixed list of small configurations across every model and flow, each compared with its
    expected count (the paper's table, the notes, or a closed form);
(b) the authors' validation set (``validation.authors_validation_set``: 20 random configurations for
    each of six blocks), timed as one batch in one process, and once more through the command line
    (``conservation-laws count --batch``, start-up included); then the configurations their notebook
    actually ran, whose draws depend on how their counting routines consume the random stream
    (``authors_stream``: four readings, each timed whole and for its first 69 in notebook order);
(c) a size ladder: two-layer linear net [k, k, k] under heavy-ball momentum (τ = 1), k = 2, 3, …
    until one count takes over the time limit (60 s) or k reaches 14, each k in a fresh process
    (so that its peak resident memory, ``ru_maxrss``, is its own).

Writes ``benchmarks/results/count_benchmark.json`` (every record, the machine) and
``benchmarks/results/count_benchmark.md`` (short tables; ``--quick`` writes ``*_quick.*``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from conservation_laws.engine.lie import count_laws  # noqa: E402
from companion.provenance import git_revision, versions  # noqa: E402
from companion.validation import authors_validation_set, count_arguments, expected_count  # noqa: E402

VALIDATION_SEED = 0

# (model, dims, flow, tau, bias, expected laws, source of the expectation)
FIXED = [
    # the table (the paper's counts and this book's derived ones)
    ("linear", [2, 2, 2], "gradient", 0, False, 3, "table"),
    ("linear", [2, 2, 2], "momentum", 0, False, 1, "table"),
    ("linear", [2, 2, 2], "momentum", 1, False, 1, "table"),
    ("linear", [2, 2, 2], "momentum", 2, False, 1, "table"),
    ("linear", [2, 2, 2], "nesterov", 0, False, 1, "table"),
    ("linear", [1, 7, 2], "gradient", 0, False, 18, "table"),
    ("linear", [1, 7, 2], "momentum", 1, False, 21, "table"),
    ("linear", [2, 3, 3, 2], "gradient", 0, False, 12, "table"),
    ("linear", [2, 3, 3, 2], "momentum", 1, False, 6, "table"),
    ("relu", [2, 3, 3, 1], "gradient", 0, True, 6, "table"),
    ("relu", [2, 3, 3, 1], "momentum", 1, True, 0, "table"),
    ("nmf", [3, 3, 3], "gradient", 0, False, 3, "table"),
    ("nmf", [3, 3, 3], "momentum", 1, False, 0, "table"),
    ("icnn", [2, 3, 3], "gradient", 0, True, 3, "table"),
    ("icnn", [2, 3, 3], "momentum", 1, True, 0, "table"),
    ("product", [3], "gradient", 0, False, 2, "table"),
    # more, from the notes
    ("linear", [1, 6, 2], "gradient", 0, False, 15, "notes"),
    ("linear", [1, 6, 2], "momentum", 1, False, 15, "notes"),
    ("linear", [1, 4, 1], "gradient", 0, False, 7, "closed form"),
    ("linear", [1, 4, 1], "momentum", 1, False, 10, "closed form"),
    ("linear", [3, 5, 2], "nesterov", 0, False, 10, "closed form"),
    ("linear", [2, 2, 2, 2], "gradient", 0, False, 6, "notes"),
    ("linear", [2, 2, 2, 2], "momentum", 1, False, 2, "notes"),
    ("linear", [2, 2, 2, 2], "nesterov", 0, False, 2, "notes"),
    ("linear", [1, 2, 2, 1], "gradient", 0, False, 7, "notes"),
    ("relu", [2, 2, 2], "gradient", 0, False, 2, "notes"),
    ("relu", [2, 2, 2, 2], "gradient", 0, False, 4, "notes"),
    ("relu", [2, 2, 2, 2], "momentum", 0, False, 0, "notes"),
    ("relu", [2, 2, 2, 2], "nesterov", 0, True, 0, "notes"),
    ("relu", [3, 4, 3, 2], "gradient", 0, True, 7, "notes"),
    ("nmf", [1, 3, 1], "gradient", 0, False, 5, "notes"),
    ("nmf", [2, 4, 3], "gradient", 0, False, 4, "notes"),
    ("nmf", [2, 4, 3], "nesterov", 0, False, 0, "notes"),
    ("icnn", [3, 4, 2], "gradient", 0, False, 4, "notes"),
    ("icnn", [3, 4, 2], "nesterov", 0, True, 0, "notes"),
    ("product", [6], "gradient", 0, False, 5, "notes"),
]
QUICK_FIXED = 16  # the table rows


def fixed_part(rows) -> list[dict]:
    out = []
    for model, dims, flow, tau, bias, expected, source in rows:
        res = count_laws(model, flow, tau=tau, dims=dims, bias=bias)
        out.append({"model": model, "dims": dims, "flow": flow, "tau": tau, "bias": bias, "N": res.dimension,
                    "K": res.rank, "laws": res.laws, "expected": expected, "source": source,
                    "ok": res.laws == expected, "seconds": res.seconds, "failure_bound": res.failure_bound})
    return out


def batch_line(case: dict) -> dict:
    """A validation case as a ``count --batch`` line: the batch keys only, exact τ as a string."""
    from conservation_laws.interfaces.cli import BATCH_KEYS, BATCH_LABELS

    line = {k: v for k, v in case.items() if k in BATCH_KEYS + BATCH_LABELS and v is not None}
    return {k: (str(v) if isinstance(v, Fraction) else v) for k, v in line.items()}


def tally(records: list[dict]) -> dict:
    """Per block: cases, seconds, slowest case, agreement with the closed form (where one exists)."""
    blocks = {}
    for r in records:
        b = blocks.setdefault(r["block"], {"cases": 0, "seconds": 0.0, "agree": 0, "max_seconds": 0.0,
                                           "no_closed_form": 0})
        b["cases"] += 1
        b["seconds"] += r["seconds"]
        b["max_seconds"] = max(b["max_seconds"], r["seconds"])
        b["agree"] += r["laws"] == r["closed_form"]
        b["no_closed_form"] += r["closed_form"] is None
    return {"blocks": blocks, "agree": sum(b["agree"] for b in blocks.values()),
            "no_closed_form": sum(b["no_closed_form"] for b in blocks.values())}


def validation_part(seed: int, cli: bool) -> dict:
    cases = authors_validation_set(seed)
    records = []
    t0 = time.perf_counter()
    for case in cases:
        t = time.perf_counter()
        res = count_laws(**count_arguments(case))
        records.append({"id": case["id"], "block": case["block"], "dims": case["dims"], "tau": case["tau"],
                        "bias": case["bias"], "laws": res.laws, "closed_form": expected_count(case),
                        "seconds": time.perf_counter() - t})
    total = time.perf_counter() - t0
    out = {"seed": seed, "cases": len(cases), "seconds": total, "records": records}
    out.update(tally(records))
    if cli:
        wall, proc = _timed_batch([batch_line(c) for c in cases])
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
        out["cli"] = {"seconds": wall, "exit_code": proc.returncode, "lines": len(lines),
                      "same_counts": [x.get("laws") for x in lines] == [r["laws"] for r in records]}
    return out


#: The blocks of the authors' notebook (formal_calculus/main_ICML.ipynb), in its order.
_STREAM_BLOCKS = ("linear-mf", "relu-mf", "nmf-gf", "nmf-mf", "icnn-gf", "icnn-mf")


def authors_stream(recount: bool, always_solve: bool) -> list[dict]:
    """The authors' 120 seed-0 configurations as their cells draw them *with* their counting routines
    consuming the random stream, which ``authors_validation_set`` does not replay: in their code
    ``dim_trace_lie_algebra`` draws np.random.rand(D), once more when the rank is below D (``recount``),
    and ``solve`` draws rand(D) when its kernel is not empty (always, with ``always_solve``: the constant
    is in the kernel of the gradient-flow solves). Both readings of each are kept: the four sets bracket
    the configurations their notebook ran. Counts come from this engine (they decide the extra draws)."""
    out = []
    for block in _STREAM_BLOCKS:
        rng = np.random.RandomState(0)  # their cell: np.random.seed(0)
        for _ in range(20):
            if block in ("linear-mf", "relu-mf"):
                dims = [int(rng.randint(1, 4)) for _ in range(int(rng.randint(2, 4)) + 1)]
                rng.randint(0, 1)  # tau_value: always 0
                if block == "relu-mf":  # the coin lands in the τ slot (validation.py's docstring)
                    case = {"model": "relu", "flow": "momentum", "dims": dims, "tau": int(rng.random_sample() < 0.5)}
                else:
                    case = {"model": "linear", "flow": "momentum", "dims": dims, "tau": 0}
            else:
                model, flow = block.split("-")[0], "gradient" if block.endswith("gf") else "momentum"
                dims = [int(rng.randint(1, 8 if block == "nmf-gf" else 6)) for _ in range(3)]
                case = {"model": model, "flow": flow, "dims": dims}
                if model == "icnn":
                    case["bias"] = bool(rng.random_sample() < 0.5)
                if block == "icnn-mf":
                    case["geometry"] = "mixed-position"
            res = count_laws(**case)
            rng.rand(res.dimension)
            if recount and res.laws > 0:
                rng.rand(res.dimension)
            if (block == "linear-mf" or case["flow"] == "gradient") and (res.laws > 0 or always_solve):
                rng.rand(res.dimension)
            out.append(case)
    return out


def authors_stream_part() -> list[dict]:
    """Each reading of the authors' stream through ``count --batch`` (best of three, start-up included):
    the 120 configurations, and the first 69 in notebook order."""
    out = []
    for recount in (False, True):
        for always_solve in (False, True):
            cases = authors_stream(recount, always_solve)
            for subset in (cases, cases[:69]):
                runs = [_timed_batch(subset) for _ in range(3)]
                out.append({"recount": recount, "always_solve": always_solve, "cases": len(subset),
                            "distinct": len({json.dumps(c, sort_keys=True) for c in subset}),
                            "seconds": min(wall for wall, _ in runs),
                            "exit_code": max(proc.returncode for _, proc in runs)})
    return out


def _command() -> list[str]:
    """The command line of this environment: its ``conservation-laws`` script, else the module."""
    exe = Path(sys.executable).with_name("conservation-laws")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "conservation_laws.interfaces.cli"]


def _timed_batch(lines: list[dict]):
    """(wall seconds, finished process) of ``count --batch`` over ``lines``, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        t = time.perf_counter()
        proc = subprocess.run(_command() + ["count", "--batch", str(path), "--json", "--no-progress"],
                              capture_output=True, text=True)
        return time.perf_counter() - t, proc


_LADDER_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
import numpy as np
from flint import nmod_mat
from conservation_laws.engine import lie
from conservation_laws.engine.lie import _lie_rank, count_laws, single_threaded_blas
from conservation_laws.models import make_model
from conservation_laws.flows import vector_fields
k = int(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed(f):
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


# the certified count, as count_laws does it (fields, construction, check)
res, seconds, seconds_cpu = timed(lambda: count_laws("linear", "momentum", tau=1, dims=[k, k, k]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# its parts: the construction alone, then the check of that run
family = vector_fields(make_model("linear", [k, k, k]), "momentum", tau=1)
with single_threaded_blas():
    run, construction, construction_cpu = timed(lambda: _lie_rank(family, np.random.default_rng(0), 64, None))
    (status, bound, primes), verification, verification_cpu = timed(
        lambda: lie.verify(run, family, np.random.SeedSequence(1)))
# the floor: one dense rank of a K x N matrix mod a 31-bit prime (FLINT), in the same process
M = np.random.default_rng(1).integers(0, res.prime, size=(res.rank, res.dimension))
A = nmod_mat(res.rank, res.dimension, M.ravel().tolist(), res.prime)
_, floor, floor_cpu = timed(lambda: A.rank())
print(json.dumps({"k": k, "N": res.dimension, "K": res.rank, "laws": res.laws, "expected": k * (k - 1) // 2,
                  "seconds": seconds, "seconds_cpu": seconds_cpu,
                  "construction_seconds": construction, "construction_cpu": construction_cpu,
                  "verification_seconds": verification, "verification_cpu": verification_cpu,
                  "verification_status": status, "verification_bound": bound,
                  "floor_seconds": floor, "floor_cpu": floor_cpu,
                  "depth": res.depth, "brackets_expanded": res.brackets_expanded,
                  "candidates_tested": res.candidates_tested, "peak_rss_mb": peak / 1024,
                  "baseline_rss_mb": base / 1024, "failure_bound": res.failure_bound,
                  "certificate": res.certificate, "checks": res.checks}))
"""


def ladder_part(ks: list[int], limit: float, timeout: float) -> list[dict]:
    out = []
    for k in ks:
        try:
            proc = subprocess.run([sys.executable, "-c", _LADDER_CHILD, str(k), str(ROOT / "lib")],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.append({"k": k, "N": 4 * k * k + 1, "timed_out": True, "seconds": timeout})
            break
        if proc.returncode != 0:
            out.append({"k": k, "error": proc.stderr.strip().splitlines()[-1:]})
            break
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        rec["ok"] = rec["laws"] == rec["expected"]
        # the measure: the count in a fresh process through the command line, start-up included
        cli = _cli_times(["count", "--model", "linear", "--dims", f"{k},{k},{k}", "--flow", "momentum", "--tau", "1",
                          "--json"])
        cli_laws = json.loads(cli["stdout"])["laws"] if cli["exit_code"] == 0 else None
        rec.update(cli_seconds=cli["wall"], cli_cpu=cli["cpu"], cli_laws=cli_laws,
                   ratio_cli=cli["wall"] / max(rec["floor_seconds"], 1e-4),
                   ratio_cli_cpu=cli["cpu"] / max(rec["floor_cpu"], 1e-4))
        for part in ("seconds", "construction", "verification"):
            key = "seconds" if part == "seconds" else f"{part}_seconds"
            cpu = "seconds_cpu" if part == "seconds" else f"{part}_cpu"
            rec[f"ratio_{part}"] = rec[key] / max(rec["floor_seconds"], 1e-4)
            rec[f"ratio_{part}_cpu"] = rec[cpu] / max(rec["floor_cpu"], 1e-4)
        out.append(rec)
        print(f"  ladder k={k:2d}  N={rec['N']:4d}  laws={rec['laws']:3d}  count {rec['seconds']:7.2f} s "
              f"(cpu {rec['seconds_cpu']:.2f})  construction {rec['construction_seconds']:.2f}  verification "
              f"{rec['verification_seconds']:.2f}  floor {rec['floor_seconds']:.3f} (cpu {rec['floor_cpu']:.3f})  "
              f"count/floor {rec['ratio_seconds']:.1f} (cpu {rec['ratio_seconds_cpu']:.1f})  command line "
              f"{rec['cli_seconds']:.2f} s (cpu {rec['cli_cpu']:.2f}): {rec['ratio_cli']:.1f} (cpu {rec['ratio_cli_cpu']:.1f})  "
              f"peak RSS {rec['peak_rss_mb']:.0f} MB", flush=True)
        if rec["seconds"] > limit:
            break
    return out


def _cli_times(args: list[str], repeats: int = 1) -> dict:
    """Wall and CPU seconds (the child's user + system) of ``conservation-laws ARGS``: the best of ``repeats``."""
    command = _command()
    best = None
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(command + args, capture_output=True, text=True)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        rec = {"wall": wall, "cpu": cpu, "exit_code": proc.returncode, "stdout": proc.stdout}
        if best is None or wall < best["wall"]:
            best = rec
    return best


def user_model_part(products: int = 200, large: int = 1000) -> dict:
    """``count --phi`` with ``products`` products against the same map as ``--model linear --dims 1,n,1``,
    and a ``large`` one; plus the start-up: ``count`` of a small case (best of five)."""
    phi = " + ".join(f"a{i}*b{i}" for i in range(products))
    user = _cli_times(["count", "--phi", phi, "--json"], 3)
    builtin = _cli_times(["count", "--model", "linear", "--dims", f"1,{products},1", "--json"], 3)
    big = _cli_times(["count", "--phi", " + ".join(f"a{i}*b{i}" for i in range(large)), "--json"])
    startup = _cli_times(["count", "--model", "linear", "--dims", "2,2,2", "--json"], 5)
    laws = [json.loads(r["stdout"])["laws"] if r["exit_code"] == 0 else None for r in (user, builtin, big)]
    out = {"products": products, "user": user, "builtin": builtin, "large_products": large, "large": big,
           "startup": startup, "laws": laws, "ratio": user["wall"] / builtin["wall"],
           "ratio_cpu": user["cpu"] / max(builtin["cpu"], 1e-4)}
    for r in (user, builtin, big, startup):
        r.pop("stdout")
    return out


def machine() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
            "platform": platform.platform(), "cpus": os.cpu_count(), "load_average": load,
            "git_revision": git_revision(ROOT),
            "packages": {k: v for k, v in versions().items() if k in ("conservation-laws", "numpy", "sympy", "python-flint")}}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['platform']}, {m['cpus']} logical cores, Python {m['python']}, numpy "
             f"{m['packages'].get('numpy')}; {m['date']}.", ""]
    fx = report["fixed"]
    if fx:
        lines += [f"**(a) Fixed configurations**: {sum(r['ok'] for r in fx)}/{len(fx)} counts as expected, "
                  f"{sum(r['seconds'] for r in fx):.2f} s in all (slowest {max(r['seconds'] for r in fx):.3f} s).", "",
                  "| model | dims | flow | τ | bias | N | laws | expected | s |", "|---|---|---|---|---|---|---|---|---|"]
        for r in fx:
            lines.append(f"| {r['model']} | {r['dims']} | {r['flow']} | {r['tau']} | {'yes' if r['bias'] else 'no'} | "
                         f"{r['N']} | {r['laws']} | {r['expected']} | {r['seconds']:.3f} |")
    v = report["validation"]
    if v:
        lines += ["", f"**(b) The authors' validation set** (seed {v['seed']}, {v['cases']} cases): "
                  f"{v['seconds']:.2f} s in one process; {v['agree']}/{v['cases'] - v['no_closed_form']} agree with the "
                  f"closed forms ({v['no_closed_form']} cases have none: deep linear nets under momentum).", ""]
        if "cli" in v:
            c = v["cli"]
            lines[-2] += (f" Through `conservation-laws count --batch`: {c['seconds']:.2f} s wall, start-up included "
                          f"(exit code {c['exit_code']}, same counts: {'yes' if c['same_counts'] else 'NO'}).")
        if v.get("authors_stream"):
            st = v["authors_stream"]
            lines[-2] += (" The authors' random stream (their counting routines consume it; four readings, "
                          "`authors_stream`), through `count --batch`, start-up included, best of three: "
                          + "; ".join(f"{r['cases']} cases {r['seconds']:.2f} s" for r in st)
                          + f" (the slowest 120: {max(r['seconds'] for r in st if r['cases'] == 120):.2f} s).")
        lines += ["| block | cases | seconds | slowest case (s) | agree |", "|---|---|---|---|---|"]
        for name, b in v["blocks"].items():
            lines.append(f"| {name} | {b['cases']} | {b['seconds']:.2f} | {b['max_seconds']:.3f} | "
                         f"{b['agree']}/{b['cases'] - b['no_closed_form']} |")
    lad = report["ladder"]
    lines += ["", f"**(c) Size ladder**: two-layer linear [k, k, k], heavy-ball momentum τ = 1 (N = 4k² + 1), one "
              f"process per k; peak RSS is the whole process (Python and numpy: about "
              f"{lad[0].get('baseline_rss_mb', 0):.0f} MB before the count)." if lad else "", "",
              "Count: the certified count (`count_laws`: fields, construction and its one check); construction: "
              "the bracket construction alone; verification: the check of that run; floor: one dense rank of a "
              "K × N matrix mod a 31-bit prime (FLINT `nmod_mat`), all in the same process; command line: "
              "`conservation-laws count --json` of the same case in a fresh process, start-up included (the "
              "issue's measure), right after. Ratios to the floor, wall-clock and (in parentheses) CPU time, "
              "which a loaded machine disturbs less.", "",
              "| k | N | laws (= k(k−1)/2) | certificate | count (s) | construction (s) | verification (s) | "
              "floor (s) | count / floor | construction / floor | command line (s) | command line / floor | "
              "peak RSS (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in lad:
        if "laws" in r:
            lines.append(f"| {r['k']} | {r['N']} | {r['laws']} {'✓' if r['ok'] else '✗'} | {r['certificate']} "
                         f"(bound {r['failure_bound']:.0e}, {r['checks']} check) | {r['seconds']:.2f} | "
                         f"{r['construction_seconds']:.2f} | {r['verification_seconds']:.2f} | "
                         f"{r['floor_seconds']:.3f} | {r['ratio_seconds']:.1f} ({r['ratio_seconds_cpu']:.1f}) | "
                         f"{r['ratio_construction']:.1f} ({r['ratio_construction_cpu']:.1f}) | "
                         f"{r['cli_seconds']:.2f} ({r['cli_cpu']:.2f}){'' if r['cli_laws'] == r['laws'] else ' ✗'} | "
                         f"{r['ratio_cli']:.1f} ({r['ratio_cli_cpu']:.1f}) | {r['peak_rss_mb']:.0f} |")
        else:
            lines.append(f"| {r['k']} | {r.get('N', '')} | {'timed out' if r.get('timed_out') else r.get('error')} | "
                         f"| {r.get('seconds', '')} | | | | | | | | |")
    um = report.get("user_model")
    if um:
        lines += ["", f"**(d) User models and start-up** (through the command line, start-up included): "
                  f"`count --phi` with {um['products']} products {um['user']['wall']:.2f} s wall "
                  f"({um['user']['cpu']:.2f} s CPU) against `--model linear --dims 1,{um['products']},1` "
                  f"{um['builtin']['wall']:.2f} s ({um['builtin']['cpu']:.2f} s CPU): ratio {um['ratio']:.2f} "
                  f"({um['ratio_cpu']:.2f} CPU); {um['large_products']} products: {um['large']['wall']:.2f} s "
                  f"(exit code {um['large']['exit_code']}, laws {um['laws'][2]}). Start-up, `count` of linear "
                  f"[2, 2, 2] (best of five): {um['startup']['wall']:.2f} s wall, {um['startup']['cpu']:.2f} s CPU."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the table rows, the validation set, a ladder up to k = 6")
    ap.add_argument("--k-max", type=int, default=None, help="largest k of the ladder (default 14, quick 6)")
    ap.add_argument("--ks", default=None, help="the ladder's k, comma-separated (e.g. 14,20,32; overrides --k-max)")
    ap.add_argument("--ladder-only", action="store_true", help="skip (a) and (b)")
    ap.add_argument("--limit", type=float, default=60.0, help="stop the ladder after a count slower than this (s)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--no-cli", action="store_true", help="skip the command-line batch timing")
    args = ap.parse_args(argv)
    k_max = args.k_max or (6 if args.quick else 14)
    ks = [int(x) for x in args.ks.split(",")] if args.ks else list(range(2, k_max + 1))
    fixed, validation = [], {}
    if not args.ladder_only:
        print("(a) fixed configurations", flush=True)
        fixed = fixed_part(FIXED[:QUICK_FIXED] if args.quick else FIXED)
        print(f"  {sum(r['ok'] for r in fixed)}/{len(fixed)} as expected, {sum(r['seconds'] for r in fixed):.2f} s",
              flush=True)
        print("(b) the authors' validation set", flush=True)
        validation = validation_part(VALIDATION_SEED, cli=not args.no_cli)
        print(f"  {validation['cases']} cases in {validation['seconds']:.2f} s, {validation['agree']} agree with "
              "closed forms" + (f"; CLI batch {validation['cli']['seconds']:.2f} s" if "cli" in validation else ""),
              flush=True)
        if not args.no_cli and not args.quick:
            print("(b') the authors' random stream, four readings, through count --batch", flush=True)
            validation["authors_stream"] = authors_stream_part()
            for r in validation["authors_stream"]:
                print(f"  recount={r['recount']} always_solve={r['always_solve']}: {r['cases']} cases "
                      f"({r['distinct']} distinct) in {r['seconds']:.2f} s (exit {r['exit_code']})", flush=True)
    print("(c) size ladder", flush=True)
    ladder = ladder_part(ks, args.limit, timeout=max(600.0, 5 * args.limit))
    print("(d) user models and start-up", flush=True)
    user_model = user_model_part()
    print(f"  --phi {user_model['products']} products / built-in: {user_model['ratio']:.2f} "
          f"(cpu {user_model['ratio_cpu']:.2f}); start-up {user_model['startup']['wall']:.2f} s "
          f"(cpu {user_model['startup']['cpu']:.2f})", flush=True)
    report = {"machine": machine(), "quick": args.quick, "fixed": fixed, "validation": validation, "ladder": ladder,
              "user_model": user_model,
              "peak_rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "count_benchmark_quick" if args.quick else "count_ladder" if args.ladder_only else "count_benchmark"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print(f"wrote {args.out / stem}.json and .md")
    ok = (all(r["ok"] for r in fixed) and (not validation or validation["agree"] == validation["cases"]
          - validation["no_closed_form"]) and all(r.get("ok") for r in ladder if "laws" in r))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
