"""The command line: ``conservation-laws count`` and ``conservation-laws laws``.

    conservation-laws count --model linear --dims 2,2,2 --flow momentum --tau 1 [--json]
    conservation-laws count --phi 'u1*v1 + u2*v2' --phi 'u1*v2'
    conservation-laws count --batch cases.jsonl --json
    conservation-laws laws --model linear --dims 2,2,2 --flow momentum --degree 2 [--latex]

``count`` prints the number of independent conservation laws N − K (``lie.count_laws``), ``laws``
the polynomial laws themselves and the completeness verdict (``laws.polynomial_laws``).

Exit codes: 0 success; 1 a batch in which at least one line failed (the other lines still ran), or
an internal error (a bug, reported in one line too);
2 bad input, a model too large for memory or an output that cannot be written (one line on stderr,
``conservation-laws <command>: error: …``, and with ``--json`` also a JSON object on stdout; never a
traceback); 130 interrupted. Every error of the command line goes through ``main``'s one error path.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from fractions import Fraction
from typing import Sequence

from .._version import __version__
from .cases import MAX_OUTPUTS, MAX_PHI_TERMS, MAX_REPEATS, MAX_SEED, Case, case_record, json_number, make_case
from .cases import phi_size  # noqa: F401 (API)
from ..errors import MAX_FILE_BYTES, ConservationLawsError, invalid
from ..flows import FLOW_GEOMETRIES, FLOW_NAMES, Flow
from ..models import BLOCK_MODELS, GEOMETRIES, MODEL_NAMES, MODEL_OPTIONS, make_model

PROG = "conservation-laws"
#: Keys a batch line may hold: the case, plus labels that are echoed back.
BATCH_KEYS = ("model", "dims", "flow", "tau", "bias", "geometry", "seed", "repeats", "phi", "weight_decay",
              "options", "spec")
BATCH_LABELS = ("id", "block")
EXIT_OK, EXIT_BATCH_FAILURES, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


#: Case options of ``count``/``laws`` that a batch line gives itself (refused beside --batch).
CASE_OPTIONS = ("model", "dims", "phi", "spec", "option", "bias", "flow", "tau", "weight_decay", "geometry",
                "seed", "repeats")


class UsageError(Exception):
    """A command-line mistake found by argparse; ``main`` prints it like every other error."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse whose errors go through ``main``'s one error path (one line, exit 2)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(self.prog, f"{_one_line(message)} (see --help)")


def _int_option(name: str, low: int, high: int, what: str):
    """An argparse type: an integer from ``low`` to ``high`` (no NaN, no float, no 10**1000)."""
    def parse(text: str) -> int:
        t = text.strip()
        if not (t.lstrip("+-").isdigit() and len(t) <= 25) or not low <= int(t) <= high:
            raise argparse.ArgumentTypeError(f"{_short(text)!r} is not {what}: an integer from {low} to {high}")
        return int(t)

    parse.__name__ = name
    return parse


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


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


def count_case(case: Case, prove: bool = False, max_depth: int = 64, prime: int | None = None) -> dict:
    """Run one validated case through the Lie engine; the record printed by ``count --json``.
    With ``prove``, ``darboux.prove_count`` then tries to exhibit N − K laws (polynomial of degree ≤ 2,
    then logarithmic), which turns a probabilistic count into a proved one when it succeeds."""
    from ..engine.lie import count_laws

    t0 = time.perf_counter()
    family = case.family()
    model = family.model
    res = count_laws(family, seed=case.seed, repeats=case.repeats, max_depth=max_depth, prime=prime)
    if prove:
        from ..engine.darboux import prove_count

        res = prove_count(family, lie=res, seed=case.seed)  # a proved copy when the laws prove it
    out = case_record(case.model, case.dims, case.phi, model.variable_names if case.phi else None, case.options,
                      case.spec, case.flow, case.tau, case.bias, family.geometry, model.D, case.seed,
                      case.weight_decay, family.flow.time_variable, family.flow.regime)
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
    head = f"{_describe(case, rec['geometry'])}:"
    if len(head) > 300:  # a long user model: its start is enough to recognise it
        head = head[:297] + "…:"
    return (f"{head}\n"
            f"  {laws} independent conservation {word}  (N = {n} coordinates, K = dim Lie(W)(ξ0) = {k})\n"
            f"  exact rank mod p = {rec['prime']} at a random point, bracket depth {rec['depth']}, "
            f"{rec['repeats']} run(s)\n"
            f"  {certificate_line(rec)}\n"
            f"  {rec['seconds']:.3f} s")


