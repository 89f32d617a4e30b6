"""Polynomial conservation laws: all of them up to a degree, exactly, with a completeness certificate.

A polynomial h is a law of the family W iff X(h) = ⟨∇h, X⟩ ≡ 0 for every X ∈ W. Writing
h = Σ_m c_m m over the monomials m up to the chosen degree turns this into a linear system
A c = 0 with exact rational entries, one row per (field, monomial of X(m)).

Solving it.
* The system splits by degree: when every field shifts the (state) degree by a fixed amount, each
  homogeneous part of a law is a law, so each degree is solved on its own (the same for the power
  of s = e^{τt}, which τ s ∂_s preserves).
* The kernel is computed mod a prime below 2^31 after compressing the rows by a random projection,
  then lifted to Q by rational reconstruction, and finally **verified exactly** over Q
  (A c = 0 in exact rationals). If the projection or the lift failed, verification says so and the
  solver falls back to exact rational elimination.

The number of *independent* laws is the rank of their gradients at a random point mod p, which
never exceeds the rank over Q: a certified lower bound on the number of laws. ``lie.count_laws``
gives the upper bound N − K. When the two meet, the list is **complete**: every law is locally a
function of the ones printed, and the count is proved.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Sequence

import numpy as np
import sympy

from .errors import invalid
from .flows import FieldFamily, Flow, vector_fields
from .lie import LieResult, ModularField, _mulmod, count_laws, random_prime
from .models import Model
from .polynomial import Polynomial, VectorField

MAX_UNKNOWNS = 60_000


@dataclass
class LawsResult:
    """Polynomial laws up to ``degree`` and how far they are from the full count."""

    family: FieldFamily
    laws: list[Polynomial]
    independent: int
    upper_bound: int  # N − K from the Lie engine
    lie: LieResult
    degree: int
    time_degree: int
    verified: bool
    seconds: float
    unknowns: int
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when the exhibited laws are as many as the Lie count allows: a certificate."""
        return self.verified and self.independent == self.upper_bound

    @property
    def expressions(self) -> list[sympy.Expr]:
        syms = self.family.symbols
        return [h.to_sympy(syms) for h in self.laws]

    def in_time(self) -> list[sympy.Expr]:
        """The laws with s replaced by e^{τt} (heavy ball, τ > 0); otherwise unchanged."""
        flow = self.family.flow
        exprs = self.expressions
        if flow.time_variable != "s":
            return exprs
        s = sympy.Symbol("s", real=True)
        t = sympy.Symbol("t", real=True)
        tau = sympy.Rational(flow.tau.numerator, flow.tau.denominator)
        return [sympy.factor_terms(e.subs(s, sympy.exp(tau * t))) for e in exprs]

    def latex(self) -> list[str]:
        names = self.family.latex_names()
        return [sympy.latex(e, symbol_names=names) for e in self.in_time()]

    def verdict(self) -> str:
        if self.complete:
            return (f"complete: {self.independent} independent laws found = N − K = {self.upper_bound} "
                    "(certified: exact verification + Lie upper bound)")
        return (f"incomplete at degree ≤ {self.degree}: {self.independent} independent laws found, "
                f"the Lie count allows {self.upper_bound}")


# --- the linear system -----------------------------------------------------------------------
def _apply(X: VectorField, mono: tuple[int, ...]) -> dict[tuple[int, ...], Fraction]:
    """X(m) for a monomial m: Σ_j X_j ∂_j m (exact)."""
    out: dict[tuple[int, ...], Fraction] = {}
    for j in set(mono):
        Xj = X.components[j]
        if not Xj:
            continue
        k = mono.count(j)
        i = mono.index(j)
        rest = mono[:i] + mono[i + 1 :]
        for m, c in Xj.items():
            key = tuple(sorted(rest + m))
            out[key] = out.get(key, 0) + c * k
    return {m: c for m, c in out.items() if c}


def _shift(X: VectorField, weights: Sequence[int]) -> set[int]:
    """The set of weighted-degree shifts of X's terms (one element iff X is homogeneous)."""
    shifts = set()
    for k, poly in enumerate(X.components):
        for m in poly:
            shifts.add(sum(weights[i] for i in m) - weights[k])
    return shifts


def _graded(fields: Sequence[VectorField], weights: Sequence[int]) -> bool:
    return all(len(_shift(X, weights)) <= 1 for X in fields)


def _monomials(variables: Sequence[int], degree: int) -> list[tuple[int, ...]]:
    return [tuple(c) for c in itertools.combinations_with_replacement(variables, degree)]


