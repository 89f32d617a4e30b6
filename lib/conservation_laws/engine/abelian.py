"""Laws that are Abelian integrals: the deep scalar-output linear network [1, 2, 2, 1].

**Setting.** φ(θ) = wᵀBu with u ∈ R², B ∈ R^{2×2}, w ∈ R² (``make_model("linear", [1, 2, 2, 1])``:
U1 = wᵀ, U2 = B, U3 = u; N = 8). The family of gradient flow is the single field X = ∇φ:

    X u = Bᵀw,   X B = w uᵀ,   X w = B u.

One generator spans its own Lie algebra, so K = 1 and there are N − 1 = 7 laws. Six are the entries
of the balancedness matrices Q1 = BᵀB − uuᵀ and Q2 = wwᵀ − BBᵀ (degree 2). No seventh law is a
polynomial of degree ≤ 4, nor a logarithm of Darboux polynomials; this module exhibits it.

**Invariants** (all polynomial in θ): a = |u|², t = ‖B‖²_F, δ = det B, φ = wᵀBu, ε = uᵀ adj(B) w,
and the laws k1 = tr Q1, k2 = tr Q2, k3 = det Q1, k4 = det Q2. Along X,

    X t = 2φ,   X δ = ε                                                              (i)

and two polynomial laws of degree 6 and 8 (functions of Q1, Q2, so they add no law; they fix the curve):

    E = ε² − φ² + a³ + (2k1 + k2)a² + (k1² + k1k2 + k3 + k4)a − (2a + k1 + k2)δ²,
    I = tε² − 2δεφ + (a² + (k1 + k2)a + k3 + k4)δ² − δ⁴.                            (ii)

**Separation.** Let ξ1, ξ2 be the eigenvalues of BᵀB (the squared singular values of B), so
ξ1 + ξ2 = t and ξ1ξ2 = δ², and let

    R(ξ) = ξ⁵ + (k2 − k1)ξ⁴ + (k3 + k4 − k1k2)ξ³ − (E + k1(k3 + k4))ξ² + Iξ,

a polynomial in ξ whose coefficients are laws.

*Lemma.* R(ξ) ≡ (δε − φξ)²  modulo ξ² − tξ + δ² in Q[θ][ξ]; hence R(ξ_i) = ρ_i² with ρ_i = δε − φξ_i.  (iii)

From (i), X ξ1 + X ξ2 = 2φ and ξ2 X ξ1 + ξ1 X ξ2 = X δ² = 2δε, so where ξ1 ≠ ξ2

    X ξ1 = 2ρ1/(ξ2 − ξ1),   X ξ2 = 2ρ2/(ξ1 − ξ2),   and   X ξ1/ρ1 + X ξ2/ρ2 = 0.

*Theorem (this book).* On an open set where ξ1 ≠ ξ2 and ρ1ρ2 ≠ 0, let F(ξ) = ∫_{ξ*}^{ξ} dς/√R(ς) on an
interval where R > 0 (its coefficients and the base point ξ* are functions of the laws). Then

    h = s1 F(ξ1) + s2 F(ξ2),   s_i = sign ρ_i,

is a conservation law: X h = s1 X ξ1/|ρ1| + s2 X ξ2/|ρ2| = X ξ1/ρ1 + X ξ2/ρ2 = 0 (the coefficients of
R are annihilated by X, so they contribute nothing). It is the Abel map of the curve y² = R(ξ), of genus
2 for generic laws: a hyperelliptic integral, not elementary in general. (The companion integral
Σ ∫ ς dς/ρ has derivative ξ1Xξ1/ρ1 + ξ2Xξ2/ρ2 = −2: it measures time, it is not a law.)

**Independence.** Modulo the gradients of the laws k_j, E, I (coefficients of R), ∇h ≡ v with
v = ∇ξ1/ρ1 + ∇ξ2/ρ2 and ∇ξ1 = (∇δ² − ξ1∇t)/(ξ2 − ξ1), ∇ξ2 = (∇δ² − ξ2∇t)/(ξ1 − ξ2). At a rational
point where BᵀB has rational eigenvalues (B = P diag(σ) Qᵀ with Pythagorean rotations P, Q), every
entry is rational: if the six balancedness gradients together with ∇E, ∇I have rank 6 and adding v
gives rank 7 (exact rational elimination), the seven laws are independent there, hence generically.

**Verification** (exact, every call, no floating point): (i) and X E = X I = X k_j = 0 as polynomial
identities; (iii) as a polynomial remainder in Q[θ][ξ]; the rank by exact rational elimination.
Nothing here is assumed from the derivation: a wrong formula fails one of these checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import sympy

from ..flows import FieldFamily

#: The model and widths this module covers (output first), and the flow.
DIMS = (1, 2, 2, 1)


@dataclass
class AbelianLaw:
    """h = s1 F(ξ1) + s2 F(ξ2), F' = 1/√R, ξ_i the roots of ξ² − tξ + δ², s_i = sign(δε − φξ_i)."""

    t: sympy.Expr  # ξ1 + ξ2
    delta: sympy.Expr  # √(ξ1 ξ2): δ = det B
    phi: sympy.Expr
    epsilon: sympy.Expr  # X δ
    R: sympy.Expr  # in the symbol ``xi``, coefficients polynomial in θ
    xi: sympy.Symbol
    laws: dict[str, sympy.Expr]  # the coefficients' ingredients (k1…k4, E, I), each a law

    def to_sympy(self, symbols: Sequence[sympy.Symbol] | None = None) -> sympy.Expr:
        """A display form: Σ_i sign(ρ_i) ∫_{r_i}^{ξ_i} dς/√R(ς), with ξ_i written through t and δ and
        r_i a base point that depends on the laws only (``values`` takes the root of R below ξ_i)."""
        s = sympy.Symbol("varsigma")
        disc = sympy.sqrt(self.t ** 2 - 4 * self.delta ** 2)
        out = 0
        for i, xi_i in enumerate(((self.t + disc) / 2, (self.t - disc) / 2), 1):
            rho = self.delta * self.epsilon - self.phi * xi_i
            base = sympy.Symbol(f"r_{i}")
            integral = sympy.Integral(1 / sympy.sqrt(self.R.subs(self.xi, s)), (s, base, xi_i))
            out += sympy.sign(rho) * integral
        return out

    def describe(self) -> list[str]:
        """The law in words and formulas, in the model's names (U1 = wᵀ, U2 = B, U3 = u): one line
        for h, then its ingredients."""
        return [
            "Σ_i sign(δε − φξ_i) ∫^{ξ_i} dς/√R(ς), with ξ1, ξ2 the eigenvalues of U2ᵀU2",
            "R(ξ) = ξ⁵ + (k2 − k1)ξ⁴ + (k3 + k4 − k1k2)ξ³ − (E + k1(k3 + k4))ξ² + Iξ, where",
            "a = |U3|², δ = det U2, φ = U1U2U3, ε = U1 adj(U2)ᵀ U3 (= X δ),",
            "k1 = tr Q1, k2 = tr Q2, k3 = det Q1, k4 = det Q2 (Q1 = U2ᵀU2 − U3U3ᵀ, Q2 = U1ᵀU1 − U2U2ᵀ),",
            "and the laws",
            "E = ε² − φ² + a³ + (2k1 + k2)a² + (k1² + k1k2 + k3 + k4)a − (2a + k1 + k2)δ²,",
            "I = ‖U2‖²ε² − 2δεφ + (a² + (k1 + k2)a + k3 + k4)δ² − δ⁴",
        ]


