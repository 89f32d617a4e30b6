"""The command line of sweeps: ``conservation-laws sweep SPEC`` and ``python -m conservation_laws.interfaces.sweep SPEC``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import ConservationLawsError, invalid
from .runner import machine_workers, run_sweep
from .spec import _version, case_key, expand_spec, load_spec
from .store import ResultStore, summarize


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "sweep", help="run a grid of counts on Dask (resumable)",
        description="Expand SPEC (YAML or JSON: model, dims or depth + widths, bias, flow, tau, geometry,\n"
                    "seed) into cases and count the laws of each (lie.count_laws) with dask.distributed.\n"
                    "Results are appended to a JSON-lines store as they finish; a rerun skips the cases\n"
                    "already there. Exit codes: 0 every case ok, 1 some case failed or timed out, 2 bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  conservation-laws sweep grid.yaml                      # LocalCluster, one worker per core\n"
               "  conservation-laws sweep grid.yaml --workers 2 --case-timeout 60 --case-memory 2GB\n"
               "  conservation-laws sweep grid.yaml --scheduler tcp://10.0.0.5:8786\n"
               "  conservation-laws sweep grid.yaml --dry-run            # list the cases, compute nothing")
    p.add_argument("spec", help="grid spec file (.yaml, .yml or .json)")
    p.add_argument("--store", help="results file (JSON lines); default: SPEC with suffix .results.jsonl")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of a LocalCluster")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster worker processes (default: the machine's cores)")
    p.add_argument("--case-timeout", type=float, default=None, metavar="SECONDS",
                   help="time budget per case; past it the case is recorded as 'timed out'")
    p.add_argument("--case-memory", default=None, metavar="SIZE",
                   help="memory limit per LocalCluster worker (one case at a time), e.g. 2GB")
    p.add_argument("--retry-failed", action="store_true", help="recompute cases stored as failed")
    p.add_argument("--dry-run", action="store_true", help="print the cases and how many are stored; compute nothing")
    p.add_argument("--json", action="store_true", help="print every result as one JSON line on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_sweep_command, handler=run_sweep_command)
    return p


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the ``sweep`` subcommand. Exit status: 0 all ok, 1 some case failed or timed out, 2 bad input."""
    try:
        spec = load_spec(args.spec)
        store = Path(args.store) if args.store else Path(args.spec).with_suffix(".results.jsonl")
        if args.dry_run:
            cases = expand_spec(spec)
            stored = ResultStore(store).load()
            version = _version()
            n_stored = 0
            for c in cases:
                key = case_key(c, version)
                hit = key in stored
                n_stored += hit
                print(json.dumps({"key": key, "stored": stored[key]["status"] if hit else None, "case": c}))
            print(f"{len(cases)} cases, {n_stored} in {store}", file=sys.stderr)
            return 0
        if args.workers is not None and args.workers < 1:
            raise invalid("--workers", args.workers, "a positive number of worker processes")
        if args.scheduler and args.case_memory:
            print("note: --case-memory applies to a LocalCluster only; start the workers with "
                  "`dask worker ... --memory-limit SIZE`", file=sys.stderr)
        results = run_sweep(spec, store, workers=args.workers or machine_workers(), case_timeout=args.case_timeout,
                            progress=not args.no_progress, scheduler=args.scheduler, case_memory=args.case_memory,
                            retry_failed=args.retry_failed)
    except ConservationLawsError as e:
        print(f"conservation-laws: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    s = summarize(results)
    if args.json:
        for r in results:
            print(json.dumps(r, sort_keys=True, default=str))
    name = spec.get("name", Path(args.spec).stem)
    line = (f"sweep {name}: {s['total']} cases, {s['ok']} ok, {s['failed']} failed, {s['timed out']} timed out "
            f"({s['computed']} computed now, {s['reused']} reused); store: {store}")
    print(line, file=sys.stderr if args.json else sys.stdout)
    for r in results:
        if r["status"] != "ok":
            print(f"  {r['status']}: {json.dumps(r['case'])}: {r['error']}", file=sys.stderr)
    return 0 if s["ok"] == s["total"] else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m conservation_laws.interfaces.sweep SPEC ...`` (the same as ``conservation-laws sweep``)."""
    parser = argparse.ArgumentParser(prog="python -m conservation_laws.interfaces.sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sweep_parser(sub)
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_sweep_command(args)
    except KeyboardInterrupt:
        print("conservation-laws: interrupted (finished cases are in the store; rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
