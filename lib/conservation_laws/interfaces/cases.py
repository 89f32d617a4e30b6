"""One case: a model and a flow to count the laws of, validated once for every entry point.

``make_case(**fields)`` is the single validator (and size guard) behind the Python API,
``conservation-laws count`` / ``laws``, batch lines and sweeps. It checks each field, then
delegates to the model and flow constructors (``models.make_model(name, dims, bias=..., phi=...,
**options)`` and ``flows.Flow(kind, tau, geometry, weight_decay=...)``), so an option validated
there is validated everywhere. Whether a geometry suits the model is checked when the fields are
built (``Case.family()``), so that a sweep records such a case as failed instead of refusing the grid.

Fields: model, dims, phi (a user model's entries), spec (a model file), options (dict of model
keyword options), bias, flow, tau, weight_decay, geometry, seed, repeats.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Any, Mapping, Sequence

from ..errors import ConservationLawsError, invalid

#: Largest number of model-map entries φ_i accepted (each one is a vector field of the family).
MAX_OUTPUTS = 20_000
#: Largest number of monomials of φ accepted (deep linear nets: one per path).
MAX_PHI_TERMS = 200_000
#: The fields of a case, in the order ``make_case`` takes them.
CASE_FIELDS = ("model", "dims", "phi", "spec", "options", "bias", "flow", "tau", "weight_decay", "geometry",
               "seed", "repeats")
MAX_REPEATS = 100
MAX_SEED = 2**63 - 1


def phi_size(model: str, dims: Sequence[int], bias: bool = False) -> tuple[int, int]:
    """(entries, monomials) of φ, computed from the widths before φ is built.

    Linear and NMF: n·m entries, n·m·Π hidden monomials; ReLU: one entry per path (plus the bias
    paths); ICNN: n1·n2·n3 (+ n1·n2 with bias); anything else: (1, 1), left to ``check_countable``.
    """
    if model in ("linear", "nmf"):
        entries = dims[0] * dims[-1]
        return entries, entries * prod(dims[1:-1])
    if model == "relu":
        paths = prod(dims)
        if bias:
            paths += sum(prod(dims[: l + 1]) for l in range(1, len(dims) - 1))
        return paths, paths
    if model == "icnn" and len(dims) >= 3:  # fewer widths: refused by the model itself
        entries = dims[0] * dims[1] * dims[2] + (dims[0] * dims[1] if bias else 0)
        return entries, entries
    return 1, 1


#: Largest friction τ and weight decay λ accepted, and the largest denominator of their exact value:
#: far beyond any training run, small enough to print and to reduce modulo a prime.
MAX_RATE = 10**6
MAX_DENOMINATOR = 10**12
_DECIMAL = re.compile(r"\s*\+?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})([eE][-+]?\d{1,3})?\s*")
_RATIO = re.compile(r"\s*\+?\d{1,40}\s*/\s*\d{1,40}\s*")


def _fraction(name: str, value) -> Fraction:
    """An exact rate (τ or λ): a number from 0 to ``MAX_RATE`` written as an int, a decimal, a
    fraction 'p/q' or a float, with a denominator at most ``MAX_DENOMINATOR``. Text is checked
    before ``Fraction`` reads it (``'1e999999999'`` would otherwise be a billion-digit integer)."""
    from ..algebra.polynomial import as_fraction

    allowed = (f"a number from 0 to {MAX_RATE}, e.g. 1, 0.5 or 1/2 (finite; denominator at most "
               f"{MAX_DENOMINATOR:.0e})")
    if isinstance(value, bool) or (isinstance(value, str) and not (_DECIMAL.fullmatch(value)
                                                                  or _RATIO.fullmatch(value))):
        raise invalid(name, _short(value), allowed)
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(name, value, allowed)
    try:
        if isinstance(value, str) and "/" in value:
            top, _, bottom = value.partition("/")
            x = Fraction(int(top), int(bottom))
        elif isinstance(value, str):
            mantissa, _, exponent = value.strip().lstrip("+").lower().partition("e")
            if exponent and abs(int(exponent)) > 40:
                raise ValueError(exponent)
            x = Fraction(mantissa) * Fraction(10) ** int(exponent or 0)
        else:
            x = as_fraction(value)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        raise invalid(name, _short(value), allowed) from None
    if not 0 <= x <= MAX_RATE or x.denominator > MAX_DENOMINATOR:
        raise invalid(name, _short(value), allowed)
    return x


def _short(value, limit: int = 40):
    """A value as an error message shows it: long text cut (a message stays one short line)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def json_number(x: Fraction):
    """An exact rational as JSON writes it: an int; a float when its shortest decimal is exactly x
    (0.5, 0.1: read back exactly, as ``polynomial.as_fraction`` reads floats); else the text 'p/q'.
    The one rule of every record (``count --json``, batch lines, sweep stores), so that τ = 1/2 reads
    0.5 everywhere and τ = 1/3 stays exact."""
    x = Fraction(x)
    if x.denominator == 1:
        return int(x)
    f = float(x)
    return f if Fraction(repr(f)) == x else str(x)


