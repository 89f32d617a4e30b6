"""How laws are counted: the dimension of the trace of the generated Lie algebra.

Let W be the family of polynomial vector fields of a model and a flow (``flows.vector_fields``), on a
space of dimension N. The number of independent conservation laws near a generic point is
N − K, with K = dim Lie(W)(ξ) (Frobenius). K is computed by the bracket construction

    V_1 = span W,   V_{k+1} = V_k + [W, V_k],   stop when no new direction appears,

evaluated at one random point ξ0 of F_p^N (p a random prime below 2^31), with exact rank mod p.

Why it is fast. Brackets are *expanded only for the survivors*: the value of a candidate
[g, b] at ξ0 is Db(ξ0)·g(ξ0) − Dg(ξ0)·b(ξ0), a pair of matrix–vector products once the Jacobians
of the survivor b and of the generator g at ξ0 are known. Only a candidate whose value is
independent of the current span is expanded as a polynomial field (it is needed for the next
round). Independence is tested against a reduced row-echelon basis: first by a random sketch (a
candidate c is kept for exact elimination iff the residual of c modulo the span has a non-zero
product with two random vectors, computed from the sparse Jacobians in O(N) per candidate instead
of O(N·K)), then exactly, by incremental elimination, for the few candidates that pass. Large
products mod p run through float64 BLAS, exactly (``_mulmod``). Pruning dependent candidates is
legitimate: near a generic point, a field whose value lies in the span of the kept fields is a
combination of them with smooth coefficients, so its brackets add nothing new.

What is certified.
* Always: K_computed ≤ K (values independent mod p are independent over Q), so N − K_computed is
  an upper bound on the number of laws.
* With probability ≥ 1 − δ: equality, where δ = Σ deg(kept fields) / p (Schwartz–Zippel applied
  to one K×K minor: if it does not vanish at ξ0, every decision of the run is the generic one)
  + T / p² (T sketch tests, each of which misses a non-zero residual with probability 1/p²: the
  two random vectors are drawn after the candidates are known). Independent repeats multiply the
  bounds.
* Deterministically, when ``laws.polynomial_laws`` exhibits N − K_computed independent, exactly
  verified laws (lower bound = upper bound).
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from ._lazy import sympy

from .errors import invalid
from .flows import FieldFamily, Flow, vector_fields
from .models import Model, make_model
from .polynomial import VectorField

PRIME_RANGE = (2**30, 2**31)


def random_prime(rng: random.Random) -> int:
    """A uniformly placed prime in [2^30, 2^31): products of two residues fit in int64."""
    return _next_prime(rng.randrange(*PRIME_RANGE))


def _next_prime(n: int) -> int:
    """The smallest prime > n, for n < 3 215 031 751 (sympy.nextprime without importing sympy).

    Miller–Rabin with the bases 2, 3, 5, 7 is deterministic below 3 215 031 751.
    """
    if n >= 3_215_031_751:
        raise ValueError(f"n = {n} is beyond the deterministic range")

    def is_prime(m: int) -> bool:
        if m < 2:
            return False
        for q in (2, 3, 5, 7):
            if m % q == 0:
                return m == q
        d, r = m - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for a in (2, 3, 5, 7):
            x = pow(a, d, m)
            if x in (1, m - 1):
                continue
            for _ in range(r - 1):
                x = x * x % m
                if x == m - 1:
                    break
            else:
                return False
        return True

    m = n + 1
    while not is_prime(m):
        m += 1
    return m


def _mulmod(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """(A @ B) mod p for residues in [0, p), p < 2^31, exactly.

    Large products go through float64 BLAS: with A = A1·2^16 + A0 and B = B1·2^16 + B0 (A0, B0 < 2^16,
    A1, B1 < 2^15) the three products A0·B0, A1·B1 and (A0 + A1)·(B0 + B1) have non-negative integer
    entries below n·2^34 ≤ 2^53 for inner dimension n ≤ 2^19, so every floating-point partial sum is an
    exact integer, whatever the summation order (Karatsuba). Small or skinny products stay in int64.
    """
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64)
    n = A.shape[1] if A.ndim == 2 else 0
    if A.shape[0] == 0 or B.ndim < 2 or B.shape[1] == 0 or n == 0:
        return np.zeros((A.shape[0], B.shape[1] if B.ndim == 2 else 0), dtype=np.int64)
    if n > _FLOAT_INNER_LIMIT or A.shape[0] * n * B.shape[1] < _FLOAT_MIN_WORK or min(A.shape[0], B.shape[1]) < 8:
        lo = (A & 0xFFFF) @ B % p
        hi = (A >> 16) @ B % p
        return (hi * 65536 + lo) % p
    A0 = (A & 0xFFFF).astype(np.float64)
    A1 = (A >> 16).astype(np.float64)
    B0 = (B & 0xFFFF).astype(np.float64)
    B1 = (B >> 16).astype(np.float64)
    P0 = (A0 @ B0).astype(np.int64)
    P2 = (A1 @ B1).astype(np.int64)
    P1 = ((A0 + A1) @ (B0 + B1)).astype(np.int64) - P0 - P2
    return ((P2 % p) * (2**32 % p) + (P1 % p) * 65536 + P0 % p) % p


_FLOAT_INNER_LIMIT = 2**19  # exactness of the float64 path (see _mulmod)
_FLOAT_MIN_WORK = 32_768  # below this many multiply-adds the int64 path is as fast
_CANDIDATE_ROWS = 2048  # bracket candidates tested together against the span
_SKETCH_VECTORS = 2  # random vectors of the membership sketch (miss probability p^-2 per test)


class ModularField:
    """A polynomial vector field mod p as flat arrays of terms: component, monomial, coefficient.

    A monomial is a row of sorted variable indices, padded with the sentinel N (whose value is 1).
    """

    __slots__ = ("comp", "mono", "coef", "N", "p", "degree")

    def __init__(self, comp: np.ndarray, mono: np.ndarray, coef: np.ndarray, N: int, p: int):
        self.N, self.p = N, p
        keep = coef != 0
        comp, mono, coef = comp[keep], mono[keep], coef[keep]
        if mono.shape[1]:
            used = (mono != N).any(axis=0)
            mono = mono[:, : int(used.nonzero()[0].max()) + 1] if used.any() else mono[:, :0]
        self.comp, self.mono, self.coef = comp, mono, coef
        self.degree = int((mono != N).sum(axis=1).max()) if len(coef) and mono.shape[1] else 0

    @classmethod
    def from_exact(cls, field: VectorField, p: int) -> "ModularField":
        N = field.dimension
        rows = [(k, m, c) for k, poly in enumerate(field.components) for m, c in poly.items()]
        width = max((len(m) for _, m, _ in rows), default=0)
        comp = np.array([k for k, _, _ in rows], dtype=np.int64)
        mono = np.full((len(rows), width), N, dtype=np.int64)
        for i, (_, m, _) in enumerate(rows):
            mono[i, : len(m)] = m
        coef = np.array([_residue(c, p) for _, _, c in rows], dtype=np.int64)
        return cls(comp, mono.reshape(len(rows), width), coef, N, p)

    @property
    def n_terms(self) -> int:
        return len(self.coef)

    def _monomial_values(self, point_ext: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Values of the monomials at ξ0 and, per position, the product of the other positions."""
        p = self.p
        L = self.mono.shape[1]
        vals = [point_ext[self.mono[:, l]] for l in range(L)]
        prefix = [np.ones(self.n_terms, dtype=np.int64)]
        for l in range(L):
            prefix.append(prefix[-1] * vals[l] % p)
        suffix = np.ones(self.n_terms, dtype=np.int64)
        others = [None] * L
        for l in range(L - 1, -1, -1):
            others[l] = prefix[l] * suffix % p
            suffix = suffix * vals[l] % p
        return prefix[-1], others

    def value_and_jacobian(self, point_ext: np.ndarray, jacobian: bool = True):
        """X(ξ0) and the dense Jacobian DX(ξ0) (row k, column j: ∂X_k/∂ξ_j), both mod p."""
        N, p = self.N, self.p
        full, others = self._monomial_values(point_ext)
        value = np.zeros(N, dtype=np.int64)
        np.add.at(value, self.comp, self.coef * full % p)
        value %= p
        if not jacobian:
            return value, None
        J = np.zeros(N * (N + 1), dtype=np.int64)
        for l, other in enumerate(others):
            var = self.mono[:, l]
            ok = var != N
            np.add.at(J, self.comp[ok] * (N + 1) + var[ok], self.coef[ok] * other[ok] % p)
        J = J.reshape(N, N + 1)[:, :N] % p
        return value, J

    def sparse_jacobian(self, point_ext: np.ndarray):
        """DX(ξ0) as COO triplets (rows, cols, values), for generators (which are sparse)."""
        return self.value_and_sparse_jacobian(point_ext)[1]

    def value_and_sparse_jacobian(self, point_ext: np.ndarray):
        """X(ξ0) and DX(ξ0) as COO triplets (rows, cols, values; duplicates add up), both mod p.

        The fields met by the engine are very sparse (tens of terms in a space of hundreds of
        coordinates), so this is much cheaper than the dense N × N Jacobian.
        """
        N, p = self.N, self.p
        full, others = self._monomial_values(point_ext)
        value = np.zeros(N, dtype=np.int64)
        np.add.at(value, self.comp, self.coef * full % p)
        value %= p
        rows, cols, vals = [], [], []
        for l, other in enumerate(others):
            var = self.mono[:, l]
            ok = var != N
            rows.append(self.comp[ok])
            cols.append(var[ok])
            vals.append(self.coef[ok] * other[ok] % p)
        if not rows:
            z = np.zeros(0, dtype=np.int64)
            return value, (z, z, z)
        return value, (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals))