# --- subcommands -------------------------------------------------------------------------------
def _case_from_args(args) -> Case:
    return make_case(model=args.model, dims=args.dims, flow=args.flow or "gradient", tau=_or(args.tau, "0"),
                     bias=bool(args.bias), geometry=args.geometry, seed=_or(args.seed, 0),
                     repeats=_or(getattr(args, "repeats", None), 1), phi=args.phi,
                     weight_decay=_or(args.weight_decay, "0"), options=parse_options(args.option), spec=args.spec)


def _or(value, default):
    return default if value is None else value


def _cmd_count(args) -> int:
    if args.jax:  # a model written in JAX (interfaces/jax_file.py)
        from .jax_file import count_jax

        return count_jax(args, certificate_line)
    if args.numerical:
        raise invalid("numerical", True, "a path for a JAX model: give --jax FILE.py")
    if args.batch is not None:
        given = [o for o in CASE_OPTIONS if getattr(args, o, None) not in (None, False)]
        if given:
            flags = ", ".join("--" + o.replace("_", "-") for o in given)
            raise invalid("batch", args.batch, f"--batch takes every case from the file, so {flags} would be "
                          "ignored: put it in each line instead (keys model, dims, flow, tau, weight_decay, seed, ...)")
        return _run_batch(args.batch, as_json=args.json, progress=not args.no_progress, prove=args.prove,
                          max_depth=args.max_depth, prime=args.prime)
    case = _case_from_args(args)
    rec = count_case(case, prove=args.prove, max_depth=args.max_depth, prime=args.prime)
    print(json.dumps(rec) if args.json else format_count(rec, case))
    return EXIT_OK


