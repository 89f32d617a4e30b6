"""The dynamics: gradient, metric (mirror) and momentum flows, and their vector fields.

With a factorised risk, ∇E_Z(θ) = Σ_i a_i ∇φ_i(θ) where the a_i range over everything as the data
set varies. So every flow is a combination of a few fixed vector fields:

* gradient / metric flow   θ' = −M(θ)∇E:  fields X_i = M(θ)∇φ_i on the D coordinates θ;
* heavy-ball momentum      θ'' + τθ' = −M∇E, lifted to ξ = (time, θ, v), v = θ':
  ξ' = χ_0 − Σ a_i χ_i, drift χ_0 = (1, v, −τv), forces χ_i = (0, 0, M ∇φ_i);
* Nesterov                 τ(t) = 3/t, drift rescaled by t: t χ_0 = (t, t v, −3v).

For τ > 0 the time coordinate is s = e^{τt}, so the drift (τ s, v, −τv) is polynomial. The mirror
metric is diag(θ) (NMF); its momentum version (the paper's) is θ'' + τθ' = −diag(τθ + θ')∇E, and
ICNN mixes it on U with the Euclidean metric on V and b. Rescaling a field by a non-vanishing
function changes neither the laws nor their number, which is what makes these polynomial forms
legitimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import sympy

from .errors import invalid
from .models import Model, velocity_names
from .polynomial import Polynomial, VectorField, as_fraction, gradient, latex_names, symbols_for

FLOW_NAMES = ("gradient", "momentum", "nesterov")


@dataclass(frozen=True)
class Flow:
    """A training dynamics: ``kind`` ∈ {gradient, momentum, nesterov}, friction τ ≥ 0, optional geometry."""

    kind: str = "gradient"
    tau: Fraction = Fraction(0)
    geometry: str | None = None

    def __post_init__(self):
        if self.kind not in FLOW_NAMES:
            raise invalid("flow", self.kind, f"one of {', '.join(FLOW_NAMES)}")
        try:
            tau = as_fraction(self.tau)
        except (ValueError, ZeroDivisionError):
            raise invalid("tau", self.tau, "a number ≥ 0") from None
        if tau < 0:
            raise invalid("tau", self.tau, "the friction τ must be ≥ 0")
        if tau and self.kind != "momentum":  # a τ that would be silently ignored is an error
            raise invalid("tau", self.tau, f"a friction applies to heavy-ball momentum only; the {self.kind} "
                          "flow has none (give tau = 0)")
        object.__setattr__(self, "tau", tau)
        if self.geometry is not None and self.geometry not in ("euclidean", "mirror", "mixed"):
            raise invalid("geometry", self.geometry, "one of euclidean, mirror, mixed")

    @property
    def is_momentum(self) -> bool:
        return self.kind != "gradient"

    @property
    def time_variable(self) -> str | None:
        """``s`` (= e^{τt}) for heavy ball with τ > 0, ``t`` for τ = 0 and Nesterov, none for GF."""
        if not self.is_momentum:
            return None
        return "s" if self.kind == "momentum" and self.tau > 0 else "t"

    def describe(self) -> str:
        if self.kind == "gradient":
            return "gradient flow"
        if self.kind == "nesterov":
            return "Nesterov momentum (τ = 3/t)"
        return f"heavy-ball momentum (τ = {self.tau})"


@dataclass
class FieldFamily:
    """The fields whose Lie algebra counts the laws of ``model`` under ``flow``."""

    model: Model
    flow: Flow
    geometry: str
    variable_names: list[str]
    forces: list[VectorField]
    drift: VectorField | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def generators(self) -> list[VectorField]:
        return ([self.drift] if self.drift is not None else []) + self.forces

    @property
    def N(self) -> int:
        return len(self.variable_names)

    @property
    def symbols(self) -> list[sympy.Symbol]:
        return symbols_for(self.variable_names)

    def latex_names(self):
        return latex_names(self.variable_names)


def vector_fields(model: Model, flow: Flow | str = "gradient", tau=0, geometry: str | None = None) -> FieldFamily:
    """The family W = {χ_0, χ_1, …} of section 3 of the notes, as exact polynomial fields."""
    if isinstance(flow, str):
        flow = Flow(flow, tau, geometry)
    model.check_countable()
    geometry = flow.geometry or geometry or model.default_geometry
    mirror = model.mirror_mask(geometry)
    D = model.D
    phis = model.phi_polynomials()
    # a model file's diagonal polynomial metric (spec.SpecModel), gradient flow only
    metric_polys = model.metric_polynomials(geometry) if hasattr(model, "metric_polynomials") else None
    if metric_polys is not None and flow.is_momentum:
        raise invalid("metric", "a polynomial metric", "defined for gradient flow only (use euclidean or mirror blocks)")
    if not flow.is_momentum:
        forces = []
        for p in phis:
            g = gradient(p, D)
            if metric_polys is not None:
                forces.append(VectorField(tuple(g[j] * metric_polys[j] if g[j] else g[j] for j in range(D))))
                continue
            forces.append(VectorField(tuple(g[j] * Polynomial.variable(j) if mirror[j] and g[j] else g[j] for j in range(D))))
        return FieldFamily(model, flow, geometry, list(model.variable_names), forces)

    # Phase space ξ = (time, θ, v): index 0 is time, 1..D are θ, D+1..2D are v.
    N = 2 * D + 1
    time, theta, vel = 0, list(range(1, D + 1)), list(range(D + 1, N))
    tau = flow.tau
    X = Polynomial.variable
    zero = Polynomial()
    if flow.kind == "nesterov":
        drift = [X(time)] + [X(time) * X(v) for v in vel] + [X(v) * -3 for v in vel]
    elif tau > 0:
        drift = [X(time) * tau] + [X(v) for v in vel] + [X(v) * -tau for v in vel]
    else:
        drift = [Polynomial.constant(1)] + [X(v) for v in vel] + [zero for _ in vel]

    def metric(j: int) -> Polynomial:
        if not mirror[j]:
            return Polynomial.constant(1)
        if flow.kind == "nesterov":  # (3θ/t + v), times t
            return X(theta[j]) * 3 + X(time) * X(vel[j])
        return X(theta[j]) * tau + X(vel[j])

    any_mirror = any(mirror)
    forces = []
    for p in phis:
        g = gradient(p, D)
        comps = [zero] * (D + 1)
        for j in range(D):
            gj = _shift(g[j], 1)
            if gj and any_mirror and flow.kind == "nesterov" and not mirror[j]:
                gj = gj * X(time)  # the whole force was multiplied by t
            comps.append(gj * metric(j) if gj and mirror[j] else gj)
        forces.append(VectorField(tuple(comps)))
    names = [flow.time_variable] + list(model.variable_names) + velocity_names(model)
    return FieldFamily(model, flow, geometry, names, forces, drift=VectorField(tuple(drift)))


def _shift(p: Polynomial, offset: int) -> Polynomial:
    """Re-index a polynomial in θ_0..θ_{D-1} as one in ξ_offset.. (the θ block of phase space)."""
    return Polynomial({tuple(i + offset for i in m): c for m, c in p.items()})


# --- the ODE right-hand sides, for simulation ------------------------------------------------
def metric_diagonal(model: Model, geometry: str | None = None):
    """M(θ) as a JAX function returning the diagonal: θ_j on mirror coordinates, 1 elsewhere."""
    import jax.numpy as jnp

    mask = jnp.array(model.mirror_mask(geometry or model.default_geometry), dtype=bool)
    return lambda theta: jnp.where(mask, theta, 1.0)


def ode_rhs(model: Model, flow: Flow, grad: Callable) -> Callable:
    """Right-hand side f(t, y) of the flow, with ``grad(θ) = ∇E(θ)``.

    GF: y = θ, f = −M(θ)∇E. Momentum: y = (θ, v), f = (v, −τ(t) v − M(θ, v, t)∇E) with
    τ(t) = τ (heavy ball) or 3/t (Nesterov), M = 1 (Euclidean) or τ(t)θ + v (mirror).
    """
    import jax.numpy as jnp

    geometry = flow.geometry or model.default_geometry
    mask = jnp.array(model.mirror_mask(geometry), dtype=bool)
    D = model.D
    tau_const = float(flow.tau)

    if not flow.is_momentum:
        return lambda t, y: -jnp.where(mask, y, 1.0) * grad(y)

    def rhs(t, y):
        theta, v = y[:D], y[D:]
        tau = 3.0 / t if flow.kind == "nesterov" else tau_const
        m = jnp.where(mask, tau * theta + v, 1.0)
        return jnp.concatenate([v, -tau * v - m * grad(theta)])

    return rhs