def _residue(c: Fraction, p: int) -> int:
    c = Fraction(c)
    if c.denominator % p == 0:
        raise ArithmeticError(f"denominator {c.denominator} is divisible by the prime {p}")
    return c.numerator * pow(c.denominator, -1, p) % p


def _derivative_products(X: ModularField, Y: ModularField) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Terms of Σ_j X_j ∂_j Y (component of Y, merged monomial, coefficient), not yet combined."""
    N, p = X.N, X.p
    L = Y.mono.shape[1]
    if L == 0 or X.n_terms == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.int64), np.zeros(0, np.int64)
    # explode Y by positions: removing position l of a monomial differentiates it once (multiplicity adds up)
    t_idx, pos = np.nonzero(Y.mono != N)
    var = Y.mono[t_idx, pos]
    # group X's terms by component
    order = np.argsort(X.comp, kind="stable")
    xcomp = X.comp[order]
    start = np.searchsorted(xcomp, np.arange(N + 1))
    counts = start[1:] - start[:-1]
    rep = counts[var]
    if rep.sum() == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.int64), np.zeros(0, np.int64)
    t_rep = np.repeat(t_idx, rep)
    pos_rep = np.repeat(pos, rep)
    first = np.repeat(start[var], rep)
    within = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    x_idx = order[first + within]
    # derivative monomial of Y: drop position pos_rep
    ymono = Y.mono[t_rep]
    cols = np.arange(L)[None, :]
    keep = cols != pos_rep[:, None]
    dmono = ymono[keep].reshape(len(t_rep), L - 1)
    mono = np.concatenate([X.mono[x_idx], dmono], axis=1)
    mono.sort(axis=1)
    coef = X.coef[x_idx] * Y.coef[t_rep] % p
    return Y.comp[t_rep], mono, coef


def bracket(X: ModularField, Y: ModularField) -> ModularField:
    """[X, Y] = ∂Y·X − ∂X·Y, i.e. component k: Σ_j X_j ∂_j Y_k − Y_j ∂_j X_k, mod p."""
    N, p = X.N, X.p
    c1, m1, k1 = _derivative_products(X, Y)
    c2, m2, k2 = _derivative_products(Y, X)
    width = max(m1.shape[1] if len(k1) else 0, m2.shape[1] if len(k2) else 0)

    def pad(m, n):
        m = m.reshape(n, -1) if n else np.zeros((0, width), np.int64)
        return np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=N) if m.shape[1] < width else m

    comp = np.concatenate([c1, c2])
    mono = np.concatenate([pad(m1, len(k1)), pad(m2, len(k2))])
    coef = np.concatenate([k1, (p - k2) % p])
    if len(coef) == 0:
        return ModularField(comp, mono.reshape(0, width), coef, N, p)
    key = np.concatenate([comp[:, None], mono], axis=1)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    summed = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(summed, inverse.ravel(), coef)
    return ModularField(uniq[:, 0].copy(), uniq[:, 1:].copy(), summed % p, N, p)


class _EchelonBasis:
    """Row-reduced echelon basis mod p of the values kept so far, for incremental independence tests.

    Rows live in a preallocated N × N array; row j has a 1 in column ``pivots[j]`` and 0 in every other
    pivot column.
    """

    def __init__(self, N: int, p: int):
        self.N, self.p = N, p
        self._rows = np.zeros((N, N), dtype=np.int64)
        self._is_pivot = np.zeros(N, dtype=bool)
        self.pivots: list[int] = []

    @property
    def rank(self) -> int:
        return len(self.pivots)

    @property
    def rows(self) -> np.ndarray:
        return self._rows[: self.rank]

    def reduce(self, C: np.ndarray, since: int = 0) -> np.ndarray:
        """C minus its projection on the span, mod p.

        With ``since`` > 0 only the rows added from index ``since`` on are used: valid when C is
        already reduced against the basis as it was when it had ``since`` rows (later rows are zero on
        the earlier pivot columns, and the earlier rows' changes stay within the span).
        """
        p = self.p
        if self.rank <= since or len(C) == 0:
            return C % p
        if since == 0:
            # pivot columns reduce to 0; only the free columns need the product
            free = np.flatnonzero(~self._is_pivot)
            out = np.zeros_like(C)
            if len(free):
                rows = self._rows[: self.rank][:, free]
                out[:, free] = (C[:, free] - _mulmod(C[:, self.pivots] % p, rows, p)) % p
            return out
        piv = self.pivots[since:]
        return (C - _mulmod(C[:, piv] % p, self._rows[since : self.rank], p)) % p

    def sketch_matrix(self, W: np.ndarray) -> np.ndarray:
        """W' such that c·W' = residual(c)·W for every c, the residual being c modulo the span.

        The residual of c is zero on the pivot columns and c[free] − c[pivots]·rows[:, free] on the
        free ones, so W'[free] = W[free] and W'[pivots] = −rows[:, free]·W[free]. A row in the span
        gives c·W' = 0; a row outside it gives 0 with probability p^(−s) over a uniform N × s matrix W.
        """
        p = self.p
        if not self.rank:
            return W % p
        free = np.flatnonzero(~self._is_pivot)
        Wp = np.zeros_like(W)
        if len(free):
            Wp[free] = W[free]
            Wp[self.pivots] = (p - _mulmod(self._rows[: self.rank][:, free], W[free], p)) % p
        return Wp

    def sketch_live(self, C: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Rows of C whose residual modulo the span has a non-zero product with W (see sketch_matrix)."""
        return _mulmod(C % self.p, self.sketch_matrix(W), self.p).any(axis=1)

    def add(self, r: np.ndarray) -> bool:
        """Add a reduced row if non-zero; returns whether it was independent."""
        nz = np.flatnonzero(r)
        if len(nz) == 0:
            return False
        p = self.p
        c = int(nz[0])
        r = r * pow(int(r[c]), -1, p) % p
        k = self.rank
        if k:
            f = self._rows[:k, c]
            hit = np.flatnonzero(f)
            if len(hit):
                # r vanishes on the other pivot columns: only its non-zero columns change
                cols = np.flatnonzero(r)
                block = np.ix_(hit, cols)
                self._rows[block] = (self._rows[block] - (f[hit, None] * r[None, cols]) % p) % p
        self._rows[k] = r
        self.pivots.append(c)
        self._is_pivot[c] = True
        return True


@dataclass
class LieResult:
    """The outcome of a count: laws = N − K, and how it was obtained."""

    dimension: int  # N
    rank: int  # K
    laws: int  # N − K
    depth: int  # bracket depth reached (1 = the generators alone)
    stabilised: bool
    prime: int
    point: list[int]
    failure_bound: float
    repeats: int
    seconds: float
    brackets_expanded: int
    candidates_tested: int
    rank_by_depth: list[int] = field(default_factory=list)
    variable_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("variable_names")
        d.pop("point")
        return d


_BLAS_CONTROLLER = None


def single_threaded_blas():
    """A context in which BLAS runs on one thread (when threadpoolctl is installed; else no change).

    The engine's products are modest (hundreds × hundreds): threads gain little on an idle machine and
    lose a factor 4 or more on a busy one (OpenBLAS threads spin while waiting for a core).
    """
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def lie_rank(family: FieldFamily, seed: int = 0, max_depth: int = 64, prime: int | None = None) -> LieResult:
    """K = dim Lie(W)(ξ0) at a random ξ0 ∈ F_p^N, by the pruned bracket construction (see module doc)."""
    with single_threaded_blas():
        return _lie_rank(family, seed, max_depth, prime)


def _lie_rank(family: FieldFamily, seed: int, max_depth: int, prime: int | None) -> LieResult:
    t0 = time.perf_counter()
    rng = random.Random(seed)
    N = family.N
    gens = [g for g in family.generators if not g.is_zero()]
    while True:
        p = prime or random_prime(rng)
        try:
            mods = [ModularField.from_exact(g, p) for g in gens]
            break
        except ArithmeticError:
            if prime:
                raise
    point = [rng.randrange(1, p) for _ in range(N)]
    point_ext = np.array(point + [1], dtype=np.int64)

    G = len(mods)
    gen_vals = np.zeros((N, G), dtype=np.int64)
    gen_jac = []  # per generator: COO Jacobian at ξ0
    for i, g in enumerate(mods):
        gen_vals[:, i], jac = g.value_and_sparse_jacobian(point_ext)
        gen_jac.append(jac)
    # all generator Jacobians stacked (sorted by generator), for the sketches of Dg·b
    jr = np.concatenate([j[0] for j in gen_jac]) if G else np.zeros(0, np.int64)
    jc = np.concatenate([j[1] for j in gen_jac]) if G else np.zeros(0, np.int64)
    jv = np.concatenate([j[2] for j in gen_jac]) if G else np.zeros(0, np.int64)
    counts = np.array([len(j[0]) for j in gen_jac], dtype=np.int64)
    with_entries = np.flatnonzero(counts)
    seg_starts = (np.cumsum(counts) - counts)[with_entries]
    gen_vals_T = np.ascontiguousarray(gen_vals.T)

    basis = _EchelonBasis(N, p)
    degree_sum = 0
    frontier: list[ModularField] = []
    tested = expanded = 0
    sketch_rng = np.random.default_rng(rng.randrange(2**63))
    sketch_tests = 0

    def absorb_rows(rows: np.ndarray, indices, on_new) -> None:
        """Add, in order, the rows independent of the span; ``on_new(index)`` for each one kept."""
        reduced = basis.reduce(rows)
        since = basis.rank
        for j, i in enumerate(indices):
            row = basis.reduce(reduced[j : j + 1], since)[0] if basis.rank > since else reduced[j]
            if basis.add(row):
                on_new(int(i))
                if basis.rank >= N:
                    return

    # depth 1: the generators themselves
    def keep_generator(i: int) -> None:
        nonlocal degree_sum
        frontier.append(mods[i])
        degree_sum += mods[i].degree

    tested += G
    nonzero = np.flatnonzero(gen_vals_T.any(axis=1))
    absorb_rows(gen_vals_T[nonzero], nonzero, keep_generator)
    rank_by_depth = [basis.rank]
    depth = 1
    stabilised = True
    while frontier and basis.rank < N:
        if depth >= max_depth:
            stabilised = False
            break
        depth += 1
        new_frontier = []
        # The candidates [g, b] of a group of survivors b, in the order of one b at a time (hence the
        # same decisions). Each is first tested by its sketch, the product of its residual with two
        # random vectors W (drawn after the group is fixed): c·W' with W' = basis.sketch_matrix(W), and
        # c = Db·g − Dg·b, so c·W' = g·(Dbᵀ W') − b·(Dgᵀ W'), all from the sparse Jacobians. Only the
        # candidates that pass are formed and eliminated exactly.
        chunk = max(1, _CANDIDATE_ROWS // max(G, 1))
        for start in range(0, len(frontier), chunk):
            if basis.rank >= N:
                break
            group = frontier[start : start + chunk]
            W = sketch_rng.integers(0, p, size=(N, _SKETCH_VECTORS), dtype=np.int64)
            Wp = basis.sketch_matrix(W)
            sketch = np.empty((len(group) * G, _SKETCH_VECTORS), dtype=np.int64)
            data = []
            # Dbᵀ W' of every b of the group side by side, so that g·(Dbᵀ W') for every g and b is one
            # wide (BLAS) product instead of one skinny int64 product per b
            DbW = np.zeros((N, len(group) * _SKETCH_VECTORS), dtype=np.int64)
            seconds = []
            for j, b in enumerate(group):
                bval, (br, bc, bv) = b.value_and_sparse_jacobian(point_ext)
                data.append((bval, br, bc, bv))
                np.add.at(DbW[:, j * _SKETCH_VECTORS : (j + 1) * _SKETCH_VECTORS], bc, bv[:, None] * Wp[br] % p)
                second = np.zeros((G, _SKETCH_VECTORS), dtype=np.int64)
                if len(with_entries):
                    terms = (jv * bval[jc] % p)[:, None] * Wp[jr] % p
                    second[with_entries] = np.add.reduceat(terms, seg_starts, axis=0) % p
                seconds.append(second)
            first = _mulmod(gen_vals_T, DbW % p, p)
            for j, second in enumerate(seconds):
                sketch[j * G : (j + 1) * G] = (first[:, j * _SKETCH_VECTORS : (j + 1) * _SKETCH_VECTORS] - second) % p
            tested += len(sketch)
            sketch_tests += len(sketch)
            live = np.flatnonzero(sketch.any(axis=1))
            if not len(live):
                continue
            rows = np.zeros((len(live), N), dtype=np.int64)
            for k, i in enumerate(live):
                j, g = divmod(int(i), G)
                bval, br, bc, bv = data[j]
                row = np.zeros(N, dtype=np.int64)
                np.add.at(row, br, bv * gen_vals[bc, g] % p)  # Db·g
                r, c, v = gen_jac[g]
                np.add.at(row, r, p - v * bval[c] % p)  # − Dg·b
                rows[k] = row % p

            def keep_bracket(i: int, group=group) -> None:
                nonlocal expanded, degree_sum
                new = bracket(mods[i % G], group[i // G])
                expanded += 1
                degree_sum += new.degree
                new_frontier.append(new)

            absorb_rows(rows, live, keep_bracket)
        frontier = new_frontier
        rank_by_depth.append(basis.rank)
    K = basis.rank
    return LieResult(
        dimension=N, rank=K, laws=N - K, depth=depth, stabilised=stabilised or K == N, prime=p, point=point,
        failure_bound=min(1.0, degree_sum / p + sketch_tests / p**_SKETCH_VECTORS), repeats=1,
        seconds=time.perf_counter() - t0,
        brackets_expanded=expanded, candidates_tested=tested, rank_by_depth=rank_by_depth,
        variable_names=list(family.variable_names),
    )


def count_laws(model: Model | FieldFamily | str, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
               dims=None, bias: bool = False, seed: int = 0, repeats: int = 1, max_depth: int = 64) -> LieResult:
    """Number of independent conservation laws of ``model`` under ``flow`` (N − dim Lie(W)(ξ0)).

    ``repeats`` > 1 reruns at independent random points and primes and keeps the largest rank;
    the failure bounds multiply. ``seconds`` covers the whole call (building the fields included).
    """
    t0 = time.perf_counter()
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", repeats, "a positive integer")
    if isinstance(model, str):
        model = make_model(model, dims, bias=bias)
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry)
    best, bound = None, 1.0
    for r in range(repeats):
        res = lie_rank(family, seed=seed + 7919 * r, max_depth=max_depth)
        bound *= res.failure_bound
        if best is None or res.rank > best.rank:
            best = res
    best.failure_bound = bound
    best.repeats = repeats
    best.seconds = time.perf_counter() - t0
    return best