def case_record(model, dims, phi, variables, options, spec, flow: str, tau, bias: bool, geometry: str,
                parameters: int, seed: int, weight_decay, time_variable, regime) -> dict:
    """The case part of a count's record, as ``count --json`` prints it (and ``Count.as_dict``): the
    model (with φ and its variables, options or the model file when given), the flow, τ, biases,
    geometry, parameters, seed, and under weight decay λ with the lift's time coordinate and regime."""
    out: dict = {"model": model, "dims": list(dims) if dims else None}
    if phi:
        out["phi"] = list(phi)
        out["variables"] = list(variables or ())
    if options:
        out["options"] = dict(options)
    if spec:
        out["spec"] = spec
    out.update({"flow": flow, "tau": json_number(tau), "bias": bias, "geometry": geometry,
                "parameters": parameters, "seed": seed})
    if weight_decay:  # weight decay λ: the time coordinate and the damping regime of the lift
        out.update({"weight_decay": json_number(weight_decay), "time_variable": time_variable})
        if regime:
            out["regime"] = regime
    return out


@dataclass(frozen=True, eq=True)
class Case:
    """A validated case (build it with ``make_case``). ``tau`` and ``weight_decay`` are exact."""

    model: str
    dims: tuple[int, ...] | None = None
    phi: tuple[str, ...] | None = None
    spec: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    bias: bool = False
    flow: str = "gradient"
    tau: Fraction = Fraction(0)
    weight_decay: Fraction = Fraction(0)
    geometry: str | None = None
    seed: int = 0
    repeats: int = 1

    # --- building ---------------------------------------------------------------------------
    def build_model(self):
        """``models.make_model(model, dims, bias=..., phi=..., **options)``, or the model file ``spec``
        (``models.load_model_file``) when given."""
        from ..models import load_model_file, make_model

        if self.spec is not None:
            return load_model_file(self.spec)
        extra = dict(self.options)
        try:
            return make_model(self.model, list(self.dims) if self.dims else None, bias=self.bias,
                              phi=list(self.phi) if self.phi else None, **extra)
        except TypeError as exc:  # an option make_model does not take
            raise invalid("options", dict(extra), f"keyword options of the {self.model} model ({exc})") from None

    def build_flow(self):
        """``flows.Flow(flow, tau, geometry)``, with ``weight_decay`` when it is not zero."""
        from ..flows import Flow

        wd = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        try:
            return Flow(self.flow, self.tau, self.geometry, **wd)
        except TypeError:  # a Flow without weight decay (older library)
            raise invalid("weight_decay", self.weight_decay, "0: this version's flows have no weight decay") from None

    def family(self):
        """The vector fields W of the case (``flows.vector_fields``); checks the geometry fits the model."""
        from ..flows import vector_fields

        return vector_fields(self.build_model(), self.build_flow())

    def count(self, **kwargs):
        """``lie.count_laws`` of the case (seed and repeats included): a ``LieResult``."""
        from ..engine.lie import count_laws

        return count_laws(self.family(), seed=self.seed, repeats=self.repeats, **kwargs)

    # --- views ------------------------------------------------------------------------------
    def as_dict(self) -> dict:
        """Every field, lists for tuples (the record of ``conservation-laws count``)."""
        return {"model": self.model, "dims": list(self.dims) if self.dims is not None else None,
                "phi": list(self.phi) if self.phi else None, "spec": self.spec, "options": dict(self.options),
                "bias": self.bias, "flow": self.flow, "tau": self.tau, "weight_decay": self.weight_decay,
                "geometry": self.geometry, "seed": self.seed, "repeats": self.repeats}

    def canonical(self) -> dict:
        """The JSON parameters a sweep keys the case by: τ and λ exact as ``json_number`` writes them
        (``0.5``, ``'1/3'``); spec, options and weight decay only when set."""
        out = {"model": self.model, "dims": list(self.dims) if self.dims is not None else None, "bias": self.bias,
               "flow": self.flow, "tau": json_number(self.tau), "geometry": self.geometry, "seed": self.seed,
               "repeats": self.repeats}
        if self.phi:
            out["phi"] = list(self.phi)
        if self.spec is not None:
            out["spec"] = self.spec
        if self.options:
            out["options"] = dict(sorted(self.options.items()))
        if self.weight_decay:
            out["weight_decay"] = json_number(self.weight_decay)
        return out