def _batch_object(text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConservationLawsError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ConservationLawsError("not a JSON object of case keys (it nests too deeply)") from None
    if not isinstance(obj, dict):
        raise ConservationLawsError("expected a JSON object such as {\"model\": \"linear\", \"dims\": [2,2,2], "
                                    "\"flow\": \"gradient\"}")
    return obj


def _parse_batch_line(text: str) -> tuple[Case, dict]:
    obj = _batch_object(text)
    return _case_of(obj), _labels(obj)


def _labels(obj: dict) -> dict:
    return {k: obj[k] for k in BATCH_LABELS if k in obj}


def _case_of(obj: dict) -> Case:
    unknown = sorted(set(obj) - set(BATCH_KEYS) - set(BATCH_LABELS), key=str)
    if unknown:
        raise ConservationLawsError(f"unknown key(s) {[_short(str(k)) for k in unknown]}; allowed: "
                                    f"{list(BATCH_KEYS + BATCH_LABELS)}")
    args = {k: obj[k] for k in BATCH_KEYS if k in obj and obj[k] is not None}
    if "dims" in args and isinstance(args["dims"], (int, float)) and not isinstance(args["dims"], bool):
        args["dims"] = [args["dims"]]
    return make_case(**args)


def _label_text(labels: dict) -> str:
    return "".join(f" ({k} {_short(json.dumps(v))})" for k, v in labels.items())


def _read_batch(path: str) -> list[str]:
    from ..errors import read_text

    if path == "-":
        if sys.stdin is None:
            raise invalid("batch", path, "JSON lines on the standard input, which is closed")
        try:
            text = sys.stdin.read(MAX_FILE_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise invalid("batch", path, f"UTF-8 JSON lines on the standard input ({exc.__class__.__name__})") from None
        if len(text) > MAX_FILE_BYTES:
            raise invalid("batch", path, f"at most {MAX_FILE_BYTES >> 20} MiB of JSON lines")
    else:
        text = read_text(path, "batch", "a readable UTF-8 file of JSON lines")
    return text.splitlines()


class _NoBar(list):
    """What ``_run_batch`` uses of tqdm when there is no bar (start-up: tqdm is not imported)."""

    @staticmethod
    def write(text: str, file=None) -> None:
        print(text, file=file)

    def close(self) -> None:
        pass


def _run_batch(path: str, as_json: bool, progress: bool, prove: bool = False, max_depth: int = 64,
               prime: int | None = None) -> int:
    if progress:
        from tqdm import tqdm
    else:
        def tqdm(jobs, **_):
            return _NoBar(jobs)

        tqdm.write = _NoBar.write

    lines = _read_batch(path)
    jobs = [(i + 1, t) for i, t in enumerate(lines) if t.strip() and not t.lstrip().startswith("#")]
    if not jobs:
        raise invalid("batch", path, "one JSON object per line (blank lines and # comments aside); it holds no case")
    failures = 0
    bar = tqdm(jobs, desc="count", unit="case", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for lineno, text in bar:
        labels: dict = {}
        try:
            obj = _batch_object(text)
            labels = _labels(obj)
            case = _case_of(obj)
            rec = {"line": lineno, **labels, **count_case(case, prove=prove, max_depth=max_depth, prime=prime)}
            line_out = (json.dumps(rec) if as_json
                        else f"line {lineno}{_label_text(labels)}: " + format_count(rec, case))
        except (ConservationLawsError, ArithmeticError, MemoryError, RecursionError, TypeError, ValueError) as exc:
            failures += 1
            msg = error_text(exc)
            tqdm.write(f"{PROG} count: line {lineno}{_label_text(labels)}: error: {msg}", file=sys.stderr)
            line_out = (json.dumps({"line": lineno, **labels, "error": msg}) if as_json
                        else f"line {lineno}{_label_text(labels)}: error: {msg}")
        print(line_out, flush=True)
    bar.close()
    if failures:
        print(f"{PROG} count: {failures} of {len(jobs)} batch line(s) failed (exit code {EXIT_BATCH_FAILURES})",
              file=sys.stderr)
        return EXIT_BATCH_FAILURES
    return EXIT_OK


def error_text(exc: BaseException) -> str:
    """Any error as one line: bad input as the library words it, the rest named and explained."""
    if isinstance(exc, ConservationLawsError):
        text = str(exc)
    elif isinstance(exc, RecursionError):
        text = ("the input is too large or nests too deeply for this version to build "
                "(RecursionError); try a smaller model")
    elif isinstance(exc, MemoryError):
        text = "out of memory (try smaller widths or a lower degree)"
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    text = _one_line(text)
    return text if len(text) <= 1000 else text[:1000] + "…"


def _cmd_laws(args) -> int:
    from ..engine.laws import polynomial_laws

    if args.jax:  # a model written in JAX (interfaces/jax_file.py)
        from .jax_file import laws_jax

        return laws_jax(args)
    case = _case_from_args(args)
    family = case.family()
    if args.time_degree is not None and family.flow.time_variable is None:
        raise invalid("--time-degree", args.time_degree, f"only for a flow with a time coordinate (heavy-ball "
                      f"momentum with τ > 0, Nesterov, or weight decay); {family.flow.describe()} has none")
    res = polynomial_laws(family, degree=args.degree, time_degree=args.time_degree, seed=case.seed)
    show = (lambda which: res.latex(which)) if args.latex else (lambda which: [str(e) for e in res.in_time(which)])
    basis, others = show("basis"), show("others")
    from ..engine.darboux import complete_laws  # logarithmic laws when the polynomial ones fall short

    extra = complete_laws(res) if family.flow.time_variable is None else None  # no time coordinate
    log_texts = [sympy_text(h.to_sympy(family.symbols), family, args.latex) for h in extra.log_laws] if extra else []
    abelian_texts = [h.describe() for h in extra.abelian_laws] if extra else []
    verdict = extra.verdict() if extra else res.verdict()
    lie = extra.lie if extra else res.lie  # the count, proved when the laws found prove it
    if args.json:
        print(json.dumps({
            "model": case.model, "dims": list(case.dims) if case.dims else None,
            "phi": list(case.phi) if case.phi else None, "flow": case.flow,
            "tau": json_number(case.tau), "weight_decay": json_number(case.weight_decay), "regime": family.flow.regime,
            "bias": case.bias, "geometry": family.geometry, "degree": res.degree,
            "time_degree": res.time_degree, "laws": [str(e) for e in res.in_time()], "latex": res.latex(),
            "basis": [str(e) for e in res.in_time("basis")], "basis_latex": res.latex("basis"),
            "others": [str(e) for e in res.in_time("others")], "others_latex": res.latex("others"),
            "basis_statement": res.basis_statement(),
            "found": len(res.laws), "independent": res.independent, "upper_bound": res.upper_bound,
            "complete": res.complete or bool(extra and extra.complete), "verified": res.verified,
            "verdict": verdict, "log_laws": log_texts, "abelian_laws": [" ".join(t) for t in abelian_texts],
            "certificate": lie.certificate, "certificate_how": lie.certificate_how,
            "certificate_of": "the count upper_bound = N − K (how sure that number is), not the list of laws: "
                              "'complete' says whether the laws found reach it",
            "seconds": res.seconds,
            "unknowns": res.unknowns, "solver": res.stats,
            "prime": lie.prime, "failure_bound": lie.failure_bound,
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
    g = p.add_argument_group("the model (one of: --model and --dims, --phi, or --spec FILE)")
    g.add_argument("--model", choices=[m for m in MODEL_NAMES if m not in ("polynomial", "spec")],
                   help="linear, relu, nmf, icnn or product (the toy φ = x1⋯xD); the follow-up paper's blocks "
                   f"attention, conv1d, conv2d, softmax, residual, transformer ({', '.join(_models_with_options())} "
                   "take --option, listed below)")
    g.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a model option (repeatable), e.g. --option heads=2 --option head_width=3; lists as 3,3")
    g.add_argument("--spec", metavar="FILE", help="a model file (YAML: blocks, phi, metric; see the README)")
    g.add_argument("--jax", metavar="FILE.py", help="a model written in JAX: FILE.py defines apply(params, x), "
                   "params (a pytree: names and shapes) and input_shape; φ is read from the program")
    g.add_argument("--dims", help="comma-separated widths, output first and input last, e.g. 2,3,2 "
                   f"(product: D); at most {MAX_OUTPUTS} entries of φ, and a count whose estimated memory "
                   "exceeds the machine's available memory is refused up front")
    g.add_argument("--bias", action="store_true", default=None, help="hidden biases (relu, icnn)")
    g.add_argument("--phi", action="append", metavar="POLY",
                   help="a user model: one entry of φ as a polynomial (repeatable), e.g. --phi 'u1*v1 + u2*v2'; "
                        "numbers, names like u1 or U[0,1], + - * ^, division by numbers, parentheses")
    f = p.add_argument_group("the flow")
    f.add_argument("--flow", default=None, choices=list(FLOW_NAMES),
                   help="gradient (the model's own metric), heavy-ball momentum, Nesterov (τ = 3/t), or natural "
                        "(θ' = −M Jᵀ(J M Jᵀ)⁺∇f, J = ∂φ; no friction); default gradient")
    f.add_argument("--tau", default=None, help="friction τ of heavy-ball momentum, from 0 to 1000000 (e.g. 1, 0.5 "
                   "or 1/2); default 0")
    f.add_argument("--weight-decay", default=None, metavar="LAMBDA",
                   help="weight decay λ from 0 to 1000000 (θ' = −∇E − λθ; θ'' + τθ' + λθ = −∇E), with gradient, "
                        "momentum or nesterov; default 0")
    f.add_argument("--geometry", choices=list(FLOW_GEOMETRIES),
                   help="override the metric (default: euclidean for linear/relu/product and the blocks, mirror for "
                        "nmf, mixed for icnn and for a model file, where it is the file's per-block metric); "
                        "mirror-position / mixed-position evaluate it at θ only under momentum (the authors' "
                        "ICNN_momentum)")
    p.add_argument("--seed", type=_int_option("seed", 0, MAX_SEED, "a seed"), default=None,
                   help="seed of the random prime and point, from 0 to 2^63 - 1 (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object (per case); errors too")


def _models_with_options() -> list[str]:
    return [name for name, opts in MODEL_OPTIONS.items() if opts]


def _model_options_help() -> str:
    """One sentence per block model: its dims and options (from models.MODEL_OPTIONS)."""
    dims = {"attention": "d_out,dim or dim", "conv1d": "c2,c1,c0", "conv2d": "c2,c1,c0", "softmax": "n,m",
            "residual": "width,h1,...,hq", "transformer": "width"}
    parts = []
    for name, opts in MODEL_OPTIONS.items():
        keys = "; ".join(f"{k}: {v}" for k, v in opts.items()) or "no options"
        parts.append(f"{name} (--dims {dims.get(name, '...')}): {keys}.")
    return "Model options: " + " ".join(parts)


EXIT_HELP = ("Exit codes: 0 success; 1 a batch with failed lines (or an internal error); 2 bad input, a model too large for memory, or an "
             "output that cannot be written (one line on stderr, 'conservation-laws COMMAND: error: ...', and with "
             "--json a JSON object {\"error\": ...} on stdout); 130 interrupted.")


def make_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Count and list the conservation laws of gradient, mirror and momentum "
                     "flows (Marcotte, Gribonval, Peyré, ICML 2024).", epilog=EXIT_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{count,laws,sweep}", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("count", help="the number of independent laws N − K (exact rank mod p)",
                       description="The number of independent conservation laws N − K, K = dim Lie(W)(ξ0) at a "
                       "random point ξ0 of F_p (exact rank; N − K is always an upper bound). The certificate says "
                       "how sure the count is: proved (full rank), probabilistic (with a proved bound on the failure "
                       "probability) or upper bound only.",
                       epilog=_model_options_help() + " Batch: FILE holds one JSON object per line with keys model, "
                       "dims, flow and optional tau, weight_decay, bias, geometry, seed, repeats, phi, options (an "
                       "object), spec (labels id, block are echoed, in text mode too). Blank lines and lines "
                       "starting with # are skipped; a file without any case is an error. The case options "
                       "(--model, --flow, --tau, --seed, ...) are refused beside --batch: each line gives its own. "
                       "With --json, one output line per case, in order; in text mode, one block per case headed "
                       '"line N". A bad line gives {"line": n, "error": ...} (or "line N: error: ...") and a message '
                       "on stderr, and the batch goes on. " + EXIT_HELP)
    _add_case_options(c)
    c.add_argument("--repeats", type=_int_option("repeats", 1, MAX_REPEATS, "a number of runs"), default=None,
                   help="independent runs (keep the largest rank; the kept run is then checked until its proved "
                   f"failure bound is ≤ 1e-9), 1 to {MAX_REPEATS}; default 1")
    c.add_argument("--prove", action="store_true", help="then try to prove the count by exhibiting N − K exactly "
                   "verified laws (polynomial of degree ≤ 2, then logarithmic): certificate proved when it succeeds")
    c.add_argument("--numerical", action="store_true", help="with --jax: count numerically (any JAX program, "
                   "e.g. softmax or tanh; gradient flow, heavy ball, Nesterov, weight decay): certificate numerical, with the gap "
                   "and the input saturation")
    c.add_argument("--batch", metavar="FILE", help="run every case of a JSON-lines FILE ('-' for stdin)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar on stderr in batch mode")
    d = c.add_argument_group("diagnostics (change how the count is computed, not what it counts)")
    d.add_argument("--max-depth", type=_int_option("max_depth", 1, 64, "a bracket depth"), default=64,
                   metavar="N", help="stop the Lie brackets at depth N (1 to 64, default 64); a run stopped before "
                   "the span stabilises gives the certificate 'upper bound only'")
    d.add_argument("--prime", type=_int_option("prime", 2, 2**31 - 1, "a prime"), default=None, metavar="P",
                   help="do the exact rank modulo this prime (below 2^31) instead of random primes; a small prime "
                   "weakens the probabilistic bound, and may leave 'upper bound only'")
    c.set_defaults(func=_cmd_count)

    l = sub.add_parser("laws", help="every polynomial law up to a degree, with a completeness verdict",
                       description="Every polynomial law of degree ≤ DEGREE (exact, verified), in the model's names, "
                       "then whether they are complete: as many independent laws as the Lie count N − K allows. "
                       "With --json, 'certificate' is the count's (how sure N − K is), 'complete' the verdict.",
                       epilog=_model_options_help() + " " + EXIT_HELP)
    _add_case_options(l)
    l.add_argument("--degree", type=_int_option("degree", 1, 12, "a degree"), default=2,
                   help="largest degree in θ (and v), 1 to 12; default 2")
    l.add_argument("--time-degree", type=_int_option("time_degree", 0, 12, "a degree"), default=None,
                   help="largest power of the time variable, 0 to 12 (default 1 for s = e^{τt}, 3 for Nesterov's t); "
                   "only for flows with a time coordinate")
    l.add_argument("--latex", action="store_true", help="print the laws in LaTeX")
    l.add_argument("--all", action="store_true", help="also list the laws outside the minimal basis (functions of it)")
    l.set_defaults(func=_cmd_laws)
    if argv is None or not argv or argv[0] not in ("count", "laws"):  # start-up: `sweep` imports its own modules
        from .sweep import add_sweep_parser  # `sweep`: a grid of counts on Dask (interfaces/sweep/)

        add_sweep_parser(sub)
    return parser


# --- the one error path ----------------------------------------------------------------------
def _command_of(argv: Sequence[str]) -> str | None:
    for a in argv:
        if a in ("count", "laws", "sweep"):
            return a
        if not a.startswith("-"):
            return None
    return None


def _write(stream, text: str) -> None:
    """Write to a stream that may be closed, full or gone: never raises."""
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _report(prog: str, message: str, as_json: bool, code: int) -> int:
    """The one error report: one line on stderr and, with --json, one JSON object on stdout."""
    message = _one_line(message)
    _write(sys.stderr, f"{prog}: error: {message}\n")
    if as_json:
        command = prog[len(PROG):].strip() or None
        _write(sys.stdout, json.dumps({"error": message, "command": command, "exit_code": code}) + "\n")
    return code


def _stdout_gone() -> None:
    """After a failed write to stdout (EPIPE, ENOSPC): point the descriptor at /dev/null so that the
    interpreter's final flush neither fails nor prints "Exception ignored"."""
    out = sys.stdout
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def _standard_streams() -> None:
    """A closed standard stream (``>&-``) becomes /dev/null: prints then go nowhere instead of failing,
    and a file opened later cannot take descriptor 0, 1 or 2."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            try:
                setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))
            except OSError:
                pass


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed large blocks for reuse instead of returning them to the system.

    A count allocates and frees arrays of megabytes hundreds of times; by default glibc maps each one
    afresh and unmaps it when freed, so every allocation pays its page faults again (a tenth of the
    system and a few percent of the wall time of a count of [20, 20, 20] under heavy ball). The command
    line owns its process, so it raises the thresholds (mmap: 512 MiB, trim: 1 GiB); the library never
    does. Returns whether the setting took (False on other C libraries).
    """
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 512 * 2**20)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code. Every error ends here, in one line (``_report``)."""
    _standard_streams()
    keep_freed_memory()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    prog = f"{PROG} {command}" if command else PROG
    as_json = "--json" in argv
    code = EXIT_BAD_INPUT
    try:
        parser = make_parser(argv)
        args = parser.parse_args(argv)
        code = args.func(args)
        _flush_stdout()
    except UsageError as exc:
        code = _report(exc.prog if exc.prog != PROG else prog, str(exc), as_json, EXIT_BAD_INPUT)
    except ConservationLawsError as exc:
        code = _report(prog, error_text(exc), as_json, EXIT_BAD_INPUT)
    except (RecursionError, MemoryError) as exc:
        code = _report(prog, error_text(exc), as_json, EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        _write(sys.stderr, f"{prog}: interrupted" + (" (finished cases are in the store; rerun to resume)"
                                                      if command == "sweep" else "") + "\n")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        _stdout_gone()
        code = EXIT_OK
    except _OutputError as exc:
        _stdout_gone()
        code = _report(prog, f"cannot write the output ({exc})", False, EXIT_BAD_INPUT)
    except OSError as exc:
        if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EBADF, errno.EDQUOT):
            _stdout_gone()
            code = _report(prog, f"cannot write the output ({exc.strerror or exc})", False, EXIT_BAD_INPUT)
        else:
            where = f"{exc.filename}: " if exc.filename else ""
            code = _report(prog, f"{where}{exc.strerror or exc}", as_json, EXIT_BAD_INPUT)
    except SystemExit as exc:  # --help, --version (argparse), or a library's own exit
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_BAD_INPUT)
        try:
            _flush_stdout()
        except BrokenPipeError:
            _stdout_gone()
        except _OutputError as out_exc:  # `--help > /dev/full`
            _stdout_gone()
            code = _report(prog, f"cannot write the output ({out_exc})", False, EXIT_BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - a bug of ours, still in one line and never a traceback
        code = _report(prog, f"internal error, please report it: {error_text(exc)}", as_json,
                       EXIT_BATCH_FAILURES)
    return code


class _OutputError(Exception):
    """stdout could not be written (e.g. a full disk): the message is the system's."""


def _flush_stdout() -> None:
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        raise _OutputError(getattr(exc, "strerror", None) or str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