def _kernel_mod_p(rows: list[dict[int, int]], ncols: int, p: int, rng: random.Random, compress: bool) -> list[list[int]]:
    """Kernel basis of the sparse integer matrix mod p (from its RREF), optionally row-compressed."""
    from flint import nmod_mat

    if not rows:
        return [[1 if j == i else 0 for j in range(ncols)] for i in range(ncols)]
    A = np.zeros((len(rows), ncols), dtype=np.int64)
    for r, row in enumerate(rows):
        for c, v in row.items():
            A[r, c] = v % p
    if compress and len(rows) > ncols + 8:
        R = np.array([[rng.randrange(p) for _ in range(len(rows))] for _ in range(ncols + 8)], dtype=np.int64)
        A = _mulmod(R, A, p)
    rref, rank = nmod_mat(A.tolist(), p).rref()
    R = np.array([[int(x) for x in row] for row in rref.tolist()[:rank]], dtype=np.int64).reshape(rank, ncols)
    pivots = [int(np.flatnonzero(R[r])[0]) for r in range(rank)]
    pivot_set = set(pivots)
    basis = []
    for f in (c for c in range(ncols) if c not in pivot_set):
        v = [0] * ncols
        v[f] = 1
        for r, c in enumerate(pivots):
            v[c] = int(-R[r, f] % p)
        basis.append(v)
    return basis