def applies(family: FieldFamily) -> bool:
    """True for Euclidean gradient flow of ``linear`` with dims [1, 2, 2, 1] (the case of this module)."""
    model = family.model
    return (getattr(model, "name", None) == "linear" and tuple(getattr(model, "dims", ())) == DIMS
            and not getattr(model, "bias", False) and family.flow.kind == "gradient"
            and family.drift is None and len(family.forces) == 1
            and family.geometry == "euclidean" and not family.flow.weight_decay)


def _blocks(family: FieldFamily):
    """u, B, w as sympy matrices in the family's symbols (U1 = wᵀ, U2 = B, U3 = u)."""
    syms = family.symbols
    w = sympy.Matrix(2, 1, syms[0:2])
    B = sympy.Matrix(2, 2, syms[2:6])
    u = sympy.Matrix(2, 1, syms[6:8])
    return u, B, w


def balancedness(family: FieldFamily) -> list[sympy.Expr]:
    """The six entries of Q1 = BᵀB − uuᵀ and Q2 = wwᵀ − BBᵀ."""
    u, B, w = _blocks(family)
    Q1, Q2 = B.T * B - u * u.T, w * w.T - B * B.T
    return [sympy.expand(Q[i, j]) for Q in (Q1, Q2) for i, j in ((0, 0), (0, 1), (1, 1))]