def _check_option(key: str, value) -> None:
    from ..errors import check_option

    check_option(f"options.{key}", value)


def _check_model(model, dims, phi, bias):
    from ..models import MODEL_NAMES, check_dims

    NAMED_MODELS = [m for m in MODEL_NAMES if m not in ("polynomial", "spec")]

    if phi is not None:
        if isinstance(phi, str):
            phi = [phi]
        if not isinstance(phi, (list, tuple)) or not phi or not all(isinstance(p, str) for p in phi):
            raise invalid("phi", phi, "one or more polynomials as strings, e.g. 'u1*v1 + u2*v2'")
        if model not in (None, "polynomial") or dims is not None:
            raise invalid("phi", list(phi), "a user model replaces --model/--dims: give one or the other")
        if bias:
            raise invalid("bias", bias, "biases exist for relu and icnn only, not for a user model")
        return "polynomial", None, tuple(phi)
    if model is None:
        raise invalid("model", model, f"one of {', '.join(NAMED_MODELS)} (or a user model with --phi, "
                      "or a model file with --spec)")
    if model == "polynomial":
        raise invalid("model", model, "a user model needs --phi 'polynomial' (repeatable)")
    if model == "spec":
        raise invalid("model", model, "a model file is given with --spec FILE (\"spec\" in a batch line)")
    if not isinstance(model, str) or model not in MODEL_NAMES:
        raise invalid("model", _short(model), f"one of {', '.join(NAMED_MODELS)} (or a user model with --phi, "
                      "or a model file with --spec)")
    if dims is None:
        raise invalid("dims", dims, "the widths are required, e.g. --dims 2,3,2 (output first, input last)")
    if isinstance(dims, (int,)) and not isinstance(dims, bool):
        dims = [dims]
    if isinstance(dims, str):
        parts = dims.split(",")
        if not dims.strip():
            raise invalid("dims", dims, "comma-separated widths, output first and input last, e.g. 2,3,2; none given")
        if any(not p.strip() for p in parts):
            raise invalid("dims", _short(dims), "comma-separated positive integers without an empty entry, e.g. 2,3,2")
        if len(parts) > 64:
            raise invalid("dims", _short(dims), "at most 64 widths")
    elif isinstance(dims, (list, tuple)) and not dims:
        raise invalid("dims", list(dims), "a list of widths, output first and input last, e.g. [2, 3, 2]; none given")
    return model, tuple(check_dims(dims, 1)), None


