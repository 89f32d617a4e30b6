"""The command line of sweeps: ``conservation-laws sweep SPEC`` and ``python -m conservation_laws.interfaces.sweep SPEC``.

Errors go through the command line's one error path (``cli.main``): one line on stderr, exit 2.
Every option and the store are checked before anything is created or started.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import invalid
from .runner import (MAX_SECONDS, check_memory, check_scheduler_address, check_seconds, check_workers,
                     machine_workers, run_sweep)
from .spec import _version, case_key, expand_spec, load_spec
from .store import ResultStore, summarize

SPEC_HELP = """\
spec keys (YAML or JSON; a value may be one item or a list to sweep over):
  name, description      labels
  model                  linear, relu, nmf, icnn, product, or a block: attention, conv1d, conv2d,
                         softmax, residual, transformer
  dims                   one width (or range 'a..b', {from, to, step}, list) per layer, output first
  depth, widths, hidden  instead of dims: depth q, widths {output, hidden, input}, hidden uniform|all
  options                the model's keyword options (a mapping, or a list of mappings to sweep)
  model_file             a model file (YAML; relative to the spec's folder) instead of model and dims
  bias                   true/false (relu, icnn)
  flow, flows            gradient, momentum, nesterov, natural
  tau, taus              friction τ of heavy-ball momentum (0 for the other flows)
  weight_decay(s)        weight decay λ ≥ 0
  geometry, geometries   null (the model's own), euclidean, mirror, mixed, ...
  seed, repeats          random point and prime; independent runs
  grids                  a list of grids, each overriding the keys above
store: a JSON-lines file; a case's key is the sha256 of its parameters, the model file's content,
the library version and the certificate policy, so a changed model file is counted afresh.
"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    try:
        check_seconds("seconds", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, {MAX_SECONDS:.0e}]") from None
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
        check_workers(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of worker processes from 1 to 1024") from None
    return value


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "sweep", help="run a grid of counts on Dask (resumable)",
        description="Expand SPEC into cases and count the laws of each (lie.count_laws) with dask.distributed.\n"
                    "Results are appended to a JSON-lines store as they finish; a rerun skips the cases\n"
                    "already there. Exit codes: 0 every case ok, 1 some case failed or timed out, 2 bad input\n"
                    "(one line on stderr; also a JSON object on stdout with --json), 130 interrupted.\n\n"
                    + SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  conservation-laws sweep grid.yaml                      # LocalCluster, one worker per core\n"
               "  conservation-laws sweep grid.yaml --workers 2 --case-timeout 60 --case-memory 2GB\n"
               "  conservation-laws sweep grid.yaml --scheduler tcp://10.0.0.5:8786 --scheduler-timeout 5\n"
               "  conservation-laws sweep grid.yaml --dry-run            # list the cases, compute nothing")
    p.add_argument("spec", help="grid spec file (.yaml, .yml or .json; keys above)")
    p.add_argument("--store", help="results file (JSON lines, a regular file); default: SPEC with suffix .results.jsonl")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of a LocalCluster")
    p.add_argument("--scheduler-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="how long to wait for the scheduler to answer before giving up (default 10)")
    p.add_argument("--workers", type=_workers, default=None,
                   help="LocalCluster worker processes, 1 to 1024 (default: the machine's cores)")
    p.add_argument("--case-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="time budget per case (finite, > 0); past it the case is recorded as 'timed out'")
    p.add_argument("--case-memory", default=None, metavar="SIZE",
                   help="memory limit per LocalCluster worker (one case at a time), e.g. 2GB")
    p.add_argument("--retry-failed", action="store_true", help="recompute cases stored as failed")
    p.add_argument("--dry-run", action="store_true", help="print the cases and how many are stored; compute nothing")
    p.add_argument("--json", action="store_true", help="print every result as one JSON line on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_sweep_command, handler=run_sweep_command)
    return p


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the ``sweep`` subcommand. Exit status: 0 all ok, 1 some case failed or timed out; bad input
    raises ``ConservationLawsError`` (the command line prints it in one line, exit 2)."""
    spec = load_spec(args.spec)
    cases = expand_spec(spec)  # every case validated before anything is created
    store_path = Path(args.store) if args.store else Path(args.spec).with_suffix(".results.jsonl")
    store = ResultStore(store_path).check()
    check_memory(args.case_memory)
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    if args.workers is not None:
        check_workers(args.workers)
    if args.dry_run:
        stored = store.load()
        version = _version()
        n_stored = 0
        for c in cases:
            key = case_key(c, version)
            hit = key in stored
            n_stored += hit
            print(json.dumps({"key": key, "stored": stored[key]["status"] if hit else None, "case": c}))
        print(f"{len(cases)} cases, {n_stored} in {store_path}{_skipped_note(store)}", file=sys.stderr)
        return 0
    if args.scheduler and args.case_memory:
        print("note: --case-memory applies to a LocalCluster only; start the workers with "
              "`dask worker ... --memory-limit SIZE`", file=sys.stderr)
    if not cases:
        raise invalid("spec", args.spec, "a spec with at least one case")
    results = run_sweep(spec, store, workers=args.workers or machine_workers(), case_timeout=args.case_timeout,
                        progress=not args.no_progress, scheduler=args.scheduler, case_memory=args.case_memory,
                        retry_failed=args.retry_failed, scheduler_timeout=args.scheduler_timeout)
    s = summarize(results)
    if args.json:
        for r in results:
            print(json.dumps(r, sort_keys=True, default=str))
    name = spec.get("name", Path(args.spec).stem)
    line = (f"sweep {name}: {s['total']} cases, {s['ok']} ok, {s['failed']} failed, {s['timed out']} timed out "
            f"({s['computed']} computed now, {s['reused']} reused); store: {store_path}{_skipped_note(store)}")
    print(line, file=sys.stderr if args.json else sys.stdout)
    for r in results:
        if r["status"] != "ok":
            print(f"  {r['status']}: {json.dumps(r['case'])}: {r['error']}", file=sys.stderr)
    return 0 if s["ok"] == s["total"] else 1


def _skipped_note(store: ResultStore) -> str:
    parts = []
    if store.skipped_lines:
        parts.append(f"{store.skipped_lines} corrupt line(s) skipped")
    if store.truncated_tail:
        parts.append("a cut last line dropped")
    return f" ({'; '.join(parts)})" if parts else ""
