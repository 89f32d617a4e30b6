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
    if model == "icnn":
        entries = dims[0] * dims[1] * dims[2] + (dims[0] * dims[1] if bias else 0)
        return entries, entries
    return 1, 1


def _fraction(name: str, value) -> Fraction:
    from ..algebra.polynomial import as_fraction

    if isinstance(value, bool):
        raise invalid(name, value, "a number ≥ 0")
    try:
        x = as_fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise invalid(name, value, "a number ≥ 0") from None
    if x < 0:
        raise invalid(name, value, "a number ≥ 0")
    return x


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
        """The JSON parameters a sweep keys the case by: τ as an exact string (``'1/2'``); spec,
        options and weight decay only when set, so that the keys of older stores do not change."""
        out = {"model": self.model, "dims": list(self.dims) if self.dims is not None else None, "bias": self.bias,
               "flow": self.flow, "tau": str(self.tau), "geometry": self.geometry, "seed": self.seed,
               "repeats": self.repeats}
        if self.phi:
            out["phi"] = list(self.phi)
        if self.spec is not None:
            out["spec"] = self.spec
        if self.options:
            out["options"] = dict(sorted(self.options.items()))
        if self.weight_decay:
            out["weight_decay"] = str(self.weight_decay)
        return out


def _check_model(model, dims, phi, bias):
    from ..models import MODEL_NAMES, check_dims

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
        raise invalid("model", model, f"one of {', '.join(m for m in MODEL_NAMES if m != 'polynomial')} "
                      "(or a user model with --phi)")
    if model not in MODEL_NAMES:
        raise invalid("model", model, f"one of {', '.join(MODEL_NAMES)}")
    if model == "polynomial":
        raise invalid("model", model, "a user model needs --phi 'polynomial' (repeatable)")
    if dims is None:
        raise invalid("dims", dims, "the widths are required, e.g. --dims 2,3,2 (output first, input last)")
    if isinstance(dims, (int,)) and not isinstance(dims, bool):
        dims = [dims]
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
    if spec is not None and not isinstance(spec, str):
        raise invalid("spec", spec, "the path of a model file")
    if flow not in FLOW_NAMES:
        raise invalid("flow", flow, f"one of {', '.join(FLOW_NAMES)}")
    tau = _fraction("tau", tau)
    weight_decay = _fraction("weight_decay", weight_decay)
    if geometry is not None and geometry not in GEOMETRIES:
        raise invalid("geometry", geometry, f"one of {', '.join(GEOMETRIES)} (or omit it for the model's own)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
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


__all__ = ["Case", "make_case", "make_cases", "check_size", "phi_size", "CASE_FIELDS", "MAX_OUTPUTS",
           "MAX_PHI_TERMS", "ConservationLawsError"]
