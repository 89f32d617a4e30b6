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

Weight decay λ ≥ 0 (``Flow(kind, tau, geometry, weight_decay=λ)``), decoupled as in PyTorch's SGD
and AdamW: the term −λθ is added to the velocity (GF) or the acceleration (momentum), never
multiplied by the metric.

* GF + decay          θ' = −M(θ)∇E − λθ, lifted to ξ = (s, θ) with s = e^{λt}:
  drift χ_0 = (λ s, −λθ), forces χ_i = (0, M∇φ_i); N = D + 1.
* heavy ball + decay  θ'' + τθ' + λθ = −∇E on ξ = (s, θ, v), s = e^{γt}: drift (γ s, v, −τv − λθ).
  The free dynamics θ'' + τθ' + λθ = 0 has the roots r± = (−τ ± √Δ)/2, Δ = τ² − 4λ, and its
  solutions are built from e^{r± t} (over-damped, Δ > 0), e^{−τt/2} and t e^{−τt/2} (critical,
  Δ = 0), or e^{−τt/2} cos ωt and e^{−τt/2} sin ωt, ω = √(−Δ)/2 (under-damped, Δ < 0). The time
  coordinate is s = e^{γt} with γ the largest rational such that e^{−r± t} are powers of s when
  the roots are rational (γ = gcd(−r+, −r−)), γ = τ/2 otherwise (so e^{τt} = s² is polynomial),
  and t itself when τ = 0.
* Nesterov + decay    θ'' + (3/t)θ' + λθ = −∇E on ξ = (t, θ, v), drift multiplied by t:
  (t, t v, −3v − λ t θ).

