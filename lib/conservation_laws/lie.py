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
round). Independence is tested by incremental elimination against a reduced row-echelon basis.
Pruning dependent candidates is legitimate: near a generic point, a field whose value lies in the
span of the kept fields is a combination of them with smooth coefficients, so its brackets add
nothing new.

What is certified.
* Always: K_computed ≤ K (values independent mod p are independent over Q), so N − K_computed is
  an upper bound on the number of laws.
* With probability ≥ 1 − δ: equality, where δ = Σ deg(kept fields) / p (Schwartz–Zippel applied
  to one K×K minor: if it does not vanish at ξ0, every decision of the run is the generic one).
  Independent repeats multiply the bounds.
* Deterministically, when ``laws.polynomial_laws`` exhibits N − K_computed independent, exactly
  verified laws (lower bound = upper bound).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy

from .errors import invalid
from .flows import FieldFamily, Flow, vector_fields
from .models import Model, make_model
from .polynomial import VectorField

PRIME_RANGE = (2**30, 2**31)


def random_prime(rng: random.Random) -> int:
    """A uniformly placed prime in [2^30, 2^31): products of two residues fit in int64."""
    return int(sympy.nextprime(rng.randrange(*PRIME_RANGE)))


def _mulmod(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """(A @ B) mod p for residues < 2^31, exactly, by splitting A into 16-bit halves."""
    lo = (A & 0xFFFF) @ B % p
    hi = (A >> 16) @ B % p
    return (hi * 65536 + lo) % p


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
        N, p = self.N, self.p
        _, others = self._monomial_values(point_ext)
        rows, cols, vals = [], [], []
        for l, other in enumerate(others):
            var = self.mono[:, l]
            ok = var != N
            rows.append(self.comp[ok])
            cols.append(var[ok])
            vals.append(self.coef[ok] * other[ok] % p)
        if not rows:
            z = np.zeros(0, dtype=np.int64)
            return z, z, z
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


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
    """Row-reduced echelon basis mod p of the values kept so far, for incremental independence tests."""

    def __init__(self, N: int, p: int):
        self.N, self.p = N, p
        self.rows = np.zeros((0, N), dtype=np.int64)
        self.pivots: list[int] = []

    @property
    def rank(self) -> int:
        return len(self.pivots)

    def reduce(self, C: np.ndarray) -> np.ndarray:
        if not self.pivots or len(C) == 0:
            return C % self.p
        return (C - _mulmod(C[:, self.pivots], self.rows, self.p)) % self.p

    def add(self, r: np.ndarray) -> bool:
        """Add a reduced row if non-zero; returns whether it was independent."""
        nz = np.flatnonzero(r)
        if len(nz) == 0:
            return False
        p = self.p
        c = int(nz[0])
        r = r * pow(int(r[c]), -1, p) % p
        if self.rank:
            f = self.rows[:, c].copy()
            self.rows = (self.rows - (f[:, None] * r[None, :]) % p) % p
        self.rows = np.vstack([self.rows, r])
        self.pivots.append(c)
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


def lie_rank(family: FieldFamily, seed: int = 0, max_depth: int = 64, prime: int | None = None) -> LieResult:
    """K = dim Lie(W)(ξ0) at a random ξ0 ∈ F_p^N, by the pruned bracket construction (see module doc)."""
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
        gen_vals[:, i], _ = g.value_and_jacobian(point_ext, jacobian=False)
        gen_jac.append(g.sparse_jacobian(point_ext))
    # stack sparse Jacobians (with generator id) to compute all Dg·b at once
    jr = np.concatenate([j[0] for j in gen_jac]) if G else np.zeros(0, np.int64)
    jc = np.concatenate([j[1] for j in gen_jac]) if G else np.zeros(0, np.int64)
    jv = np.concatenate([j[2] for j in gen_jac]) if G else np.zeros(0, np.int64)
    jg = np.concatenate([np.full(len(j[0]), i) for i, j in enumerate(gen_jac)]) if G else np.zeros(0, np.int64)

    basis = _EchelonBasis(N, p)
    degree_sum = 0
    frontier: list[ModularField] = []
    tested = expanded = 0
    # depth 1: the generators themselves
    reduced = basis.reduce(gen_vals.T.copy())
    for i in range(G):
        row = basis.reduce(reduced[i : i + 1])[0] if basis.rank else reduced[i]
        tested += 1
        if basis.add(row):
            frontier.append(mods[i])
            degree_sum += mods[i].degree
    rank_by_depth = [basis.rank]
    depth = 1
    stabilised = True
    while frontier and basis.rank < N:
        if depth >= max_depth:
            stabilised = False
            break
        depth += 1
        new_frontier = []
        for b in frontier:
            if basis.rank >= N:
                break
            bval, bjac = b.value_and_jacobian(point_ext)
            # values of [g, b] for every generator g: Db·g − Dg·b
            first = _mulmod(bjac, gen_vals, p)  # N × G
            second = np.zeros((G, N), dtype=np.int64)
            np.add.at(second, (jg, jr), jv * bval[jc] % p)
            cand = (first.T - second % p) % p
            cand = basis.reduce(cand)
            for i in np.flatnonzero(cand.any(axis=1)):
                row = basis.reduce(cand[i : i + 1])[0]
                tested += 1
                if not row.any():
                    continue
                basis.add(row)
                new = bracket(mods[i], b)
                expanded += 1
                degree_sum += new.degree
                new_frontier.append(new)
                if basis.rank >= N:
                    break
            tested += int((~cand.any(axis=1)).sum())
        frontier = new_frontier
        rank_by_depth.append(basis.rank)
    K = basis.rank
    return LieResult(
        dimension=N, rank=K, laws=N - K, depth=depth, stabilised=stabilised or K == N, prime=p, point=point,
        failure_bound=min(1.0, degree_sum / p), repeats=1, seconds=time.perf_counter() - t0,
        brackets_expanded=expanded, candidates_tested=tested, rank_by_depth=rank_by_depth,
        variable_names=list(family.variable_names),
    )


def count_laws(model: Model | FieldFamily | str, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
               dims=None, bias: bool = False, seed: int = 0, repeats: int = 1, max_depth: int = 64) -> LieResult:
    """Number of independent conservation laws of ``model`` under ``flow`` (N − dim Lie(W)(ξ0)).

    ``repeats`` > 1 reruns at independent random points and primes and keeps the largest rank;
    the failure bounds multiply.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", repeats, "a positive integer")
    if isinstance(model, str):
        model = make_model(model, dims, bias=bias)
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry)
    t0 = time.perf_counter()
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
