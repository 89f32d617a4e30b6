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

from .._version import __version__
from .cases import MAX_OUTPUTS, MAX_PHI_TERMS, Case, make_case, phi_size  # noqa: F401 (phi_size: API)
from ..errors import ConservationLawsError, invalid
from ..flows import FLOW_GEOMETRIES, FLOW_NAMES, Flow
from ..models import BLOCK_MODELS, GEOMETRIES, MAX_PARAMETERS, MODEL_NAMES, MODEL_OPTIONS, make_model

PROG = "conservation-laws"
#: Keys a batch line may hold: the case, plus labels that are echoed back.
BATCH_KEYS = ("model", "dims", "flow", "tau", "bias", "geometry", "seed", "repeats", "phi", "weight_decay",
              "options", "spec")
BATCH_LABELS = ("id", "block")
EXIT_OK, EXIT_BATCH_FAILURES, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other bad input."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def parse_options(pairs: Sequence[str] | None) -> dict:
    """``--option KEY=VALUE`` pairs as model keyword options: integers, comma lists of integers, or text."""
    out = {}
    for pair in pairs or []:
        key, eq, value = str(pair).partition("=")
        if not eq or not key.strip() or not value.strip():
            raise invalid("option", pair, "KEY=VALUE, e.g. --option heads=2 (see --help for each model's options)")
        parts = [v.strip() for v in value.split(",")]
        if all(p.lstrip("-").isdigit() for p in parts):
            out[key.strip()] = int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]
        else:
            out[key.strip()] = value.strip()
    return out