def _rational_reconstruction(a: int, p: int) -> Fraction | None:
    """The fraction n/d ≡ a (mod p) with |n|, d ≤ sqrt(p/2), if it exists."""
    bound = int((p // 2) ** 0.5)
    r0, r1, s0, s1 = p, a % p, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        s0, s1 = s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        return None
    return Fraction(r1, s1) if s1 > 0 else Fraction(-r1, -s1)


def _kernel_exact(rows: list[dict[int, Fraction]], ncols: int) -> list[list[Fraction]]:
    """Exact kernel over Q (fallback), by flint's rational RREF."""
    from flint import fmpq, fmpq_mat

    if not rows:
        return [[Fraction(int(i == j)) for j in range(ncols)] for i in range(ncols)]
    M = fmpq_mat(len(rows), ncols)
    for r, row in enumerate(rows):
        for c, v in row.items():
            M[r, c] = fmpq(v.numerator, v.denominator)
    rref, rank = M.rref()
    pivots, r = [], 0
    for c in range(ncols):
        if r < rank and rref[r, c] == 1:
            pivots.append(c)
            r += 1
    free = [c for c in range(ncols) if c not in set(pivots)]
    basis = []
    for f in free:
        v = [Fraction(0)] * ncols
        v[f] = Fraction(1)
        for r, c in enumerate(pivots):
            q = rref[r, f]
            v[c] = -Fraction(int(q.p), int(q.q))
        basis.append(v)
    return basis


def _verify(rows: list[dict[int, Fraction]], vectors: list[list[Fraction]]) -> bool:
    return all(sum(v * vec[c] for c, v in row.items()) == 0 for vec in vectors for row in rows)


def _solve_block(fields: Sequence[VectorField], monos: list[tuple[int, ...]], rng: random.Random) -> tuple[list[Polynomial], bool]:
    """All polynomial laws spanned by the monomials ``monos`` (exact, verified)."""
    index = {m: i for i, m in enumerate(monos)}
    rows_exact: list[dict[int, Fraction]] = []
    for X in fields:
        image: dict[tuple[int, ...], dict[int, Fraction]] = {}
        for m in monos:
            for out_m, c in _apply(X, m).items():
                image.setdefault(out_m, {})[index[m]] = c
        rows_exact.extend(image.values())
    # integer rows (clear denominators row by row) for the modular solve
    rows_int = []
    for row in rows_exact:
        den = 1
        for v in row.values():
            den = den * v.denominator // gcd(den, v.denominator)
        rows_int.append({c: int(v * den) for c, v in row.items()})
    p = random_prime(rng)
    vectors: list[list[Fraction]] | None = None
    for compress in (True, False):
        basis = _kernel_mod_p(rows_int, len(monos), p, rng, compress)
        lifted = []
        for vec in basis:
            fr = [_rational_reconstruction(a, p) for a in vec]
            if any(f is None for f in fr):
                lifted = None
                break
            lifted.append(fr)
        if lifted is not None and _verify(rows_exact, lifted):
            vectors = lifted
            break
    if vectors is None:
        vectors = _kernel_exact(rows_exact, len(monos))
    laws = []
    for vec in vectors:
        h = Polynomial({monos[i]: c for i, c in enumerate(vec) if c})
        # normalise: integer coefficients with gcd 1, first coefficient positive
        den = 1
        for c in h.values():
            den = den * c.denominator // gcd(den, c.denominator)
        h = h * den
        g = 0
        for c in h.values():
            g = gcd(g, int(c))
        first = h[min(h)]
        h = h * Fraction(1 if first > 0 else -1, g or 1)
        laws.append(h)
    return laws, _verify(rows_exact, vectors)


def independent_count(laws: Sequence[Polynomial], N: int, seed: int = 0) -> int:
    """Rank of the gradients of the laws at a random point mod p (a certified lower bound)."""
    if not laws:
        return 0
    rng = random.Random(seed)
    p = random_prime(rng)
    point = np.array([rng.randrange(1, p) for _ in range(N)] + [1], dtype=np.int64)
    rows = []
    for h in laws:
        # a law is a scalar: view it as a one-component field to reuse the modular Jacobian
        field_ = VectorField((h,) + (Polynomial(),) * (N - 1))
        _, J = ModularField.from_exact(field_, p).value_and_jacobian(point)
        rows.append(J[0])
    from flint import nmod_mat

    return int(nmod_mat(np.array(rows).tolist(), p).rank())


def polynomial_laws(model: Model | FieldFamily, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
                    degree: int = 2, time_degree: int | None = None, seed: int = 0,
                    lie: LieResult | None = None) -> LawsResult:
    """Every polynomial law of degree ≤ ``degree`` in θ (and v), times powers of the time variable up to
    ``time_degree`` (default: 1 for s = e^{τt}, 3 for Nesterov's t, 1 for τ = 0), exactly."""
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise invalid("degree", degree, "a positive integer")
    if time_degree is not None and (isinstance(time_degree, bool) or not isinstance(time_degree, int) or time_degree < 0):
        raise invalid("time_degree", time_degree, "a non-negative integer")
    t0 = time.perf_counter()
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry)
    fields = [g for g in family.generators if not g.is_zero()]
    N = family.N
    has_time = family.flow.is_momentum
    if time_degree is None:
        time_degree = (3 if family.flow.kind == "nesterov" else 1) if has_time else 0
    if not has_time:
        time_degree = 0
    state = list(range(1, N)) if has_time else list(range(N))
    state_w = [0 if (has_time and i == 0) else 1 for i in range(N)]
    time_w = [1 if (has_time and i == 0) else 0 for i in range(N)]
    state_graded = _graded(fields, state_w)
    time_graded = has_time and _graded(fields, time_w)
    rng = random.Random(seed)

    blocks: list[list[tuple[int, ...]]] = []
    time_powers = [(0,) * a for a in range(time_degree + 1)]
    degrees = range(1, degree + 1)
    if state_graded:
        for d in degrees:
            base = _monomials(state, d)
            if time_graded:
                blocks += [[tuple(sorted(tp + m)) for m in base] for tp in time_powers]
            else:
                blocks.append([tuple(sorted(tp + m)) for tp in time_powers for m in base])
    else:
        base = [m for d in degrees for m in _monomials(state, d)]
        if time_graded:
            blocks += [[tuple(sorted(tp + m)) for m in base] for tp in time_powers]
        else:
            blocks.append([tuple(sorted(tp + m)) for tp in time_powers for m in base])
    unknowns = sum(len(b) for b in blocks)
    if unknowns > MAX_UNKNOWNS:
        raise invalid("degree", degree, f"this asks for {unknowns} unknown coefficients; the limit is {MAX_UNKNOWNS} "
                      "(lower the degree or the time degree)")
    laws: list[Polynomial] = []
    verified = True
    for monos in blocks:
        found, ok = _solve_block(fields, monos, rng)
        laws += found
        verified &= ok
    lie = lie or count_laws(family, seed=seed)
    independent = independent_count(laws, N, seed=seed + 1)
    notes = []
    if not state_graded:
        notes.append("fields are not homogeneous: all degrees were solved together")
    return LawsResult(family, laws, independent, lie.laws, lie, degree, time_degree, verified,
                      time.perf_counter() - t0, unknowns, notes)


def same_span(first: Sequence[sympy.Expr], second: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]) -> bool:
    """Whether two lists of polynomials span the same vector space (exact, over Q)."""
    polys = [sympy.Poly(sympy.expand(e), *symbols) for e in list(first) + list(second)]
    monos = sorted({m for p in polys for m in p.monoms()})
    idx = {m: i for i, m in enumerate(monos)}

    def rank(ps):
        M = sympy.zeros(len(ps), len(monos))
        for r, p in enumerate(ps):
            for m, c in p.terms():
                M[r, idx[m]] = c
        return M.rank()

    a, b = polys[: len(first)], polys[len(first) :]
    ra, rb = rank(a), rank(b)
    return ra == rb == rank(a + b)


def check_law(expr: sympy.Expr, family: FieldFamily) -> bool:
    """Symbolic check that ⟨∇h, X⟩ simplifies to 0 for every generator X of the family."""
    syms = family.symbols
    grad = [sympy.diff(expr, s) for s in syms]
    for X in family.generators:
        comps = X.to_sympy(syms)
        if sympy.expand(sum(g * c for g, c in zip(grad, comps) if g != 0 and c != 0)) != 0:
            return False
    return True
