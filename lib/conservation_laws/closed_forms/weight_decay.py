"""Closed forms for flows with weight decay λ > 0: this book's results, except where marked.

Flows (``flows`` module docstring): GF + decay θ' = −M(θ)∇E − λθ on (s, θ), s = e^{λt}; heavy ball
+ decay θ'' + τθ' + λθ = −∇E; Nesterov + decay θ'' + (3/t)θ' + λθ = −∇E. Each function names its
claim (registry ``weight_decay.yaml``) and its source.

GF + decay (claim ``wd-gf-count``). The follow-up paper (Marcotte, Gribonval, Peyré, ICML 2025, Thm 2.1) states
that a law of the decayed Euclidean flow has the form h(t, θ) = H(e^{λt}θ) with H a decay-free law.
We derive the converse for a model map φ homogeneous of some degree k and a metric with
M(cθ) = c^μ M(θ) for one μ (Euclidean μ = 0, mirror μ = 1): with ψ = e^{λt}θ = sθ,

    ψ' = λsθ + s(−M(θ)∇E(θ) − λθ) = −s M(ψ/s) Σ a_i ∇φ_i(ψ/s) = −s^{2−k−μ} Σ a_i M(ψ)∇φ_i(ψ),

a decay-free flow of ψ with time-dependent coefficients, which conserves every decay-free law H.
So H(e^{λt}θ) is conserved for every decay-free law H, whatever the degree k of φ, and a law H
homogeneous of degree d becomes e^{dλt}H(θ) (the factor depends on the degree of the law, not on
that of φ): e^{2λt}(UᵀU − VᵀV) for linear and ReLU nets, e^{λt}(Σ_i U_ik − Σ_j V_kj) for NMF.
The counts agree (claim ``wd-gf-count``): on (s, θ) the drift is λ(s∂_s − E) with E = Σθ_j∂_j the Euler field,
and [E, M∇φ_i] = (k + μ − 2) M∇φ_i, so the Lie algebra is span{drift} ⊕ Lie{M∇φ_i} and
N_decay = (D + 1) − (1 + K_GF) = N_GF.

ICNN's mixed metric (claim ``wd-icnn-mixed``). M = diag(U, 1, 1) is not homogeneous: [E, M∇φ_i] = M∇φ_i restricted
to the U block (degree 2) and 0 on the V, b block (degree 1), so both parts of each field lie in the
Lie algebra separately. The U parts U_ik V_kj ∂_{U_ik} (and U_ik b_k ∂_{U_ik}) span every U
direction, the V, b parts U_ik ∂_{V_kj}, U_ik ∂_{b_k} every V, b direction, and the drift adds s:
K = D + 1 and no law survives, where GF without decay has one law per hidden neuron.

Heavy ball + decay (claim ``wd-momentum-charges``). For an antisymmetric B with ⟨∇φ_i(θ), Bθ⟩ = 0 (the rotations of a
linear net), J = ⟨θ', Bθ⟩ obeys J' = ⟨θ'', Bθ⟩ + ⟨θ', Bθ'⟩ = −τJ − λ⟨θ, Bθ⟩ − ⟨∇E, Bθ⟩ + 0 = −τJ:
the decay term is symmetric and cancels (⟨θ, Bθ⟩ = 0). So e^{τt}J is conserved in every regime
(over-damped, critical, under-damped), and t³J under Nesterov with decay. The counts stay the
decay-free momentum counts (claim ``wd-momentum-count``, found by the engine on every shape the book counts).

The full lift (claim ``wd-lift-relations``): m time coordinates that are functions of the one variable t obey m − 1
independent relations, so N − K on the full lift exceeds the number of laws in (t, θ, θ') by m − 1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import sympy

from ..errors import invalid
from ..algebra.polynomial import as_fraction

T = sympy.Symbol("t", real=True)


def _decay(weight_decay) -> Fraction:
    lam = as_fraction(weight_decay)
    if lam < 0:
        raise invalid("weight_decay", weight_decay, "a number ≥ 0")
    return lam


def _rational(q: Fraction) -> sympy.Rational:
    return sympy.Rational(q.numerator, q.denominator)


def gf_decay_law(law: sympy.Expr, parameters: Sequence[sympy.Symbol], weight_decay) -> sympy.Expr:
    """h(t, θ) = H(e^{λt}θ) for a decay-free law H (claims ``wd-gf-form`` and ``wd-gf-count``; the form is the follow-up paper's
    Thm 2.1, the converse for homogeneous φ this book's). ``parameters`` are the θ symbols."""
    lam = _rational(_decay(weight_decay))
    scale = sympy.exp(lam * T)
    return sympy.expand(sympy.sympify(law).xreplace({p: scale * p for p in parameters}))


def gf_decay_time_factor(law_degree: int, weight_decay) -> sympy.Expr:
    """e^{dλt}: the factor of a decay-free law homogeneous of degree d under GF + decay (claim ``wd-gf-count``,
    this book's)."""
    if isinstance(law_degree, bool) or not isinstance(law_degree, int) or law_degree < 0:
        raise invalid("law_degree", law_degree, "a non-negative integer")
    return sympy.exp(law_degree * _rational(_decay(weight_decay)) * T)


def gf_decay_count(gf_count: int, geometry: str = "euclidean") -> int:
    """N with weight decay from N without, for a homogeneous φ: N_decay = N_GF for a homogeneous metric
    (euclidean, mirror), 0 for ICNN's mixed metric (claims ``wd-gf-count`` and ``wd-icnn-mixed``, this book's)."""
    if geometry not in ("euclidean", "mirror", "mixed"):
        raise invalid("geometry", geometry, "euclidean, mirror or mixed")
    return 0 if geometry == "mixed" else gf_count


def momentum_decay_charge(charge: sympy.Expr, flow: str, tau=0) -> sympy.Expr:
    """The conserved charge of an antisymmetric symmetry under momentum with weight decay (any λ ≥ 0,
    every regime): e^{τt}J for the heavy ball, t³J for Nesterov (claim ``wd-momentum-charges``, this book's)."""
    if flow == "nesterov":
        return T**3 * charge
    if flow != "momentum":
        raise invalid("flow", flow, "momentum or nesterov")
    return sympy.exp(_rational(as_fraction(tau)) * T) * charge


def momentum_decay_count(momentum_count: int) -> int:
    """N of heavy ball / Nesterov with decay = N without decay (claim ``wd-momentum-count``, this book's: found on every
    shape counted, and certified where the charges of ``momentum_decay_charge`` are complete)."""
    return momentum_count


def lift_relations(time_coordinates: int) -> int:
    """m − 1 independent relations among m time coordinates, all functions of t (claim ``wd-lift-relations``, this
    book's): the count on the full lift minus this is the count of laws in (t, θ, θ')."""
    if isinstance(time_coordinates, bool) or not isinstance(time_coordinates, int) or time_coordinates < 1:
        raise invalid("time_coordinates", time_coordinates, "a positive integer")
    return time_coordinates - 1


def closed_form_count_with_decay(case) -> int | None:
    """The known count of a case with weight decay (``case`` as for ``closed_forms.closed_form_count``,
    plus ``weight_decay``), or None where no closed form is known (deep linear nets, momentum under a
    mirror or mixed metric, where decay is not defined). Gradient flow: ``gf_decay_count``; heavy ball
    and Nesterov: ``momentum_decay_count``; both applied to the decay-free closed form."""
    from . import OWN_GEOMETRY, closed_form_count

    base = closed_form_count(case)
    if base is None or not as_fraction(case.get("weight_decay", 0)):
        return base
    geometry = case.get("geometry") or OWN_GEOMETRY.get(case["model"], "euclidean")
    if case.get("flow", "gradient") == "gradient":
        return gf_decay_count(base, geometry)
    return momentum_decay_count(base) if geometry == "euclidean" else None


def sign_flow_laws(n: int, r: int, m: int) -> int:
    """Local laws of the sign flow θ' = −sign(∇E_Z(θ)) (Adam with β1 = β2 = 0) of the two-layer linear
    net [n, r, m] near a θ with no zero entry: D − dim span of the sign vectors (claim ``wd-sign-flow``).

    n = m = 1: every sign vector is ±(sign V, sign U), so D − 1 (for r = 1 the follow-up paper's |U| − |V|).
    m = 1 < n: the U block's signs are sign(G_i)·sign(V_j), an n-dimensional span, the V block adds r,
    so nr + r − (n + r) = n(r − 1); n = 1 < m likewise m(r − 1). n, m ≥ 2: none, as the follow-up paper
    reports. The upper bounds for n = 1 or m = 1 are this book's derivation, the equalities and the case
    n, m ≥ 2 numerical evidence (``simulate.sign_span``), not a certificate.
    """
    for name, value in (("n", n), ("r", r), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(name, value, "a positive integer width")
    if n == m == 1:
        return 2 * r - 1
    if m == 1:
        return n * (r - 1)
    if n == 1:
        return m * (r - 1)
    return 0