def abelian_law(family: FieldFamily) -> AbelianLaw:
    """The seventh law of the module docstring, built from the formulas (ii) and R; not yet verified."""
    u, B, w = _blocks(family)
    Q1, Q2 = B.T * B - u * u.T, w * w.T - B * B.T
    a = (u.T * u)[0]
    t = sympy.expand((B.T * B).trace())
    delta = sympy.expand(B.det())
    phi = sympy.expand((w.T * B * u)[0])
    epsilon = sympy.expand((u.T * B.adjugate() * w)[0])
    k1, k2, k3, k4 = (sympy.expand(x) for x in (Q1.trace(), Q2.trace(), Q1.det(), Q2.det()))
    E = sympy.expand(epsilon**2 - phi**2 + a**3 + (2 * k1 + k2) * a**2
                     + (k1**2 + k1 * k2 + k3 + k4) * a - (2 * a + k1 + k2) * delta**2)
    I = sympy.expand(t * epsilon**2 - 2 * delta * epsilon * phi
                     + (a**2 + (k1 + k2) * a + k3 + k4) * delta**2 - delta**4)
    xi = sympy.Symbol("xi")
    R = (xi**5 + (k2 - k1) * xi**4 + (k3 + k4 - k1 * k2) * xi**3
         - (E + k1 * (k3 + k4)) * xi**2 + I * xi)
    return AbelianLaw(t, delta, phi, epsilon, R, xi,
                      {"k1": k1, "k2": k2, "k3": k3, "k4": k4, "E": E, "I": I})


def _apply(family: FieldFamily, expr: sympy.Expr) -> sympy.Expr:
    X = family.forces[0].to_sympy(family.symbols)
    return sympy.expand(sum(X[j] * sympy.diff(expr, s) for j, s in enumerate(family.symbols)))


def verify(law: AbelianLaw, family: FieldFamily) -> bool:
    """The exact checks (i)–(iii) of the module docstring, for the family's own field."""
    from .laws import check_law

    if _apply(family, law.t) - 2 * law.phi != 0 or _apply(family, law.delta) - law.epsilon != 0:
        return False
    if not all(check_law(c, family) for c in law.laws.values()):
        return False
    xi = law.xi
    target = sympy.Poly(sympy.expand(law.R - (law.delta * law.epsilon - law.phi * xi) ** 2), xi)
    modulus = sympy.Poly(xi**2 - law.t * xi + law.delta**2, xi)
    remainder = target.rem(modulus)  # monic modulus: exact over Q[θ]
    return all(sympy.expand(c) == 0 for c in remainder.all_coeffs())


def _rational_point(family: FieldFamily, law: AbelianLaw, seed: int = 0):
    """A rational point with B = P diag(σ) Qᵀ (rational rotations), so ξ_i = σ_i² are rational,
    and ξ1 ≠ ξ2, ρ1ρ2 ≠ 0. Returns the substitution and (ξ1, ξ2)."""
    import random

    rng = random.Random(seed)
    triples = [(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29)]
    for _ in range(200):
        (p1, p2, p3), (q1, q2, q3) = rng.choice(triples), rng.choice(triples)
        P = sympy.Matrix([[p1, -p2], [p2, p1]]) / p3
        Q = sympy.Matrix([[q1, -q2], [q2, q1]]) / q3
        s1, s2 = (sympy.Rational(rng.randint(1, 9), rng.randint(1, 4)) for _ in range(2))
        if s1 == s2:
            continue
        B = P * sympy.diag(s1, s2) * Q.T
        w = [sympy.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(2)]
        u = [sympy.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(2)]
        values = w + list(B) + u  # row-major B, as the symbols U2[0,0], U2[0,1], U2[1,0], U2[1,1]
        point = dict(zip(family.symbols, values))
        xis = (s1**2, s2**2)
        d, e, f = (x.subs(point) for x in (law.delta, law.epsilon, law.phi))
        if all(d * e - f * x != 0 for x in xis):
            return point, xis
    raise RuntimeError("no admissible rational point found")  # pragma: no cover (200 draws)


def _gradient(expr: sympy.Expr, syms, point) -> list[Fraction]:
    return [Fraction(str(sympy.diff(expr, s).subs(point))) for s in syms]


def _rank(rows: list[list[Fraction]]) -> int:
    """Exact rank over Q (FLINT)."""
    from flint import fmpq, fmpq_mat

    if not rows:
        return 0
    return fmpq_mat(len(rows), len(rows[0]),
                    [fmpq(x.numerator, x.denominator) for row in rows for x in row]).rank()


