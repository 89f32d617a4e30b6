"""Time lifts of the flows with weight decay: one polynomial coordinate per exponential of the free dynamics.

``free_time_coordinates`` gives the coordinates a flow needs (e^{at}, t, or the pair e^{at} cos ωt,
e^{at} sin ωt), ``lifted_fields`` the *full* lift of a family with them, and ``decay_time_degree``
how high a power of the time coordinate a law of a given degree needs. The count on the full lift
(``engine.lie.lifted_count``) is the count in t plus the m − 1 relations between the m time
coordinates; the proof is in the docstring of :mod:`conservation_laws.flows.flow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, VectorField
from ..errors import invalid
from ..models import Model
from .flow import FieldFamily, Flow, oscillator_exponents, rational_sqrt, vector_fields


@dataclass(frozen=True)
class TimeCoordinate:
    """One time coordinate of a lift: ``exp`` e^{rate·t}, ``t`` the time itself, or the pair members
    ``cos`` e^{rate·t} cos ωt and ``sin`` e^{rate·t} sin ωt (which must come together, cos first)."""

    name: str
    kind: str
    rate: Fraction = Fraction(0)
    omega: Fraction = Fraction(0)

    def expression(self) -> sympy.Expr:
        t = sympy.Symbol("t", real=True)
        rate = sympy.Rational(self.rate.numerator, self.rate.denominator)
        omega = sympy.Rational(self.omega.numerator, self.omega.denominator)
        return {"t": t, "exp": sympy.exp(rate * t), "cos": sympy.exp(rate * t) * sympy.cos(omega * t),
                "sin": sympy.exp(rate * t) * sympy.sin(omega * t)}[self.kind]


def free_time_coordinates(flow: Flow) -> list[TimeCoordinate]:
    """One time coordinate per exponential of the free dynamics (the full lift):

    GF + decay [e^{λt}]; heavy ball + decay, rational roots [e^{a₋t}, e^{a₊t}]; critical [t, e^{τt/2}];
    under-damped with ω = √(λ − τ²/4) rational [e^{τt/2}cos ωt, e^{τt/2}sin ωt]; otherwise the one
    coordinate of :attr:`Flow.time_variable`. Raises for an under-damped flow with irrational ω.
    """
    lam, tau = flow.weight_decay, flow.tau
    if flow.kind == "momentum" and lam:
        if flow.regime == "over-damped":
            exps = oscillator_exponents(tau, lam)
            if exps is not None:
                return [TimeCoordinate("y1", "exp", exps[0]), TimeCoordinate("y2", "exp", exps[1])]
        elif flow.regime == "critical":
            return [TimeCoordinate("t", "t"), TimeCoordinate("s", "exp", tau / 2)]
        else:
            omega = rational_sqrt(lam - tau**2 / 4)
            if omega is None:
                raise invalid("weight_decay", lam, f"the full under-damped lift needs ω = √(λ − τ²/4) rational "
                              f"(here λ − τ²/4 = {lam - tau**2 / 4}); exact arithmetic over Q(ω) is not available")
            return [TimeCoordinate("c", "cos", tau / 2, omega), TimeCoordinate("k", "sin", tau / 2, omega)]
    if flow.time_variable is None:
        return []
    if flow.time_rate is None:
        return [TimeCoordinate("t", "t")]
    return [TimeCoordinate("s", "exp", flow.time_rate)]


def lifted_fields(model: Model, flow: Flow, coordinates: list[TimeCoordinate] | None = None) -> FieldFamily:
    """The heavy-ball (or GF) family on ξ = (y_1..y_m, θ, v) with m time coordinates (default: the full
    lift of :func:`free_time_coordinates`). Each y_i' is polynomial in the y's: (e^{at})' = a e^{at},
    t' = 1, (e^{at}cos ωt)' = a C − ω S, (e^{at}sin ωt)' = a S + ω C. ``notes`` says how many independent
    relations the m coordinates obey (m − 1: they are all functions of t)."""
    if flow.kind == "nesterov":
        raise invalid("flow", flow.kind, "the full lift is for gradient and heavy-ball flows (Nesterov's time is t)")
    coords = free_time_coordinates(flow) if coordinates is None else list(coordinates)
    if not coords:
        raise invalid("coordinates", coords, "at least one time coordinate")
    base = vector_fields(model, flow)
    m, old = len(coords), 1  # the base family has one time coordinate, at index 0
    X = Polynomial.variable

    def move(p: Polynomial) -> Polynomial:  # re-index: old time (unused by forces) dropped, state shifted
        return Polynomial({tuple(i - old + m for i in mono): c for mono, c in p.items()})

    time_drift = []
    for i, c in enumerate(coords):
        if c.kind == "t":
            time_drift.append(Polynomial.constant(1))
        elif c.kind == "exp":
            time_drift.append(X(i) * c.rate)
        elif c.kind == "cos":
            time_drift.append(X(i) * c.rate + X(i + 1) * -c.omega)
        elif c.kind == "sin":
            time_drift.append(X(i) * c.rate + X(i - 1) * c.omega)
        else:
            raise invalid("coordinates", c.kind, "time coordinates of kind exp, t, cos or sin")
    drift = VectorField(tuple(time_drift) + tuple(move(p) for p in base.drift.components[old:]))
    forces = [VectorField((Polynomial(),) * m + tuple(move(p) for p in F.components[old:])) for F in base.forces]
    names = [c.name for c in coords] + base.variable_names[old:]
    notes = [f"{m} time coordinates, {m - 1} independent relation(s) among them"]
    return FieldFamily(model, flow, base.geometry, names, forces, drift=drift, notes=notes)


def decay_time_degree(flow: Flow, degree: int) -> int:
    """Largest power of the time coordinate a law of degree ≤ ``degree`` in (θ, v) needs, with decay.

    GF + decay: ``degree`` (h = H(sθ) = s^d H(θ) for H homogeneous of degree d, s = e^{λt}). Heavy ball:
    the free constants are A± = e^{a∓ t}(…), so a product of d of them carries at most e^{d a₊ t} =
    s^{d a₊/γ} (a₊ = τ/2 when the roots are not rational, where only e^{τt/2} is a coordinate); 1 when
    the coordinate is t (τ = 0). Nesterov: 3 (the charges t³J).
    """
    if flow.kind == "nesterov":
        return 3
    rate = flow.time_rate
    if flow.kind == "gradient":
        return degree
    if rate is None:
        return 1
    exps = oscillator_exponents(flow.tau, flow.weight_decay)
    top = exps[1] if exps is not None and exps[0] > 0 else flow.tau / 2
    from math import ceil

    return degree * ceil(top / rate)