def _number(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def count_case(case: Case, prove: bool = False) -> dict:
    """Run one validated case through the Lie engine; the record printed by ``count --json``.
    With ``prove``, ``darboux.prove_count`` then tries to exhibit N − K laws (polynomial of degree ≤ 2,
    then logarithmic), which turns a probabilistic count into a proved one when it succeeds."""
    from ..engine.lie import count_laws

    t0 = time.perf_counter()
    family = case.family()
    model = family.model
    res = count_laws(family, seed=case.seed, repeats=case.repeats)
    if prove:
        from ..engine.darboux import prove_count

        prove_count(family, lie=res, seed=case.seed)
    out = {"model": case.model, "dims": list(case.dims) if case.dims else None}
    if case.phi:
        out["phi"] = list(case.phi)
        out["variables"] = list(model.variable_names)
    if case.options:
        out["options"] = dict(case.options)
    if case.spec:
        out["spec"] = case.spec
    out.update({"flow": case.flow, "tau": _number(case.tau), "bias": case.bias, "geometry": family.geometry,
                "parameters": model.D, "seed": case.seed})
    if case.weight_decay:  # weight decay λ: the time coordinate and the damping regime of the lift
        out.update({"weight_decay": _number(case.weight_decay), "time_variable": family.flow.time_variable})
        if family.flow.regime:
            out["regime"] = family.flow.regime
    out.update(res.as_dict())
    out["seconds"] = time.perf_counter() - t0  # the whole case: model, fields and rank
    out["rank_seconds"] = res.seconds
    return out


def _describe(case: Case, geometry: str) -> str:
    metric = f"{geometry} geometry"
    if case.spec:
        what = f"model file {case.spec}"
        metric = "the file's metric" if geometry == "mixed" else metric
    elif case.model in BLOCK_MODELS:
        what = make_model(case.model, list(case.dims), **dict(case.options)).describe()
    elif case.phi:
        what = "φ = (" + ", ".join(case.phi) + ")"
    else:
        what = f"{case.model} {list(case.dims)}" + (" + bias" if case.bias else "")
    return f"{what}, {case.build_flow().describe()}, {metric}"


def certificate_line(rec: dict) -> str:
    """How sure the count is, in words: proved (how), probabilistic (the proved bound) or upper bound only."""
    cert, how = rec.get("certificate"), rec.get("certificate_how", "")
    if cert == "proved":
        return f"certificate: proved ({how})"
    if cert == "probabilistic":
        return (f"certificate: probabilistic: N − K is an upper bound, and the exact count except with probability "
                f"≤ {rec['failure_bound']:.2g} (proved bound; {how})")
    return f"certificate: upper bound only: the number of laws is at most N − K ({how})"


def format_count(rec: dict, case: Case) -> str:
    n, k, laws = rec["dimension"], rec["rank"], rec["laws"]
    word = "law" if laws == 1 else "laws"
    return (f"{_describe(case, rec['geometry'])}:\n"
            f"  {laws} independent conservation {word}  (N = {n} coordinates, K = dim Lie(W)(ξ0) = {k})\n"
            f"  exact rank mod p = {rec['prime']} at a random point, bracket depth {rec['depth']}, "
            f"{rec['repeats']} run(s)\n"
            f"  {certificate_line(rec)}\n"
            f"  {rec['seconds']:.3f} s")


# --- subcommands -------------------------------------------------------------------------------
def _case_from_args(args) -> Case:
    return make_case(model=args.model, dims=args.dims, flow=args.flow, tau=args.tau, bias=args.bias,
                      geometry=args.geometry, seed=args.seed, repeats=getattr(args, "repeats", 1), phi=args.phi,
                      weight_decay=args.weight_decay, options=parse_options(args.option), spec=args.spec)


def _cmd_count(args) -> int:
    if args.jax:  # a model written in JAX (interfaces/jax_file.py)
        from .jax_file import count_jax

        return count_jax(args, certificate_line)
    if args.numerical:
        raise invalid("numerical", True, "a path for a JAX model: give --jax FILE.py")
    if args.batch is not None:
        if args.model or args.dims or args.phi or args.spec or args.option:
            raise invalid("batch", args.batch, "--batch takes every case from the file: drop --model/--dims/--phi/--spec")
        return _run_batch(args.batch, as_json=args.json, progress=not args.no_progress, prove=args.prove)
    case = _case_from_args(args)
    rec = count_case(case, prove=args.prove)
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
    return make_case(**args), labels


def _run_batch(path: str, as_json: bool, progress: bool, prove: bool = False) -> int:
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
            rec = {"line": lineno, **labels, **count_case(case, prove=prove)}
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
    from ..engine.laws import polynomial_laws

    if args.jax:  # a model written in JAX (interfaces/jax_file.py)
        from .jax_file import laws_jax

        return laws_jax(args)
    case = _case_from_args(args)
    family = case.family()
    res = polynomial_laws(family, degree=args.degree, time_degree=args.time_degree, seed=case.seed)
    show = (lambda which: res.latex(which)) if args.latex else (lambda which: [str(e) for e in res.in_time(which)])
    basis, others = show("basis"), show("others")
    from ..engine.darboux import complete_laws  # logarithmic laws when the polynomial ones fall short

    extra = complete_laws(res) if family.flow.time_variable is None else None  # no time coordinate
    log_texts = [sympy_text(h.to_sympy(family.symbols), family, args.latex) for h in extra.log_laws] if extra else []
    abelian_texts = [h.describe() for h in extra.abelian_laws] if extra else []
    verdict = extra.verdict() if extra else res.verdict()
    if args.json:
        print(json.dumps({
            "model": case.model, "dims": list(case.dims) if case.dims else None,
            "phi": list(case.phi) if case.phi else None, "flow": case.flow,
            "tau": _number(case.tau), "weight_decay": _number(case.weight_decay), "regime": family.flow.regime,
            "bias": case.bias, "geometry": family.geometry, "degree": res.degree,
            "time_degree": res.time_degree, "laws": [str(e) for e in res.in_time()], "latex": res.latex(),
            "basis": [str(e) for e in res.in_time("basis")], "basis_latex": res.latex("basis"),
            "others": [str(e) for e in res.in_time("others")], "others_latex": res.latex("others"),
            "basis_statement": res.basis_statement(),
            "found": len(res.laws), "independent": res.independent, "upper_bound": res.upper_bound,
            "complete": res.complete or bool(extra and extra.complete), "verified": res.verified,
            "verdict": verdict, "log_laws": log_texts, "abelian_laws": [" ".join(t) for t in abelian_texts],
            "certificate": res.lie.certificate, "seconds": res.seconds,
            "unknowns": res.unknowns, "solver": res.stats,
            "prime": res.lie.prime, "failure_bound": res.lie.failure_bound,
        }))
        return EXIT_OK
    time_note = ""
    if family.flow.time_variable:
        time_note = f", times powers of the time up to {res.time_degree}"
    print(f"{_describe(case, family.geometry)}: polynomial laws of degree ≤ {res.degree}{time_note}")
    if not basis and not log_texts and not abelian_texts:
        print("  (none)")
    elif basis:
        word = "law" if len(basis) == 1 else "laws"
        print(f"  a minimal basis: {len(basis)} functionally independent {word} of least degree")
    for i, t in enumerate(basis, 1):
        print(f"  h{i} = {t}")
    if basis:
        print(f"  {res.basis_statement()}")
    if others and args.all:
        print(f"  the other {len(others)} law(s) found, functions of the basis:")
        for i, t in enumerate(others, len(basis) + 1):
            print(f"  h{i} = {t}")
    elif others:
        print(f"  (--all lists the other {len(others)})")
    if log_texts:
        print(f"  {len(log_texts)} logarithmic law(s), exactly verified:")
    for i, t in enumerate(log_texts, len(basis) + 1):
        print(f"  h{i} = {t}")
    if abelian_texts:
        print(f"  {len(abelian_texts)} Abelian-integral law(s) (hyperelliptic), exactly verified:")
    for i, lines in enumerate(abelian_texts, len(basis) + len(log_texts) + 1):
        print(f"  h{i} = {lines[0]}")
        for line in lines[1:]:
            print(f"       {line}")
    print(verdict)
    return EXIT_OK


def sympy_text(expr, family, latex: bool) -> str:
    """One law as text or LaTeX in the family's names."""
    import sympy

    return sympy.latex(expr, symbol_names=family.latex_names()) if latex else str(expr)


# --- argument parsing --------------------------------------------------------------------------
def _add_case_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the model (either --model and --dims, or --phi)")
    g.add_argument("--model", choices=[m for m in MODEL_NAMES if m not in ("polynomial", "spec")],
                   help="linear, relu, nmf, icnn or product (the toy φ = x1⋯xD); the follow-up paper's blocks "
                   "attention, conv1d, conv2d, softmax, residual, transformer take --option (listed below)")
    g.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a model option (repeatable), e.g. --option heads=2 --option head_width=3; lists as 3,3")
    g.add_argument("--spec", metavar="FILE", help="a model file (YAML: blocks, phi, metric; see the README)")
    g.add_argument("--jax", metavar="FILE.py", help="a model written in JAX: FILE.py defines apply(params, x), "
                   "params (a pytree: names and shapes) and input_shape; φ is read from the program")
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
    f.add_argument("--weight-decay", default="0", metavar="LAMBDA",
                   help="weight decay λ ≥ 0 (θ' = −∇E − λθ; θ'' + τθ' + λθ = −∇E), with gradient, momentum or nesterov; "
                        "default 0")
    f.add_argument("--geometry", choices=list(FLOW_GEOMETRIES),
                   help="override the metric (default: euclidean for linear/relu/product and the blocks, mirror for "
                        "nmf, mixed for icnn and for a model file, where it is the file's per-block metric); "
                        "mirror-position / mixed-position evaluate it at θ only under momentum (the authors' "
                        "ICNN_momentum)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random prime and point (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object (per case)")


def _model_options_help() -> str:
    """One sentence per block model: its dims and options (from models.MODEL_OPTIONS)."""
    dims = {"attention": "d_out,dim or dim", "conv1d": "c2,c1,c0", "conv2d": "c2,c1,c0", "softmax": "n,m",
            "residual": "width,h1,...,hq", "transformer": "width"}
    parts = []
    for name, opts in MODEL_OPTIONS.items():
        keys = "; ".join(f"{k}: {v}" for k, v in opts.items()) or "no options"
        parts.append(f"{name} (--dims {dims[name]}): {keys}.")
    return "Model options: " + " ".join(parts)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Count and list the conservation laws of gradient, mirror and momentum "
                     "flows (Marcotte, Gribonval, Peyré, ICML 2024).",
                     epilog="Exit codes: 0 success, 1 some batch lines failed, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{count,laws,sweep}", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("count", help="the number of independent laws N − K (exact rank mod p)",
                       description="The number of independent conservation laws N − K, K = dim Lie(W)(ξ0) at a "
                       "random point ξ0 of F_p (exact rank; N − K is always an upper bound). The certificate says "
                       "how sure the count is: proved (full rank), probabilistic (with a proved bound on the failure "
                       "probability) or upper bound only.",
                       epilog=_model_options_help() + " Batch: FILE holds one JSON object per line with keys model, "
                       "dims, flow and optional tau, weight_decay, bias, geometry, seed, repeats, phi, options (an object), "
                       "spec (labels id, block are echoed). Blank lines and lines "
                       "starting with # are skipped. One output line per case, in order; a bad line gives "
                       '{"line": n, "error": ...} and a message on stderr, the batch goes on; exit code 1 if any '
                       "line failed, 0 otherwise.")
    _add_case_options(c)
    c.add_argument("--repeats", type=int, default=1, help="independent runs (keep the largest rank; the kept run is "
                   "then checked until its proved failure bound is ≤ 1e-9); default 1")
    c.add_argument("--prove", action="store_true", help="then try to prove the count by exhibiting N − K exactly "
                   "verified laws (polynomial of degree ≤ 2, then logarithmic): certificate proved when it succeeds")
    c.add_argument("--numerical", action="store_true", help="with --jax: count numerically (any JAX program, "
                   "e.g. softmax or tanh; gradient flow or heavy ball): certificate numerical, with the gap "
                   "and the input saturation")
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
    l.add_argument("--all", action="store_true", help="also list the laws outside the minimal basis (functions of it)")
    l.set_defaults(func=_cmd_laws)
    from .sweep import add_sweep_parser  # `sweep`: a grid of counts on Dask (interfaces/sweep/)

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
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
