"""The dynamics: gradient, metric (mirror) and momentum flows, and their vector fields.

With a factorised risk, ∇E_Z(θ) = Σ_i a_i ∇φ_i(θ) where the a_i range over everything as the data
set varies. So every flow is a combination of a few fixed vector fields:

* gradient / metric flow   θ' = −M(θ)∇E:  fields X_i = M(θ)∇φ_i on the D coordinates θ;
* heavy-ball momentum      θ'' + τθ' = −M∇E, lifted to ξ = (time, θ, v), v = θ':
  ξ' = χ_0 − Σ a_i χ_i, drift χ_0 = (1, v, −τv), forces χ_i = (0, 0, M ∇φ_i);
* Nesterov                 τ(t) = 3/t, drift rescaled by t: t χ_0 = (t, t v, −3v);
* natural gradient         θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)), J = ∂φ(θ) (Gauss–Newton in the output space
  pulled back to θ; M = 1 for the Euclidean geometry): fields X_i = M Jᵀ(J M Jᵀ)⁺ e_i, made
  polynomial by the non-vanishing factor c_ρ(θ) (or c_ρ²), the product of the non-zero eigenvalues
  of J M Jᵀ (see ``natural_forces``).

For τ > 0 the time coordinate is s = e^{τt}, so the drift (τ s, v, −τv) is polynomial. The mirror
metric is diag(θ) (NMF); its momentum version (the paper's) is θ'' + τθ' = −diag(τθ + θ')∇E, and
ICNN mixes it on U with the Euclidean metric on V and b. The geometries ``mirror-position`` and
``mixed-position`` evaluate the same metric at the position only, diag(θ) instead of
diag(τθ + θ') under momentum: the metric the authors' ``ICNN_momentum`` builds. Rescaling a field by a non-vanishing
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

FLOW_NAMES = ("gradient", "momentum", "nesterov", "natural")
#: Geometries a flow accepts: the models' own, and the mirror/mixed metrics evaluated at θ only.
POSITION_SUFFIX = "-position"
FLOW_GEOMETRIES = ("euclidean", "mirror", "mixed", "mirror-position", "mixed-position")
#: Largest number of outputs d of φ for which natural-gradient fields are built (d×d algebra).
NATURAL_MAX_OUTPUTS = 8
#: Largest degree of a natural-gradient field (the polynomial algebra grows with it).
NATURAL_MAX_DEGREE = 40


def base_geometry(geometry: str | None) -> str | None:
    """The model geometry under a flow geometry: ``mixed-position`` → ``mixed``."""
    if geometry is not None and geometry.endswith(POSITION_SUFFIX):
        return geometry[: -len(POSITION_SUFFIX)]
    return geometry


@dataclass(frozen=True)
class Flow:
    """A training dynamics: ``kind`` ∈ {gradient, momentum, nesterov, natural}, friction τ ≥ 0, geometry.

    ``geometry`` ∈ FLOW_GEOMETRIES or None (the model's own). ``natural`` is the natural gradient
    θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)); it has no friction.
    """

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
        if self.geometry is not None and self.geometry not in FLOW_GEOMETRIES:
            raise invalid("geometry", self.geometry, f"one of {', '.join(FLOW_GEOMETRIES)}")

    @property
    def is_momentum(self) -> bool:
        return self.kind in ("momentum", "nesterov")

    @property
    def metric_at_position(self) -> bool:
        """True for the ``-position`` geometries: the mirror metric diag(θ) even under momentum."""
        return self.geometry is not None and self.geometry.endswith(POSITION_SUFFIX)

    @property
    def time_variable(self) -> str | None:
        """``s`` (= e^{τt}) for heavy ball with τ > 0, ``t`` for τ = 0 and Nesterov, none for GF."""
        if not self.is_momentum:
            return None
        return "s" if self.kind == "momentum" and self.tau > 0 else "t"

    def describe(self) -> str:
        if self.kind == "gradient":
            return "gradient flow"
        if self.kind == "natural":
            return "natural gradient flow"
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
    natural_rank: int | None = None  # natural gradient: the generic rank ρ of ∂φ

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
    mirror = model.mirror_mask(base_geometry(geometry))
    D = model.D
    phis = model.phi_polynomials()
    if flow.kind == "natural":
        forces, rank = natural_forces(phis, mirror, D, model.describe())
        return FieldFamily(model, flow, geometry, list(model.variable_names), forces,
                           notes=[f"natural gradient: rank ∂φ = {rank} of d = {len(phis)} outputs"],
                           natural_rank=rank)
    if not flow.is_momentum:
        forces = []
        for p in phis:
            g = gradient(p, D)
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

    at_position = geometry.endswith(POSITION_SUFFIX)

    def metric(j: int) -> Polynomial:
        if not mirror[j]:
            return Polynomial.constant(1)
        if at_position:  # diag(θ) evaluated at θ only (the authors' ICNN_momentum)
            return X(theta[j])
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
            if gj and any_mirror and not at_position and flow.kind == "nesterov" and not mirror[j]:
                gj = gj * X(time)  # the whole force was multiplied by t
            comps.append(gj * metric(j) if gj and mirror[j] else gj)
        forces.append(VectorField(tuple(comps)))
    names = [flow.time_variable] + list(model.variable_names) + velocity_names(model)
    return FieldFamily(model, flow, geometry, names, forces, drift=VectorField(tuple(drift)))


def natural_forces(phis: list[Polynomial], mirror, D: int, label: str = "model") -> tuple[list[VectorField], int]:
    """The natural-gradient fields X_i = M Jᵀ M_ρ e_i = −c_ρ · M Jᵀ(J M Jᵀ)⁺ e_i, exactly.

    J = ∂φ (d×D), M = diag(θ_j on mirror coordinates, 1 elsewhere), A = J M Jᵀ with
    characteristic polynomial det(λI − A) = λ^{d−ρ}(λ^ρ + c_1 λ^{ρ−1} + … + c_ρ), ρ its generic rank.
    Faddeev–LeVerrier gives M_1 = I, M_k = A M_{k−1} + c_{k−1} I, c_k = −tr(A M_k)/k, and Cayley–
    Hamilton on the range of A gives A⁺ = −M_ρ Π/c_ρ (Π the projector on range A = range J), hence
    M Jᵀ A⁺ = −M Jᵀ M_ρ / c_ρ. The factor −1/c_ρ (c_ρ = ± the product of the non-zero eigenvalues,
    non-zero wherever rank J = ρ) changes neither orbits nor laws, so the fields are polynomial.
    ρ is exact: c_ρ ≢ 0 and c_{ρ+1} ≡ 0 as polynomials (A is positive semi-definite on the domain).
    Returns the d fields and ρ.
    """
    d = len(phis)
    if d > NATURAL_MAX_OUTPUTS:
        raise invalid("flow", "natural", f"natural-gradient fields are built for at most {NATURAL_MAX_OUTPUTS} "
                      f"outputs of φ; {label} has d={d}")
    grads = [gradient(p, D) for p in phis]
    metric_grads = [[g[j] * Polynomial.variable(j) if mirror[j] and g[j] else g[j] for j in range(D)] for g in grads]
    # A = J M Jᵀ: rows of J against rows of M J (the upper half suffices, A is symmetric)
    columns = [list(col) for col in zip(*metric_grads)]  # columns[j][l] = (M ∇φ_l)_j
    A = _symmetric_product(grads, columns)
    degree_A = max((a.degree() for row in A for a in row if a), default=0)
    if degree_A <= 0:
        raise invalid("flow", "natural", f"∂φ of {label} is constant or zero, so there is no natural gradient to count")
    A2 = _symmetric_product(A, A)
    trace_A = sum((A[i][i] for i in range(d)), Polynomial())
    M_prev = [[Polynomial.constant(1) if i == k else Polynomial() for k in range(d)] for i in range(d)]
    c_prev = -trace_A
    rank = d
    for k in range(2, d + 1):
        # c_k = −(tr(A² M_{k−1}) + c_{k−1} tr A)/k, computed before forming M_k
        tr = sum((_dot(A2[i], [row[i] for row in M_prev]) for i in range(d)), Polynomial())
        c_k = (tr + c_prev * trace_A) * Fraction(-1, k)
        if not c_k:
            rank = k - 1
            break
        if degree_A * (k - 1) + max(g.degree() for row in metric_grads for g in row if g) > NATURAL_MAX_DEGREE:
            raise invalid("flow", "natural", f"the natural-gradient fields of {label} would have degree > "
                          f"{NATURAL_MAX_DEGREE} (∂φ has rank ≥ {k} among d={d} outputs)")
        M_next = _symmetric_product(A, M_prev)
        for i in range(d):
            M_next[i][i] = M_next[i][i] + c_prev
        M_prev, c_prev = M_next, c_k
    forces = [VectorField(tuple(_dot(M_prev[i], columns[j]) for j in range(D))) for i in range(d)]
    return forces, rank


def _dot(u: list[Polynomial], v: list[Polynomial]) -> Polynomial:
    """Σ_j u_j v_j over polynomials, skipping zero terms."""
    out = Polynomial()
    for a, b in zip(u, v):
        if a and b:
            out = out + a * b
    return out


def _symmetric_product(A: list[list[Polynomial]], B: list[list[Polynomial]]) -> list[list[Polynomial]]:
    """A·B when the product is known to be symmetric (commuting symmetric matrices, or J·(MJ)ᵀ):
    the upper half is computed and mirrored. ``A`` has rows i, ``B`` rows j and columns k."""
    d = len(A)
    out = [[Polynomial() for _ in range(d)] for _ in range(d)]
    for i in range(d):
        for k in range(i, d):
            out[i][k] = out[k][i] = _dot(A[i], [row[k] for row in B])
    return out


def drift_invariants(family: FieldFamily) -> tuple[dict, list, list]:
    """θ and v in terms of the drift's invariants (z, w), for rewriting a momentum law.

    With no force the flow keeps z and w: heavy ball τ > 0 (time s = e^{τt}) z = θ + v/τ,
    w = s v; τ = 0: z = θ − t v, w = v; Nesterov: z = θ + t v/2, w = t³ v. Returns the
    substitution {θ_j: …, v_j: …} (sympy, in the family's symbols) and the symbols z, w; a law
    rewritten with it no longer contains the time variable.
    """
    if family.drift is None:
        raise invalid("family", family.flow.kind, "a momentum family (the drift's invariants)")
    D = family.model.D
    syms = family.symbols
    time, theta, vel = syms[0], syms[1 : D + 1], syms[D + 1 :]
    zs, ws = list(sympy.symbols(f"z0:{D}", real=True)), list(sympy.symbols(f"w0:{D}", real=True))
    tau = sympy.Rational(family.flow.tau.numerator, family.flow.tau.denominator)
    if family.flow.kind == "nesterov":
        position, velocity = [z - w / (2 * time**2) for z, w in zip(zs, ws)], [w / time**3 for w in ws]
    elif tau == 0:
        position, velocity = [z + time * w for z, w in zip(zs, ws)], list(ws)
    else:
        position, velocity = [z - w / (tau * time) for z, w in zip(zs, ws)], [w / time for w in ws]
    return {**dict(zip(theta, position)), **dict(zip(vel, velocity))}, zs, ws


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
    τ(t) = τ (heavy ball) or 3/t (Nesterov), M = 1 (Euclidean) or τ(t)θ + v (mirror), or θ for
    the ``-position`` geometries. Natural gradient: f = −M Jᵀ(J M Jᵀ)⁺∇f(φ), see ``_natural_rhs``.
    """
    import jax.numpy as jnp

    geometry = flow.geometry or model.default_geometry
    mask = jnp.array(model.mirror_mask(base_geometry(geometry)), dtype=bool)
    D = model.D
    tau_const = float(flow.tau)
    if flow.kind == "natural":
        return _natural_rhs(model, mask, grad)

    if not flow.is_momentum:
        return lambda t, y: -jnp.where(mask, y, 1.0) * grad(y)
    at_position = flow.metric_at_position

    def rhs(t, y):
        theta, v = y[:D], y[D:]
        tau = 3.0 / t if flow.kind == "nesterov" else tau_const
        m = jnp.where(mask, theta if at_position else tau * theta + v, 1.0)
        return jnp.concatenate([v, -tau * v - m * grad(theta)])

    return rhs


def _natural_rhs(model: Model, mask, grad: Callable) -> Callable:
    """θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)), from ∇E = Jᵀ∇f only.

    With K = J M^{1/2}: M Jᵀ(J M Jᵀ)⁺ = M^{1/2} K⁺ and K⁺ = (KᵀK)⁺Kᵀ, so
    θ' = −M^{1/2}(M^{1/2} JᵀJ M^{1/2})⁺ M^{1/2} ∇E (mirror coordinates need θ > 0).
    """
    import jax
    import jax.numpy as jnp

    from .models import phi_jax

    jacobian = jax.jacfwd(phi_jax(model))

    def rhs(t, theta):
        J = jacobian(theta)
        root = jnp.where(mask, jnp.sqrt(jnp.abs(theta)), 1.0)
        gram = (J * root).T @ (J * root)
        return -root * (jnp.linalg.pinv(gram, hermitian=True) @ (root * grad(theta)))

    return rhs
