"""``conservation-laws count --jax FILE.py`` and ``laws --jax FILE.py``: a model written in JAX.

FILE.py defines ``apply(params, x)``, ``params`` (a pytree of arrays: names and shapes) and
``input_shape`` (optionally ``mirror``, the leaves with the mirror metric); it is run as a Python
program (it is your code). ``count`` reads φ exactly from the program (``models.jax_model``) and
counts with the Lie engine, or with ``--numerical`` counts with ``engine.numerical`` (any program:
softmax, tanh, normalisation…; gradient flow, heavy ball or Nesterov, with or without weight decay),
whose report carries ``certificate: numerical``, the gap and the input saturation. ``laws`` takes the exact path only.
"""

from __future__ import annotations

import json
import runpy

from ..errors import ConservationLawsError, invalid

JAX_FILE_NAMES = ("apply", "params", "input_shape")


def load_jax_file(path: str):
    """The model of a JAX file (``models.from_jax``): one-line errors for a missing file or definition."""
    from ..models.jax_model import from_jax

    try:
        namespace = runpy.run_path(str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid("jax", path, f"a readable Python file ({getattr(exc, 'strerror', None) or exc})") from None
    except SyntaxError as exc:
        raise invalid("jax", path, f"a Python file (syntax error at line {exc.lineno}: {exc.msg})") from None
    except Exception as exc:  # the user's file failed while running: one line, no traceback
        raise invalid("jax", path, f"a Python file that runs ({type(exc).__name__}: {' '.join(str(exc).split())})"
                      ) from None
    missing = [n for n in JAX_FILE_NAMES if n not in namespace]
    if missing:
        raise invalid("jax", path, f"a file defining {', '.join(JAX_FILE_NAMES)}; it does not define "
                      f"{', '.join(missing)}")
    return from_jax(namespace["apply"], namespace["params"], namespace["input_shape"], label=str(path),
                    mirror=namespace.get("mirror", ()))


def _flow(args):
    from ..flows import Flow
    from .cases import _fraction

    wd = _fraction("weight_decay", args.weight_decay) if args.weight_decay is not None else 0
    tau = _fraction("tau", args.tau) if args.tau is not None else 0
    return Flow(args.flow or "gradient", tau, args.geometry, **({"weight_decay": wd} if wd else {}))


def _check_alone(args) -> None:
    others = [o for o in ("model", "dims", "phi", "spec", "option", "batch") if getattr(args, o, None)]
    if others:
        raise invalid("jax", args.jax, f"a model file that replaces --{others[0]}: give one or the other")
    if getattr(args, "bias", False):
        raise invalid("bias", True, "biases are part of the JAX program (--jax), not an option")


def count_jax(args, certificate_line) -> int:
    """``count --jax FILE.py [--numerical]``: print the count (text or ``--json``); ``certificate_line``
    words an exact count's certificate (the command line's, passed in to keep the imports one-way)."""
    _check_alone(args)
    model = load_jax_file(args.jax)
    flow = _flow(args)
    base = {"jax": args.jax, "parameters": model.D, "input_shape": list(model.input_shape),
            "outputs": model.output_width, "flow": args.flow or "gradient", "seed": (args.seed or 0)}
    if args.numerical:
        from ..engine.numerical import numerical_count

        if getattr(args, "prove", False):
            raise invalid("prove", True, "the exact path: a numerical count cannot be proved (drop --numerical)")

        res = numerical_count(model, flow, seed=(args.seed or 0))
        rec = {**base, "path": "numerical", **res.as_dict()}
        return _print_count(args, rec, f"{model.describe()}, {flow.describe()}, euclidean geometry",
                            f"N = {res.dimension} coordinates, rank of the bracket fields {res.rank}, depth {res.depth}",
                            [f"certificate: numerical: {res.certificate_how}"], res.seconds)
    bad = model.unsupported_primitives()
    if bad:
        raise ConservationLawsError(f"jax: {args.jax}: primitive '{bad[0]}' is not polynomial in the parameters: "
                                    f"the exact path cannot take it; count it numerically with --numerical")
    from ..engine.lie import count_laws
    from ..flows import vector_fields

    family = vector_fields(model, flow)
    res = count_laws(family, seed=(args.seed or 0))
    if getattr(args, "prove", False):  # exhibit the laws: a proved count where they meet N − K
        from ..engine.darboux import prove_count

        res = prove_count(family, lie=res, seed=(args.seed or 0))
    rec = {**base, "path": "exact", "phi_entries": len(model.phi_polynomials()), "indicators": model.indicators,
           "geometry": family.geometry, **res.as_dict()}
    return _print_count(args, rec, f"{model.describe()}, {flow.describe()}, {family.geometry} geometry",
                        f"N = {res.dimension} coordinates, K = dim Lie(W)(ξ0) = {res.rank}",
                        [f"φ read exactly from the program: {rec['phi_entries']} entries, {rec['indicators']} "
                         f"activation indicator(s)", certificate_line(rec)], res.seconds)


def _print_count(args, rec: dict, heading: str, size: str, details: list[str], seconds: float) -> int:
    """A count of ``count --jax``: its record as one JSON object with --json, else the heading, the
    number of laws with ``size``, the ``details`` lines and the time."""
    if args.json:
        print(json.dumps(rec))
        return 0
    word = "law" if rec["laws"] == 1 else "laws"
    print("\n".join([f"{heading}:", f"  {rec['laws']} independent conservation {word}  ({size})",
                     *(f"  {line}" for line in details), f"  {seconds:.3f} s"]))
    return 0


def laws_jax(args) -> int:
    """``laws --jax FILE.py``: the polynomial laws in the names of the file's ``params`` (exact path)."""
    _check_alone(args)
    model = load_jax_file(args.jax)
    bad = model.unsupported_primitives()
    if bad:
        raise ConservationLawsError(f"jax: {args.jax}: primitive '{bad[0]}' is not polynomial in the parameters: "
                                    f"laws takes the exact path only (count --jax {args.jax} --numerical counts them)")
    from ..engine.laws import polynomial_laws
    from ..flows import vector_fields

    family = vector_fields(model, _flow(args))
    res = polynomial_laws(family, degree=args.degree, time_degree=args.time_degree, seed=(args.seed or 0))
    basis = [str(e) for e in res.in_time("basis")]
    if args.json:
        print(json.dumps({"jax": args.jax, "flow": args.flow or "gradient", "degree": res.degree, "basis": basis,
                          "laws": [str(e) for e in res.in_time()], "verdict": res.verdict(),
                          "certificate": res.lie.certificate, "complete": res.complete}))
        return 0
    print(f"{model.describe()}, {family.flow.describe()}: polynomial laws of degree ≤ {res.degree}")
    if not basis:
        print("  (none)")
    for i, t in enumerate(basis, 1):
        print(f"  h{i} = {t}")
    print(res.verdict())
    return 0