Why one time coordinate, and how the count stays a count of laws in (t, θ, θ'). Any single time
coordinate that is a diffeomorphic function of t (t, or e^{γt} with γ > 0) is a change of
coordinates of phase space, so N − K is exactly the number of laws in (t, θ, θ'), and no time
coordinate is ever related to another. ``lifts.lifted_fields`` builds the *full* lift instead, with
one coordinate per exponential of the free dynamics (e.g. y₁ = e^{−r₊t}, y₂ = e^{−r₋t}, or
C = e^{τt/2} cos ωt, S = e^{τt/2} sin ωt). There the m time coordinates are m functions of the one
variable t, so they obey m − 1 independent relations (y₂ = y₁^k, C² + S² = e^{τt}, …), each a
function conserved by every field and *not* a law in (t, θ, θ'). Proof that the count on the full
lift is the count in t plus m − 1: in the heavy ball every force has zero time components and
coefficients that do not depend on time, and the drift's time components depend on time only, so
every bracket other than the drift itself has zero time components and time-free coefficients;
hence K_lifted = 1 + dim(span of those brackets in the (θ, v) directions) = K_t, and
N_lifted − K_lifted = (N_t + m − 1) − K_t. ``engine.lie.lifted_count`` returns both and the difference;
the unit tests check it on every regime.

Supported rationals: τ, λ rational; the polynomial time coordinate needs rational exponents, so
for Δ > 0 not the square of a rational (irrational roots) and for the under-damped regime the
library uses s = e^{τt/2}, which carries the antisymmetric charges e^{τt}J = s²J but not the
individual e^{r± t} (exact arithmetic over Q(√Δ) is not available); the full lift of the
under-damped regime needs ω rational and otherwise raises. Momentum with decay is defined for the
Euclidean geometry only (the paper's mirror momentum has no weight-decay counterpart); GF with decay
is defined for every geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from .._lazy import sympy

from ..errors import ConservationLawsError, invalid
from ..models import Model, velocity_names
from ..algebra.polynomial import ZERO, Polynomial, VectorField, as_fraction, gradient, latex_names, symbols_for

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
    """A training dynamics: ``kind`` ∈ {gradient, momentum, nesterov, natural}, friction τ ≥ 0, geometry,
    weight decay λ ≥ 0 (see the module docstring for the equations and their lifts).

    ``geometry`` ∈ FLOW_GEOMETRIES or None (the model's own). ``natural`` is the natural gradient
    θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)); it has no friction and no weight decay.
    """

    kind: str = "gradient"
    tau: Fraction = Fraction(0)
    geometry: str | None = None
    weight_decay: Fraction = Fraction(0)

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
            shown = tau if len(str(tau)) <= 40 else str(tau)[:20] + "…"  # one short line (tau=1, not tau='1')
            raise invalid("tau", shown, f"a friction applies to heavy-ball momentum only; the {self.kind} "
                          "flow has none (give tau = 0)")
        object.__setattr__(self, "tau", tau)
        if self.geometry is not None and self.geometry not in FLOW_GEOMETRIES:
            raise invalid("geometry", self.geometry, f"one of {', '.join(FLOW_GEOMETRIES)}")
        _check_weight_decay(self)

    @property
    def is_momentum(self) -> bool:
        return self.kind in ("momentum", "nesterov")

    @property
    def metric_at_position(self) -> bool:
        """True for the ``-position`` geometries: the mirror metric diag(θ) even under momentum."""
        return self.geometry is not None and self.geometry.endswith(POSITION_SUFFIX)

    @property
    def time_variable(self) -> str | None:
        """``s`` (= e^{γt}, γ = :attr:`time_rate`) or ``t`` for the phase space's time coordinate;
        none for a first-order flow (gradient, natural) without weight decay."""
        if not self.is_momentum and not self.weight_decay:
            return None
        return "s" if self.time_rate is not None else "t"

    @property
    def time_rate(self) -> Fraction | None:
        """γ of the time coordinate s = e^{γt}: τ (heavy ball), λ (GF + decay), the oscillator's rate
        (heavy ball + decay, :func:`oscillator_rate`); None when the coordinate is t itself or absent."""
        if self.kind == "gradient":
            return self.weight_decay or None
        if self.kind != "momentum":
            return None
        if self.weight_decay:
            return oscillator_rate(self.tau, self.weight_decay)
        return self.tau or None

    @property
    def regime(self) -> str | None:
        """Heavy ball with decay: ``over-damped`` (τ² > 4λ), ``critical`` (=) or ``under-damped`` (<)."""
        if self.kind != "momentum" or not self.weight_decay:
            return None
        disc = self.tau**2 - 4 * self.weight_decay
        return "over-damped" if disc > 0 else "critical" if disc == 0 else "under-damped"

    def time_expression(self) -> sympy.Expr | None:
        """The time coordinate as a function of t (e^{γt} or t); None when there is none."""
        t = sympy.Symbol("t", real=True)
        if self.time_variable is None:
            return None
        if self.time_rate is None:
            return t
        return sympy.exp(sympy.Rational(self.time_rate.numerator, self.time_rate.denominator) * t)

    def in_time(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with the time coordinate s replaced by e^{γt} (unchanged when it is t or absent)."""
        if self.time_variable != "s":
            return expr
        return sympy.factor_terms(sympy.sympify(expr).subs(sympy.Symbol("s", real=True), self.time_expression()))

    def describe(self) -> str:
        """The flow in words, e.g. ``heavy-ball momentum (τ = 1)``."""
        decay = f", weight decay λ = {self.weight_decay}" if self.weight_decay else ""
        if self.kind == "gradient":
            return "gradient flow" + decay
        if self.kind == "natural":
            return "natural gradient flow"
        if self.kind == "nesterov":
            return "Nesterov momentum (τ = 3/t)" + decay
        regime = f", {self.regime}" if self.regime else ""
        return f"heavy-ball momentum (τ = {self.tau}{decay}{regime})"


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
    #: natural gradient: "direct" (the fields M Jᵀ M_ρ e_i) or "gradient-flow identity" (the fields
    #: M∇φ_i, which span the same module: ``natural_identity_family``)
    natural_route: str | None = None

    def __repr__(self) -> str:  # never the fields themselves
        return (f"FieldFamily({self.model.describe() if self.model is not None else 'fields'}, "
                f"{self.flow.describe()}, {self.geometry} geometry, N={self.N}, generators={len(self.generators)})")

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


def vector_fields(model: Model, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
                  weight_decay=0) -> FieldFamily:
    """The family W = {χ_0, χ_1, …} of the flow (module docstring), as exact polynomial fields.

    ``flow`` is a name (then ``tau``, ``geometry`` and ``weight_decay`` build the :class:`Flow`) or a
    Flow, which the keywords may then only repeat: a non-zero ``tau`` or ``weight_decay``, or a
    ``geometry``, that differs from the Flow's raises."""
    if isinstance(flow, str):
        flow = Flow(flow, tau, geometry, weight_decay=weight_decay)
    elif isinstance(flow, Flow):
        for name, given, own, symbol in (("tau", tau, flow.tau, "τ"), ("weight_decay", weight_decay, flow.weight_decay, "λ")):
            if given is not None and as_fraction(given) not in (0, own):
                raise invalid(name, given, f"the Flow given has {symbol} = {own} ({flow.describe()}); give it once")
        if geometry is not None and flow.geometry is not None and geometry != flow.geometry:
            raise invalid("geometry", geometry, f"the Flow given has geometry {flow.geometry!r}; give it once")
    else:
        raise invalid("flow", flow, f"a Flow or one of {', '.join(FLOW_NAMES)}")
    # the coordinates of the count: (time, θ, v) under momentum, (s, θ) for GF with decay, θ otherwise
    model.check_countable(2 * model.D + 1 if flow.is_momentum else model.D + (1 if flow.weight_decay else 0))
    geometry = flow.geometry or geometry or model.default_geometry
    mirror = model.mirror_mask(base_geometry(geometry))
    _check_decay_geometry(flow, geometry, mirror)
    D = model.D
    phis = model.phi_polynomials()
    # a model file's diagonal polynomial metric (model_file.FileModel), gradient flow only
    metric_polys = model.metric_polynomials(geometry) if hasattr(model, "metric_polynomials") else None
    if metric_polys is not None and flow.kind != "gradient":
        raise invalid("metric", "a polynomial metric", "defined for gradient flow only (use euclidean or mirror blocks)")
    if metric_polys is not None and flow.weight_decay:
        raise invalid("weight_decay", flow.weight_decay, "not defined with a model file's polynomial metric")
    if flow.kind == "natural":
        if not _natural_fields_buildable(phis):
            return natural_identity_family(model, flow, geometry)
        try:
            forces, rank = natural_forces(phis, mirror, D, model.describe())
        except NaturalTooLarge:
            return natural_identity_family(model, flow, geometry)
        return FieldFamily(model, flow, geometry, list(model.variable_names), forces,
                           notes=[f"natural gradient: rank ∂φ = {rank} of d = {len(phis)} outputs"],
                           natural_rank=rank, natural_route="direct")
    if not flow.is_momentum and flow.weight_decay:
        return _decayed_gradient_fields(model, flow, geometry, mirror, phis)
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
    zero = ZERO  # one read-only empty polynomial for every vanishing component
    if flow.kind == "nesterov":
        drift = [X(time)] + [X(time) * X(v) for v in vel] + [X(v) * -3 for v in vel]
    elif flow.time_rate is not None:
        drift = [X(time) * flow.time_rate] + [X(v) for v in vel] + [X(v) * -tau for v in vel]
    else:
        drift = [Polynomial.constant(1)] + [X(v) for v in vel] + [X(v) * -tau for v in vel]
    if flow.weight_decay:  # the acceleration gains −λθ (times t for Nesterov's rescaled drift)
        lam = flow.weight_decay
        for v, th in zip(vel, theta):
            decay = X(th) * -lam if flow.kind != "nesterov" else X(time) * X(th) * -lam
            drift[v] = drift[v] + decay

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
        comps = [zero] * (2 * D + 1)
        for j in sorted(p.variables()):  # the other partial derivatives vanish: their entries stay zero
            if not g[j]:
                continue
            gj = _shift(g[j], 1)
            if gj and any_mirror and not at_position and flow.kind == "nesterov" and not mirror[j]:
                gj = gj * X(time)  # the whole force was multiplied by t
            comps[D + 1 + j] = gj * metric(j) if gj and mirror[j] else gj
        forces.append(VectorField(tuple(comps)))
    names = [flow.time_variable] + list(model.variable_names) + velocity_names(model)
    return FieldFamily(model, flow, geometry, names, forces, drift=VectorField(tuple(drift)))


class NaturalTooLarge(ConservationLawsError):
    """The exact natural-gradient fields would be too large to build (``natural_forces``)."""


def _natural_fields_buildable(phis: list[Polynomial]) -> bool:
    return len(phis) <= NATURAL_MAX_OUTPUTS


def natural_identity_family(model: Model, flow: "Flow", geometry: str) -> FieldFamily:
    """The natural-gradient family through its proved identity with gradient flow (chapter 11).

    At every θ where rank ∂φ(θ) is generic, the natural fields X_i = M Jᵀ(J M Jᵀ)⁺ e_i span
    M·range Jᵀ = span{M∇φ_i}: the two families generate the same module of smooth combinations on
    an open dense set, hence the same involutive closure, the same Lie-algebra trace and the same
    laws. So the gradient-flow fields M∇φ_i (M the same metric) count the natural-gradient laws at
    any number of outputs, with no pseudo-inverse to expand. ``natural_rank`` is left unknown.
    """
    if not any(model.phi_polynomials()):
        raise invalid("flow", "natural", f"φ of {model.describe()} is zero, so there is no natural gradient to count")
    gf = vector_fields(model, Flow("gradient", 0, flow.geometry), geometry=geometry)
    if not any(not f.is_zero() for f in gf.forces):
        raise invalid("flow", "natural", f"∂φ of {model.describe()} is zero, so there is no natural gradient to count")
    note = ("natural gradient: counted through its identity with gradient flow in the same geometry "
            "(the fields M Jᵀ(J M Jᵀ)⁺ e_i and M∇φ_i span the same module)")
    return FieldFamily(model, flow, gf.geometry, list(gf.variable_names), list(gf.forces), notes=[note],
                       natural_route="gradient-flow identity")


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
        raise NaturalTooLarge(str(invalid("flow", "natural", f"natural-gradient fields are built for at most "
                                          f"{NATURAL_MAX_OUTPUTS} outputs of φ; {label} has d={d}")))
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
            raise NaturalTooLarge(str(invalid("flow", "natural", f"the natural-gradient fields of {label} would have "
                                              f"degree > {NATURAL_MAX_DEGREE} (∂φ has rank ≥ {k} among d={d} outputs)")))
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

    GF: y = θ, f = −M(θ)∇E − λθ. Momentum: y = (θ, v), f = (v, −τ(t) v − λθ − M(θ, v, t)∇E) with
    τ(t) = τ (heavy ball) or 3/t (Nesterov), M = 1 (Euclidean) or τ(t)θ + v (mirror), or θ for
    the ``-position`` geometries, λ the weight decay (0 unless the flow has one). Natural gradient:
    f = −M Jᵀ(J M Jᵀ)⁺∇f(φ), see ``_natural_rhs``.
    """
    import jax.numpy as jnp

    geometry = flow.geometry or model.default_geometry
    mask = jnp.array(model.mirror_mask(base_geometry(geometry)), dtype=bool)
    D = model.D
    tau_const = float(flow.tau)
    if flow.kind == "natural":
        return _natural_rhs(model, mask, grad)

    lam = float(flow.weight_decay)
    _check_decay_geometry(flow, geometry, model.mirror_mask(base_geometry(geometry)))

    if not flow.is_momentum:
        return lambda t, y: -jnp.where(mask, y, 1.0) * grad(y) - lam * y
    at_position = flow.metric_at_position

    def rhs(t, y):
        theta, v = y[:D], y[D:]
        tau = 3.0 / t if flow.kind == "nesterov" else tau_const
        m = jnp.where(mask, theta if at_position else tau * theta + v, 1.0)
        return jnp.concatenate([v, -tau * v - lam * theta - m * grad(theta)])

    return rhs


# --- weight decay: validation, the oscillator's time coordinate, the full lift ------------------
DECAY_KINDS = ("gradient", "momentum", "nesterov")


def _check_weight_decay(flow: Flow) -> None:
    """Normalise λ to a Fraction and reject what has no meaning (λ < 0, an unknown flow kind)."""
    try:
        lam = as_fraction(flow.weight_decay)
    except (ValueError, ZeroDivisionError, TypeError):
        raise invalid("weight_decay", flow.weight_decay, "a number ≥ 0 (e.g. 2, 0.5 or 1/2)") from None
    if isinstance(flow.weight_decay, bool):
        raise invalid("weight_decay", flow.weight_decay, "a number ≥ 0 (e.g. 2, 0.5 or 1/2)")
    if lam < 0:
        raise invalid("weight_decay", flow.weight_decay, "the weight decay λ must be ≥ 0")
    if lam and flow.kind not in DECAY_KINDS:
        raise invalid("weight_decay", flow.weight_decay, f"weight decay is defined for {', '.join(DECAY_KINDS)} "
                      f"flows, not {flow.kind}")
    if lam and flow.kind != "gradient" and flow.geometry and base_geometry(flow.geometry) in ("mirror", "mixed"):
        raise invalid("geometry", flow.geometry, "momentum with weight decay is defined for the euclidean "
                      "geometry only")
    object.__setattr__(flow, "weight_decay", lam)


def _check_decay_geometry(flow: Flow, geometry: str, mirror) -> None:
    if flow.weight_decay and flow.is_momentum and any(mirror):
        raise invalid("geometry", geometry, "momentum with weight decay is defined for the euclidean geometry "
                      "only (--geometry euclidean, or geometry=\"euclidean\" in a batch line or the API)")


def rational_sqrt(q: Fraction) -> Fraction | None:
    """√q when q ≥ 0 is the square of a rational, else None."""
    from math import isqrt

    if q < 0:
        return None
    a, b = isqrt(q.numerator), isqrt(q.denominator)
    return Fraction(a, b) if a * a == q.numerator and b * b == q.denominator else None


def _rational_gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest rational g with a/g and b/g integers (a, b > 0)."""
    from math import gcd

    den = a.denominator * b.denominator // gcd(a.denominator, b.denominator)
    return Fraction(gcd(int(a * den), int(b * den)), den)


def oscillator_exponents(tau, weight_decay) -> tuple[Fraction, Fraction] | None:
    """(a₋, a₊) = (−r₊, −r₋) with r± = (−τ ± √Δ)/2 the roots of r² + τr + λ, Δ = τ² − 4λ, when √Δ is
    rational (then e^{a t} multiplies the free solutions' constants: A± = e^{a∓ t}(…)); None otherwise."""
    tau, lam = as_fraction(tau), as_fraction(weight_decay)
    root = rational_sqrt(tau**2 - 4 * lam)
    if root is None:
        return None
    return (tau - root) / 2, (tau + root) / 2


def oscillator_rate(tau, weight_decay) -> Fraction | None:
    """γ of the time coordinate s = e^{γt} of the heavy ball with decay (module docstring).

    Rational roots (Δ = τ² − 4λ > 0 a rational square): γ = gcd(a₋, a₊) with a± = (τ ± √Δ)/2, so that
    e^{a± t} = s^{a±/γ}. Otherwise γ = τ/2 (e^{τt} = s²), and None (the coordinate is t) when τ = 0.
    """
    tau, lam = as_fraction(tau), as_fraction(weight_decay)
    exps = oscillator_exponents(tau, lam)
    if exps is not None and exps[0] > 0:
        return _rational_gcd(*exps)
    return tau / 2 if tau > 0 else None


def _decayed_gradient_fields(model: Model, flow: Flow, geometry: str, mirror, phis) -> FieldFamily:
    """GF + decay on ξ = (s, θ), s = e^{λt}: drift (λ s, −λθ), forces (0, M∇φ_i)."""
    D, lam, X = model.D, flow.weight_decay, Polynomial.variable
    forces = []
    for p in phis:
        g = gradient(p, D)
        comps = [_shift(g[j], 1) * X(j + 1) if mirror[j] and g[j] else _shift(g[j], 1) for j in range(D)]
        forces.append(VectorField((Polynomial(),) + tuple(comps)))
    drift = VectorField((X(0) * lam,) + tuple(X(j + 1) * -lam for j in range(D)))
    return FieldFamily(model, flow, geometry, ["s"] + list(model.variable_names), forces, drift=drift)


def _natural_rhs(model: Model, mask, grad: Callable) -> Callable:
    """θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)), from ∇E = Jᵀ∇f only.

    With K = J M^{1/2}: M Jᵀ(J M Jᵀ)⁺ = M^{1/2} K⁺ and K⁺ = (KᵀK)⁺Kᵀ, so
    θ' = −M^{1/2}(M^{1/2} JᵀJ M^{1/2})⁺ M^{1/2} ∇E (mirror coordinates need θ > 0).
    """
    import jax
    import jax.numpy as jnp

    from ..models import phi_jax

    jacobian = jax.jacfwd(phi_jax(model))

    def rhs(t, theta):
        J = jacobian(theta)
        root = jnp.where(mask, jnp.sqrt(jnp.abs(theta)), 1.0)
        gram = (J * root).T @ (J * root)
        return -root * (jnp.linalg.pinv(gram, hermitian=True) @ (root * grad(theta)))

    return rhs
