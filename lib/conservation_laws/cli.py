"""The command line: ``conservation-laws count`` and ``conservation-laws laws``.

    conservation-laws count --model linear --dims 2,2,2 --flow momentum --tau 1 [--json]
    conservation-laws count --phi 'u1*v1 + u2*v2' --phi 'u1*v2'
    conservation-laws count --batch cases.jsonl --json
    conservation-laws laws --model linear --dims 2,2,2 --flow momentum --degree 2 [--latex]

``count`` prints the number of independent conservation laws N − K (``lie.count_laws``), ``laws``
the polynomial laws themselves and the completeness verdict (``laws.polynomial_laws``).

Exit codes: 0 success; 1 a batch in which at least one line failed (the other lines still ran), or
out of memory; 2 bad input (one line on stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from typing import Sequence

from . import __version__
from .errors import ConservationLawsError, invalid
from .flows import FLOW_GEOMETRIES, FLOW_NAMES, Flow
from .models import MAX_PARAMETERS, MODEL_NAMES, check_dims, make_model

PROG = "conservation-laws"
#: Largest number of model-map entries φ_i accepted (each one is a vector field of the family).
MAX_OUTPUTS = 20_000
#: Largest number of monomials of φ accepted (deep linear nets: one per path).
MAX_PHI_TERMS = 200_000
#: Keys a batch line may hold: the case, plus labels that are echoed back.
BATCH_KEYS = ("model", "dims", "flow", "tau", "bias", "geometry", "seed", "repeats", "phi")
BATCH_LABELS = ("id", "block")
EXIT_OK, EXIT_BATCH_FAILURES, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other bad input."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


# --- building a case ---------------------------------------------------------------------------
def _tau(value) -> Fraction:
    if isinstance(value, bool):
        raise invalid("tau", value, "a number ≥ 0")
    return Flow("momentum", value).tau  # validates (≥ 0, finite, a number)


def phi_size(model: str, dims: Sequence[int], bias: bool = False) -> tuple[int, int]:
    """(entries, monomials) of φ, computed from the widths before φ is built."""
    from math import prod

    if model in ("linear", "nmf"):
        entries = dims[0] * dims[-1]
        return entries, entries * prod(dims[1:-1])
    if model == "relu":
        paths = prod(dims)
        if bias:
            paths += sum(prod(dims[: l + 1]) for l in range(1, len(dims) - 1))
        return paths, paths
    if model == "icnn":
        entries = dims[0] * dims[1] * dims[2] + (dims[0] * dims[1] if bias else 0)
        return entries, entries
    return 1, 1


def build_case(model: str | None = None, dims=None, flow: str = "gradient", tau=0, bias: bool = False,
               geometry: str | None = None, seed: int = 0, repeats: int = 1, phi: Sequence[str] | None = None) -> dict:
    """Validate one case (from the options or a batch line) and return it normalised."""
    if phi is not None:
        if isinstance(phi, str):
            phi = [phi]
        if not isinstance(phi, (list, tuple)) or not phi or not all(isinstance(p, str) for p in phi):
            raise invalid("phi", phi, "one or more polynomials as strings, e.g. 'u1*v1 + u2*v2'")
        if model not in (None, "polynomial") or dims is not None:
            raise invalid("phi", list(phi), "a user model replaces --model/--dims: give one or the other")
        if bias:
            raise invalid("bias", bias, "biases exist for relu and icnn only, not for a user model")
        model, dims = "polynomial", None
    else:
        if model is None:
            raise invalid("model", model, f"one of {', '.join(m for m in MODEL_NAMES if m != 'polynomial')} "
                          "(or a user model with --phi)")
        if model not in MODEL_NAMES:
            raise invalid("model", model, f"one of {', '.join(MODEL_NAMES)}")
        if model == "polynomial":
            raise invalid("model", model, "a user model needs --phi 'polynomial' (repeatable)")
        if dims is None:
            raise invalid("dims", dims, "the widths are required, e.g. --dims 2,3,2 (output first, input last)")
        dims = list(check_dims(dims, 1))
    if flow not in FLOW_NAMES:
        raise invalid("flow", flow, f"one of {', '.join(FLOW_NAMES)}")
    tau = _tau(tau)
    if not isinstance(bias, bool):
        raise invalid("bias", bias, "true or false")
    if bias and model not in ("relu", "icnn"):
        raise invalid("bias", bias, "biases exist for relu and icnn only")
    if geometry is not None and geometry not in FLOW_GEOMETRIES:
        raise invalid("geometry", geometry, f"one of {', '.join(FLOW_GEOMETRIES)} (or omit it for the model's own)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 100:
        raise invalid("repeats", repeats, "an integer from 1 to 100")
    if dims is not None:
        entries, terms = phi_size(model, dims, bias)
        if entries > MAX_OUTPUTS or terms > MAX_PHI_TERMS:
            raise invalid("dims", dims, f"φ would have {entries} entries and {terms} monomials; at most {MAX_OUTPUTS} "
                          f"entries and {MAX_PHI_TERMS} monomials are supported")
    return {"model": model, "dims": dims, "phi": list(phi) if phi else None, "flow": flow, "tau": tau, "bias": bias,
            "geometry": geometry, "seed": seed, "repeats": repeats}


def _family(case: dict):
    from .flows import vector_fields

    model = make_model(case["model"], case["dims"], bias=case["bias"], phi=case["phi"])
    flow = Flow(case["flow"], case["tau"], case["geometry"])
    return model, vector_fields(model, flow)


def _number(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def count_case(case: dict) -> dict:
    """Run one validated case through the Lie engine; the record printed by ``count --json``."""
    from .lie import count_laws

    t0 = time.perf_counter()
    model, family = _family(case)
    res = count_laws(family, seed=case["seed"], repeats=case["repeats"])
    out = {"model": case["model"], "dims": case["dims"]}
    if case["phi"]:
        out["phi"] = case["phi"]
        out["variables"] = list(model.variable_names)
    out.update({"flow": case["flow"], "tau": _number(case["tau"]), "bias": case["bias"], "geometry": family.geometry,
                "parameters": model.D, "seed": case["seed"]})
    out.update(res.as_dict())
    out["seconds"] = time.perf_counter() - t0  # the whole case: model, fields and rank
    out["rank_seconds"] = res.seconds
    return out


def _describe(case: dict, geometry: str) -> str:
    if case["phi"]:
        what = "φ = (" + ", ".join(case["phi"]) + ")"
    else:
        what = f"{case['model']} {case['dims']}" + (" + bias" if case["bias"] else "")
    return f"{what}, {Flow(case['flow'], case['tau']).describe()}, {geometry} geometry"


def format_count(rec: dict, case: dict) -> str:
    n, k, laws = rec["dimension"], rec["rank"], rec["laws"]
    word = "law" if laws == 1 else "laws"
    return (f"{_describe(case, rec['geometry'])}:\n"
            f"  {laws} independent conservation {word}  (N = {n} coordinates, K = dim Lie(W)(ξ0) = {k})\n"
            f"  exact rank mod p = {rec['prime']} at a random point, bracket depth {rec['depth']}, "
            f"{rec['repeats']} run(s); N − K is an upper bound, and it is the exact count except with probability "
            f"≤ {rec['failure_bound']:.2g} (Schwartz–Zippel)\n"
            f"  {rec['seconds']:.3f} s")


# --- subcommands -------------------------------------------------------------------------------
def _case_from_args(args) -> dict:
    return build_case(model=args.model, dims=args.dims, flow=args.flow, tau=args.tau, bias=args.bias,
                      geometry=args.geometry, seed=args.seed, repeats=getattr(args, "repeats", 1), phi=args.phi)


def _cmd_count(args) -> int:
    if args.batch is not None:
        if args.model or args.dims or args.phi:
            raise invalid("batch", args.batch, "--batch takes every case from the file: drop --model/--dims/--phi")
        return _run_batch(args.batch, as_json=args.json, progress=not args.no_progress)
    case = _case_from_args(args)
    rec = count_case(case)
    print(json.dumps(rec) if args.json else format_count(rec, case))
    return EXIT_OK


def _parse_batch_line(text: str) -> tuple[dict, dict]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConservationLawsError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ConservationLawsError("expected a JSON object such as {\"model\": \"linear\", \"dims\": [2,2,2], "
                                    "\"flow\": \"gradient\"}")
    unknown = sorted(set(obj) - set(BATCH_KEYS) - set(BATCH_LABELS))
    if unknown:
        raise ConservationLawsError(f"unknown key(s) {unknown}; allowed: {list(BATCH_KEYS + BATCH_LABELS)}")
    labels = {k: obj[k] for k in BATCH_LABELS if k in obj}
    args = {k: obj[k] for k in BATCH_KEYS if k in obj and obj[k] is not None}
    if "dims" in args and isinstance(args["dims"], (int, float)) and not isinstance(args["dims"], bool):
        args["dims"] = [args["dims"]]
    return build_case(**args), labels


def _run_batch(path: str, as_json: bool, progress: bool) -> int:
    from tqdm import tqdm

    try:
        if path == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid("batch", path, f"a readable UTF-8 file of JSON lines ({exc.__class__.__name__}: "
                      f"{getattr(exc, 'strerror', None) or exc})") from None
    jobs = [(i + 1, t) for i, t in enumerate(lines) if t.strip() and not t.lstrip().startswith("#")]
    failures = 0
    bar = tqdm(jobs, desc="count", unit="case", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for lineno, text in bar:
        try:
            case, labels = _parse_batch_line(text)
            rec = {"line": lineno, **labels, **count_case(case)}
            line_out = json.dumps(rec) if as_json else f"line {lineno}: " + format_count(rec, case)
        except ConservationLawsError as exc:
            failures += 1
            msg = _one_line(exc)
            tqdm.write(f"{PROG}: line {lineno}: {msg}", file=sys.stderr)
            line_out = json.dumps({"line": lineno, "error": msg}) if as_json else f"line {lineno}: error: {msg}"
        except (ArithmeticError, MemoryError, RecursionError, TypeError, ValueError) as exc:
            failures += 1
            msg = _one_line(f"{exc.__class__.__name__}: {exc}")
            tqdm.write(f"{PROG}: line {lineno}: {msg}", file=sys.stderr)
            line_out = json.dumps({"line": lineno, "error": msg}) if as_json else f"line {lineno}: error: {msg}"
        print(line_out, flush=True)
    bar.close()
    if failures:
        print(f"{PROG}: {failures} of {len(jobs)} batch line(s) failed (exit code {EXIT_BATCH_FAILURES})", file=sys.stderr)
        return EXIT_BATCH_FAILURES
    return EXIT_OK


def _cmd_laws(args) -> int:
    from .laws import polynomial_laws

    case = _case_from_args(args)
    model, family = _family(case)
    res = polynomial_laws(family, degree=args.degree, time_degree=args.time_degree, seed=case["seed"])
    exprs = res.in_time()
    texts = res.latex() if args.latex else [str(e) for e in exprs]
    if args.json:
        print(json.dumps({
            "model": case["model"], "dims": case["dims"], "phi": case["phi"], "flow": case["flow"],
            "tau": _number(case["tau"]), "bias": case["bias"], "geometry": family.geometry, "degree": res.degree,
            "time_degree": res.time_degree, "laws": [str(e) for e in exprs], "latex": res.latex(),
            "found": len(res.laws), "independent": res.independent, "upper_bound": res.upper_bound,
            "complete": res.complete, "verified": res.verified, "verdict": res.verdict(), "seconds": res.seconds,
            "prime": res.lie.prime, "failure_bound": res.lie.failure_bound,
        }))
        return EXIT_OK
    time_note = ""
    if family.flow.time_variable:
        time_note = f", times powers of the time up to {res.time_degree}"
    print(f"{_describe(case, family.geometry)}: polynomial laws of degree ≤ {res.degree}{time_note}")
    if not texts:
        print("  (none)")
    for i, t in enumerate(texts, 1):
        print(f"  h{i} = {t}")
    print(res.verdict())
    return EXIT_OK


# --- argument parsing --------------------------------------------------------------------------
def _add_case_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the model (either --model and --dims, or --phi)")
    g.add_argument("--model", choices=[m for m in MODEL_NAMES if m != "polynomial"],
                   help="linear, relu, nmf, icnn or product (the toy φ = x1⋯xD)")
    g.add_argument("--dims", help="comma-separated widths, output first and input last, e.g. 2,3,2 "
                   f"(product: D); at most {MAX_PARAMETERS} parameters, {MAX_OUTPUTS} entries of φ")
    g.add_argument("--bias", action="store_true", help="hidden biases (relu, icnn)")
    g.add_argument("--phi", action="append", metavar="POLY",
                   help="a user model: one entry of φ as a polynomial (repeatable), e.g. --phi 'u1*v1 + u2*v2'; "
                        "numbers, names like u1 or U[0,1], + - * ^, division by numbers, parentheses")
    f = p.add_argument_group("the flow")
    f.add_argument("--flow", default="gradient", choices=list(FLOW_NAMES),
                   help="gradient (the model's own metric), heavy-ball momentum, Nesterov (τ = 3/t), or natural "
                        "(θ' = −M Jᵀ(J M Jᵀ)⁺∇f, J = ∂φ; no friction); default gradient")
    f.add_argument("--tau", default="0", help="friction τ ≥ 0 of heavy-ball momentum (e.g. 1, 0.5 or 1/2); default 0")
    f.add_argument("--geometry", choices=list(FLOW_GEOMETRIES),
                   help="override the metric (default: euclidean for linear/relu/product, mirror for nmf, mixed for "
                        "icnn); mirror-position / mixed-position evaluate it at θ only under momentum (the "
                        "authors' ICNN_momentum)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random prime and point (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object (per case)")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Count and list the conservation laws of gradient, mirror and momentum "
                     "flows (Marcotte, Gribonval, Peyré, ICML 2024).",
                     epilog="Exit codes: 0 success, 1 some batch lines failed, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{count,laws,sweep}", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("count", help="the number of independent laws N − K (exact rank mod p)",
                       description="The number of independent conservation laws N − K, K = dim Lie(W)(ξ0) at a "
                       "random point ξ0 of F_p (exact rank; N − K is always an upper bound, exact except with "
                       "probability ≤ failure_bound).",
                       epilog="Batch: FILE holds one JSON object per line with keys model, dims, flow and optional "
                       "tau, bias, geometry, seed, repeats, phi (labels id, block are echoed). Blank lines and lines "
                       "starting with # are skipped. One output line per case, in order; a bad line gives "
                       '{"line": n, "error": ...} and a message on stderr, the batch goes on; exit code 1 if any '
                       "line failed, 0 otherwise.")
    _add_case_options(c)
    c.add_argument("--repeats", type=int, default=1, help="independent reruns (keep the largest rank; the failure "
                   "bounds multiply); default 1")
    c.add_argument("--batch", metavar="FILE", help="run every case of a JSON-lines FILE ('-' for stdin)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar on stderr in batch mode")
    c.set_defaults(func=_cmd_count)

    l = sub.add_parser("laws", help="every polynomial law up to a degree, with a completeness verdict",
                       description="Every polynomial law of degree ≤ DEGREE (exact, verified), in the model's names, "
                       "then whether they are complete: as many independent laws as the Lie count N − K allows.")
    _add_case_options(l)
    l.add_argument("--degree", type=int, default=2, help="largest degree in θ (and v); default 2")
    l.add_argument("--time-degree", type=int, default=None,
                   help="largest power of the time variable (default 1 for s = e^{τt}, 3 for Nesterov's t)")
    l.add_argument("--latex", action="store_true", help="print the laws in LaTeX")
    l.set_defaults(func=_cmd_laws)
    from .sweep import add_sweep_parser  # `sweep`: a grid of counts on Dask (lib/conservation_laws/sweep.py)

    add_sweep_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConservationLawsError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print(f"{PROG}: error: out of memory (try smaller widths or a lower degree)", file=sys.stderr)
        return EXIT_BATCH_FAILURES
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