def check_size(model: str, dims: Sequence[int] | None, bias: bool = False) -> None:
    """The size guard: φ at most ``MAX_OUTPUTS`` entries and ``MAX_PHI_TERMS`` monomials."""
    if dims is None:
        return
    entries, terms = phi_size(model, list(dims), bias)
    if entries > MAX_OUTPUTS or terms > MAX_PHI_TERMS:
        raise invalid("dims", list(dims), f"φ would have {entries} entries and {terms} monomials; at most {MAX_OUTPUTS} "
                      f"entries and {MAX_PHI_TERMS} monomials are supported")


def make_case(model: str | None = None, dims=None, phi: Sequence[str] | str | None = None, spec: str | None = None,
              options: Mapping[str, Any] | None = None, bias: bool = False, flow: str = "gradient", tau=0,
              weight_decay=0, geometry: str | None = None, seed: int = 0, repeats: int = 1) -> Case:
    """Validate one case and return it (raises ``ConservationLawsError`` naming the bad field).

    Order: the model's fields (model, dims or phi, bias), the flow's (flow, tau, weight decay,
    geometry), seed and repeats, then the size guard (``check_size``, and the engine's parameter
    limit ``Model.check_countable``) on the model built by ``models.make_model``.
    """
    from ..flows import FLOW_GEOMETRIES as GEOMETRIES  # the models' geometries and their -position variants
    from ..flows import FLOW_NAMES
    from ..models import bias_error, bias_models

    if not isinstance(bias, bool):
        raise invalid("bias", bias, "true or false")
    if spec is not None:  # a model file names its own blocks (models.model_file)
        if model not in (None, "spec") or dims is not None or phi is not None or options:
            raise invalid("spec", spec, "a model file path, alone: it replaces model, dims, phi and options")
        model = "spec"
    else:
        model, dims, phi = _check_model(model, dims, phi, bias)
    if bias and model not in bias_models():
        raise bias_error(bias)
    if options is None:
        options = {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise invalid("options", options, "a mapping of the model's keyword options")
    for key, value in options.items():
        _check_option(key, value)
    if spec is not None and not isinstance(spec, str):
        raise invalid("spec", spec, "the path of a model file")
    if flow not in FLOW_NAMES:
        raise invalid("flow", flow, f"one of {', '.join(FLOW_NAMES)}")
    tau = _fraction("tau", tau)
    weight_decay = _fraction("weight_decay", weight_decay)
    if geometry is not None and geometry not in GEOMETRIES:
        raise invalid("geometry", geometry, f"one of {', '.join(GEOMETRIES)} (or omit it for the model's own)")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise invalid("seed", _short(seed), f"an integer from 0 to 2^63 - 1")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise invalid("repeats", repeats, f"an integer from 1 to {MAX_REPEATS}")
    check_size(model, dims, bias)
    case = Case(model, dims, phi, spec, dict(options), bias, flow, tau, weight_decay, geometry, seed, repeats)
    case.build_flow()  # the flow's own checks (e.g. a friction the flow does not take)
    case.build_model().check_countable()  # the model's own checks, then the engine's size limit
    return case


def make_cases(records: Sequence[Mapping[str, Any]]) -> list[Case]:
    """``make_case(**record)`` for each record (the keys of ``CASE_FIELDS`` only)."""
    out = []
    for i, rec in enumerate(records):
        unknown = sorted(set(rec) - set(CASE_FIELDS))
        if unknown:
            raise invalid(f"records[{i}]", unknown[0], f"a case field, one of {', '.join(CASE_FIELDS)}")
        out.append(make_case(**rec))
    return out


__all__ = ["Case", "make_case", "make_cases", "check_size", "phi_size", "json_number", "CASE_FIELDS",
           "MAX_OUTPUTS", "MAX_PHI_TERMS", "MAX_RATE", "ConservationLawsError"]