def _ranks(law: AbelianLaw, family: FieldFamily, polynomial_laws: Sequence[sympy.Expr],
           seed: int) -> tuple[int, int, int]:
    """Exact ranks at one rational point: of the polynomial laws; with E, I; and with v added."""
    point, (x1, x2) = _rational_point(family, law, seed)
    syms = family.symbols
    rows = [_gradient(h, syms, point) for h in polynomial_laws]
    alone = _rank(rows)
    rows += [_gradient(law.laws[k], syms, point) for k in ("E", "I")]
    base = _rank(rows)
    d, e, f = (Fraction(str(x.subs(point))) for x in (law.delta, law.epsilon, law.phi))
    x1, x2 = Fraction(str(x1)), Fraction(str(x2))
    grad_t, grad_d2 = _gradient(law.t, syms, point), _gradient(law.delta**2, syms, point)
    g1 = [(gd - x1 * gt) / (x2 - x1) for gt, gd in zip(grad_t, grad_d2)]
    g2 = [(gd - x2 * gt) / (x1 - x2) for gt, gd in zip(grad_t, grad_d2)]
    r1, r2 = d * e - f * x1, d * e - f * x2
    v = [a / r1 + b / r2 for a, b in zip(g1, g2)]
    return alone, base, _rank(rows + [v])


def independent_count(law: AbelianLaw, family: FieldFamily, polynomial_laws: Sequence[sympy.Expr],
                      seed: int = 0) -> tuple[int, int]:
    """(rank of the polynomial laws with E, I;  rank with v added), exactly, at a rational point
    (module docstring, Independence). The Abelian law is independent of them iff the second is larger."""
    return _ranks(law, family, polynomial_laws, seed)[1:]


def search(family: FieldFamily, polynomial_laws: Sequence[sympy.Expr],
           seed: int = 0) -> tuple[list[AbelianLaw], int]:
    """The Abelian laws this module knows for ``family``, exactly verified and independent of
    ``polynomial_laws``, and the proved number of independent laws among both: ([], 0) when the
    module does not cover the family or a check fails."""
    if not applies(family):
        return [], 0
    law = abelian_law(family)
    if not verify(law, family):
        return [], 0
    alone, base, extended = _ranks(law, family, polynomial_laws, seed)
    if base != alone or extended <= base:  # E, I must add nothing; the new law must add one
        return [], 0
    return [law], extended


def coordinates(law: AbelianLaw, family: FieldFamily, states: Sequence[Sequence[float]]):
    """Numerically, at sampled states: an array (n, 4) of ξ1 ≥ ξ2 (the eigenvalues of BᵀB) and
    ρ1, ρ2 (ρ_i = δε − φξ_i, whose sign changes where ξ_i turns)."""
    import numpy as np

    fn = sympy.lambdify([family.symbols], [law.t, law.delta, law.phi, law.epsilon], "numpy")
    rows = []
    for theta in states:
        t, d, f, e = fn(np.asarray(theta, dtype=float))
        disc = np.sqrt(max(t * t - 4 * d * d, 0.0))
        x1, x2 = (t + disc) / 2, (t - disc) / 2
        rows.append((x1, x2, d * e - f * x1, d * e - f * x2))
    return np.array(rows, dtype=float)


def values(law: AbelianLaw, family: FieldFamily, states: Sequence[Sequence[float]]) -> list[float]:
    """Numerically, h(θ_k) = Σ_i sign(ρ_i) ∫_{r_i}^{ξ_i} dς/√R(ς) at sampled states θ_k of one trajectory,
    with R frozen at θ_0 (exact: its coefficients are laws) and r_i the largest real root of R below
    ξ_i(θ_0) (a function of the laws: the turning point of ξ_i below, where the integral stays
    continuous as ρ_i changes sign). NaN where R is not positive on (r_i, ξ_i)."""
    import numpy as np
    from scipy.integrate import quad

    coeff = sympy.lambdify([family.symbols], sympy.Poly(law.R, law.xi).all_coeffs(), "numpy")
    c0 = np.array(coeff(np.asarray(states[0], dtype=float)), dtype=float)
    real_roots = np.sort([z.real for z in np.roots(c0) if abs(z.imag) < 1e-9])
    coords = coordinates(law, family, states)  # ξ1, ξ2, ρ1, ρ2 per state
    bases = [max([r for r in real_roots if r <= x + 1e-12], default=np.nan) for x in coords[0, :2]]
    out = []
    for x1, x2, rho1, rho2 in coords:
        total = 0.0
        for x, sign, r in ((x1, np.sign(rho1), bases[0]), (x2, np.sign(rho2), bases[1])):
            grid = r + (x - r) * np.linspace(0, 1, 65)[1:]
            if np.isnan(r) or np.any(np.polyval(c0, grid) <= 0):
                total = float("nan")
                break
            # R(ς) = (ς − r)S(ς) and ς = r + (x − r)z²: dς/√R = 2√(x − r) dz/√S(ς), regular at
            # z = 0 and free of the cancellation that evaluating R near its root would bring
            S = np.polydiv(c0, [1.0, -r])[0]
            value = quad(lambda z: 2 * np.sqrt(x - r) / np.sqrt(np.polyval(S, r + (x - r) * z * z)),
                         0, 1, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
            total += sign * value
        out.append(total)
    return out
