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
from .lie import LieResult, ModularField, count_laws, random_prime
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
        """The laws with s replaced by e^{γt} (``Flow.in_time``: γ = τ for the heavy ball, λ for GF
        with weight decay, the oscillator's rate with both); otherwise unchanged."""
        return [self.family.flow.in_time(e) for e in self.expressions]

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


_SLAB_ENTRIES = 4_000_000  # entries of the dense random slab in the compressed solve
#: Largest number of unknown coefficients in one homogeneous block (dense (n + 8) × n solve mod p;
#: about 8 s and 0.6 GB at 2900 unknowns on one core, growing like n³ and n²).
MAX_BLOCK_UNKNOWNS = 4_000


def _dense_mod_p(rows: list[dict[int, int]], ncols: int, p: int) -> np.ndarray:
    A = np.zeros((len(rows), ncols), dtype=np.int64)
    rr = [r for r, row in enumerate(rows) for _ in row]
    cc = [c for row in rows for c in row]
    A[rr, cc] = [v % p for row in rows for v in row.values()]
    return A


def _compressed_mod_p(rows: list[dict[int, int]], ncols: int, p: int, rng: random.Random) -> np.ndarray:
    """R·A mod p for a uniformly random (ncols + 8) × len(rows) matrix R, without forming A densely.

    A is very sparse (a few terms per row), so R·A costs 3·nnz(A)·(ncols + 8) exact float64
    multiply-adds (the 16-bit split of ``lie._mulmod``, with scipy's sparse product); R is drawn a slab
    of rows at a time. The rank of A is kept with probability ≥ 1 − ncols/p, and a loss is caught by
    the exact verification of the lifted kernel anyway.
    """
    from scipy import sparse

    m = ncols + 8
    rr = np.fromiter((r for r, row in enumerate(rows) for _ in row), dtype=np.int64)
    cc = np.fromiter((c for row in rows for c in row), dtype=np.int64)
    vv = np.array([v % p for row in rows for v in row.values()], dtype=np.int64)
    lo = sparse.csr_matrix(((vv & 0xFFFF).astype(np.float64), (rr, cc)), shape=(len(rows), ncols))
    hi = sparse.csr_matrix(((vv >> 16).astype(np.float64), (rr, cc)), shape=(len(rows), ncols))
    both = lo + hi
    gen = np.random.default_rng(rng.randrange(2**63))
    out = np.zeros((m, ncols), dtype=np.int64)
    slab = max(1, _SLAB_ENTRIES // m)
    shift32 = 2**32 % p
    for start in range(0, len(rows), slab):
        stop = min(start + slab, len(rows))
        R = gen.integers(0, p, size=(m, stop - start), dtype=np.int64)
        R0 = (R & 0xFFFF).astype(np.float64)
        R1 = (R >> 16).astype(np.float64)
        P0 = np.asarray(lo[start:stop].T @ R0.T).T.astype(np.int64)
        P2 = np.asarray(hi[start:stop].T @ R1.T).T.astype(np.int64)
        P1 = np.asarray(both[start:stop].T @ (R0 + R1).T).T.astype(np.int64) - P0 - P2
        out = (out + (P2 % p) * shift32 % p + (P1 % p) * 65536 + P0 % p) % p
    return out


def _kernel_mod_p(rows: list[dict[int, int]], ncols: int, p: int, rng: random.Random, compress: bool) -> list[list[int]]:
    """Kernel basis of the sparse integer matrix mod p, optionally row-compressed.

    The basis is the one read off the reduced row-echelon form: one vector per free column f, with
    1 in f, 0 in the other free columns and −rref[r, f] in the pivot column of row r (FLINT's nullspace).
    """
    from flint import nmod_mat

    if not rows:
        return [[1 if j == i else 0 for j in range(ncols)] for i in range(ncols)]
    if compress and len(rows) > ncols + 8:
        A = _compressed_mod_p(rows, ncols, p, rng)
    else:
        A = _dense_mod_p(rows, ncols, p)
    X, nullity = nmod_mat(A.shape[0], ncols, A.ravel().tolist(), p).nullspace()
    return [[int(X[i, j]) for i in range(ncols)] for j in range(nullity)]


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
    # one modular solve; if it fails verification, a second one with a fresh random compression
    # (a failed compression is the likely cause), then the exact rational solve
    for _attempt in range(2 if len(rows_int) > len(monos) + 8 else 1):
        basis = _kernel_mod_p(rows_int, len(monos), p, rng, compress=True)
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


def default_time_degree(flow: Flow, degree: int) -> int:
    """Largest power of the time coordinate searched by default: 3 for Nesterov's t (t³J), 1 for
    s = e^{τt} or t without decay; with weight decay λ, ``flows.decay_time_degree``."""
    if flow.weight_decay:
        from .flows import decay_time_degree

        return decay_time_degree(flow, degree)
    if flow.time_variable is None:
        return 0
    return 3 if flow.kind == "nesterov" else 1


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
    has_time = family.flow.time_variable is not None  # momentum, or GF with weight decay
    if time_degree is None:
        time_degree = default_time_degree(family.flow, degree)
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
    biggest = max((len(b) for b in blocks), default=0)
    if biggest > MAX_BLOCK_UNKNOWNS:
        raise invalid("degree", degree, f"one homogeneous block has {biggest} unknown coefficients; the solver's limit "
                      f"is {MAX_BLOCK_UNKNOWNS} per block (lower the degree or the time degree)")
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


def linear_coefficients(expressions: Sequence[sympy.Expr], variable_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(C, c) with h_k(θ) = Σ_j C_kj θ_j + c_k, for laws of degree ≤ 1 in the named variables.

    Linear laws (NMF's column sums h_k = Σ_i U_ik − Σ_j V_kj) can then be evaluated along a long run or a
    large model as one matrix product ``theta @ C.T + c``, without compiling the expressions.
    """
    index = {str(n): j for j, n in enumerate(variable_names)}
    C = np.zeros((len(expressions), len(index)))
    c = np.zeros(len(expressions))
    for k, e in enumerate(expressions):
        for term, coeff in sympy.expand(sympy.sympify(e)).as_coefficients_dict().items():
            if term == 1:
                c[k] += float(coeff)
            elif isinstance(term, sympy.Symbol) and str(term) in index:
                C[k, index[str(term)]] += float(coeff)
            else:
                raise invalid("expressions", e, f"polynomials of degree ≤ 1 in the given variables (term {term} is not)")
    return C, c


def check_law(expr: sympy.Expr, family: FieldFamily, simplify: bool = False) -> bool:
    """Symbolic check that ⟨∇h, X⟩ simplifies to 0 for every generator X of the family.

    Polynomial (and rational) h need only ``sympy.expand``; ``simplify=True`` uses ``sympy.simplify``
    instead, for laws with logarithms or other transcendental functions (slower).
    """
    syms = family.symbols
    grad = [sympy.diff(expr, s) for s in syms]
    reduce = sympy.simplify if simplify else sympy.expand
    for X in family.generators:
        comps = X.to_sympy(syms)
        if reduce(sum(g * c for g, c in zip(grad, comps) if g != 0 and c != 0)) != 0:
            return False
    return True
