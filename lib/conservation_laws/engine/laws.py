"""Polynomial conservation laws: all of them up to a degree, exactly, with a completeness certificate.

A polynomial h is a law of the family W iff X(h) = ⟨∇h, X⟩ ≡ 0 for every X ∈ W. Writing
h = Σ_m c_m m over the monomials m up to the chosen degree turns this into a linear system
A c = 0 with exact rational entries, one row per (field, monomial of X(m)).

Solving it.
* **Multi-grading.** For an integer weight w on the coordinates, X is homogeneous when every term
  c·m of every component X_k shifts the weight by the same σ_X: w(m) − w_k = σ_X. The weights doing
  this for every field form a lattice (``weight_lattice``: an integer kernel, verified exactly): the
  total degree and the power of s = e^{τt} when they qualify, one weight per hidden index of a linear
  net, one per neuron of a ReLU net or an NMF factor. X(h) = 0 then couples only monomials of equal
  multi-degree, and the unknowns split into blocks that are solved one at a time (a few at once).
* **Sparse elimination mod p** (a prime below 2^31). A block's rows are built vectorised; a row
  with a single unknown forces it to 0, repeatedly; what stays splits into coupled components, each
  solved densely by FLINT (rows compressed by a random projection when very tall).
* **Lift and verify.** The kernel basis is put in its canonical echelon form, lifted to Q by
  rational reconstruction and **verified exactly** over Q (X(h) = 0 in exact rationals for every
  field). A block whose lift or verification fails is solved again by exact rational elimination.
* **Size.** Nothing is refused by a count of unknowns: the memory of the monomials, of one chunk of
  the system and of the largest dense component is estimated, and only a request over
  ``MEMORY_LIMIT`` is refused, with the largest degree that would fit.

The number of *independent* laws is the rank of their gradients at a random point mod p, which
never exceeds the rank over Q: a certified lower bound on the number of laws. ``lie.count_laws``
gives the upper bound N − K. When the two meet, the list is **complete**: every law is locally a
function of the ones printed, and the count is proved. ``minimal_basis`` picks, by increasing
degree, functionally independent laws whose number is that rank (``LawsResult.basis``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import comb, gcd
from typing import Sequence

import numpy as np
import sympy

from ..algebra.modular import mulmod, random_prime
from ..algebra.polynomial import Polynomial, VectorField, from_sympy
from ..errors import invalid
from ..flows import FieldFamily, Flow, decay_time_degree, vector_fields
from ..models import Model
from .lie import LieResult, ModularField, check_matches, count_laws, prove_by_laws


@dataclass
class LawsResult:
    """Polynomial laws up to ``degree`` (a basis of their vector space), and how far they are from the count.

    ``laws`` spans every polynomial law of the degree; ``basis`` is a minimal set of functionally
    independent ones (``independent`` of them, of least degree) and ``others`` the rest, each a function
    of the basis.
    """

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
    basis_indices: list[int] = field(default_factory=list)  # positions in ``laws`` of the minimal basis
    stats: dict = field(default_factory=dict)  # weights, blocks, largest block, largest coupled component

    def __repr__(self) -> str:  # never the whole field family nor every law
        return (f"LawsResult(found={len(self.laws)}, independent={self.independent}, upper_bound={self.upper_bound}, "
                f"complete={self.complete}, degree={self.degree}, time_degree={self.time_degree}, "
                f"certificate={self.lie.certificate!r})")

    @property
    def complete(self) -> bool:
        """True when the exhibited laws are as many as the Lie count allows: a certificate."""
        return self.verified and self.independent == self.upper_bound

    @property
    def basis(self) -> list[Polynomial]:
        """The minimal basis h1…hk: functionally independent laws of least degree, k = ``independent``."""
        return [self.laws[i] for i in self.basis_indices]

    @property
    def others(self) -> list[Polynomial]:
        """Every law of ``laws`` outside the basis (each one a function of the basis)."""
        chosen = set(self.basis_indices)
        return [h for i, h in enumerate(self.laws) if i not in chosen]

    def _chosen(self, which: str) -> list[Polynomial]:
        if which not in ("all", "basis", "others"):
            raise invalid("which", which, "one of all, basis, others")
        return {"all": self.laws, "basis": self.basis, "others": self.others}[which]

    @property
    def expressions(self) -> list[sympy.Expr]:
        syms = self.family.symbols
        return [h.to_sympy(syms) for h in self.laws]

    def in_time(self, which: str = "all") -> list[sympy.Expr]:
        """The laws (``which``: all, basis or others) with s replaced by e^{γt} (``Flow.in_time``: γ = τ
        for the heavy ball, λ for GF with weight decay, the oscillator's rate with both)."""
        syms = self.family.symbols
        return [self.family.flow.in_time(h.to_sympy(syms)) for h in self._chosen(which)]

    def latex(self, which: str = "all") -> list[str]:
        names = self.family.latex_names()
        return [sympy.latex(e, symbol_names=names) for e in self.in_time(which)]

    def verdict(self) -> str:
        if self.complete:
            return (f"complete: {self.independent} independent {'law' if self.independent == 1 else 'laws'} found = N − K = {self.upper_bound} "
                    "(proved: exact verification + Lie upper bound)")
        return (f"incomplete at degree ≤ {self.degree}: {self.independent} independent {'law' if self.independent == 1 else 'laws'} found, "
                f"the Lie count allows {self.upper_bound}")

    def basis_statement(self) -> str:
        """What the basis says about the other laws, and how sure that is."""
        k, rest = len(self.basis_indices), len(self.laws) - len(self.basis_indices)
        if not k:
            return f"no polynomial law of degree ≤ {self.degree}"
        names = "h1" if k == 1 else "h1, h2" if k == 2 else f"h1…h{k}"
        how = ("certified: no more than N − K laws are functionally independent" if self.complete
               else "probabilistic: the gradients of all the laws found have the same rank at a random point mod p")
        text = f"every polynomial law of degree ≤ {self.degree} is a function of {names} ({how})"
        if rest:
            text += f"; with the {rest} other law(s) found they span all of them as a vector space"
        return text


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


_SLAB_ENTRIES = 4_000_000  # entries of the dense random slab in the compressed solve


def _dense_mod_p(rows: list[dict[int, int]], ncols: int, p: int) -> np.ndarray:
    A = np.zeros((len(rows), ncols), dtype=np.int64)
    rr = [r for r, row in enumerate(rows) for _ in row]
    cc = [c for row in rows for c in row]
    A[rr, cc] = [v % p for row in rows for v in row.values()]
    return A


def _compressed_mod_p(rows: list[dict[int, int]], ncols: int, p: int, rng: random.Random) -> np.ndarray:
    """R·A mod p for a uniformly random (ncols + 8) × len(rows) matrix R, without forming A densely.

    A is very sparse (a few terms per row), so R·A costs 3·nnz(A)·(ncols + 8) exact float64
    multiply-adds (the 16-bit split of ``algebra.modular.mulmod``, with scipy's sparse product); R is drawn a slab
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


# --- the multi-grading ------------------------------------------------------------------------
def weight_lattice(fields: Sequence[VectorField], N: int, rng: random.Random) -> np.ndarray:
    """Integer weight vectors w ∈ Z^N (the rows) for which every field is homogeneous.

    X = Σ_k X_k ∂_k is homogeneous for w, of shift σ_X, iff every term c·m of every component X_k has
    w(m) − w_k = σ_X, with w(m) = Σ_{i∈m} w_i. Subtracting one term's equation from the others removes
    σ_X: the conditions are e(t) = e(t_1) for the terms t of X, e(t) = w(m) − w_k. Those of the form
    w_a = w_b (most of them) merge coordinates (union–find); the rest are solved mod p on the merged
    coordinates, lifted to Z by rational reconstruction and **verified exactly** against every condition.
    A vector that fails is dropped: fewer weights only make coarser blocks, never a wrong law.
    """
    conditions: set[tuple[tuple[int, int], ...]] = set()
    for X in fields:
        first = None
        for k, poly in enumerate(X.components):
            for m in poly:
                e: dict[int, int] = {k: -1}
                for i in m:
                    e[i] = e.get(i, 0) + 1
                if first is None:
                    first = e
                    continue
                diff = dict(e)
                for i, v in first.items():
                    diff[i] = diff.get(i, 0) - v
                row = tuple(sorted((i, v) for i, v in diff.items() if v))
                if row:
                    g = 0
                    for _, v in row:
                        g = gcd(g, v)
                    sign = 1 if row[0][1] > 0 else -1
                    conditions.add(tuple((i, sign * v // g) for i, v in row))
    parent = list(range(N))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in conditions:  # w_a − w_b = 0
        if len(row) == 2 and row[0][1] == -row[1][1]:
            a, b = find(row[0][0]), find(row[1][0])
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = sorted({find(i) for i in range(N)})
    cls = {r: j for j, r in enumerate(roots)}
    of = np.array([cls[find(i)] for i in range(N)], dtype=np.int64)
    reduced: set[tuple[tuple[int, int], ...]] = set()
    for row in conditions:
        acc: dict[int, int] = {}
        for i, v in row:
            acc[int(of[i])] = acc.get(int(of[i]), 0) + v
        red = tuple(sorted((c, v) for c, v in acc.items() if v))
        if red:
            reduced.add(red)
    ncls = len(roots)
    if reduced:
        p = random_prime(rng)
        rows = [dict(r) for r in reduced]
        basis = _kernel_mod_p(rows, ncls, p, rng, compress=len(rows) * ncls > 20_000_000)
    else:
        p, basis = 0, [[int(i == j) for i in range(ncls)] for j in range(ncls)]
    weights = []
    for vec in basis:
        fr = [_rational_reconstruction(a, p) for a in vec] if p else [Fraction(a) for a in vec]
        if any(x is None for x in fr):
            continue
        den = 1
        for x in fr:
            den = den * x.denominator // gcd(den, x.denominator)
        w = [int(x * den) for x in fr]
        full = [w[int(of[i])] for i in range(N)]
        if any(w) and all(sum(v * full[i] for i, v in row) == 0 for row in conditions):
            weights.append(full)
    return np.array(weights, dtype=np.int64).reshape(len(weights), N)


def _combinations(n: int, d: int) -> np.ndarray:
    """All d-tuples 0 ≤ i1 ≤ … ≤ id < n, in lexicographic order (itertools.combinations_with_replacement)."""
    out = np.zeros((1, 0), dtype=np.int64)
    for _ in range(d):
        last = out[:, -1] if out.shape[1] else np.zeros(len(out), dtype=np.int64)
        reps = n - last
        idx = np.repeat(np.arange(len(out)), reps)
        offsets = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        out = np.concatenate([out[idx], (last[idx] + offsets)[:, None]], axis=1)
    return out


def _monomial_count(variables: int, degree: int) -> int:
    return comb(variables + degree - 1, degree)


def _unknown_monomials(N: int, has_time: bool, degree: int, time_degree: int, state_graded: bool) -> np.ndarray:
    """The unknowns' monomials as rows of sorted indices padded with N, in the solver's historical order.

    Order: by state degree, then power of time, then lexicographic (``state_graded``), or by power of time,
    then state degree (otherwise); the printed laws keep this order.
    """
    state0 = 1 if has_time else 0
    S = N - state0
    width = degree + time_degree
    parts = []
    outer = [(d, a) for d in range(1, degree + 1) for a in range(time_degree + 1)] if state_graded else \
        [(d, a) for a in range(time_degree + 1) for d in range(1, degree + 1)]
    for d, a in outer:
        base = _combinations(S, d) + state0
        part = np.full((len(base), width), N, dtype=np.int64)
        part[:, :a] = 0
        part[:, a : a + d] = base
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.int64)


_HASH_PRIME = 2**61 - 1


def _block_keys(monos: np.ndarray, weights: np.ndarray, N: int, rng: random.Random) -> np.ndarray:
    """A hash of each monomial's multi-degree (w(m) for every weight w): equal multi-degrees, equal keys.

    Two different multi-degrees may collide (probability about 2^-61 per pair); that only merges two blocks.
    """
    z = [rng.randrange(1, _HASH_PRIME) for _ in range(len(weights))]
    per_var = [sum(int(weights[j, i]) * z[j] for j in range(len(z))) % _HASH_PRIME for i in range(N)]
    h = np.array(per_var + [0], dtype=np.int64)
    key = np.zeros(len(monos), dtype=np.int64)
    for l in range(monos.shape[1]):
        key = (key + h[monos[:, l]]) % _HASH_PRIME
    return key


# --- the sparse system, block by block ----------------------------------------------------------
@dataclass
class _Terms:
    """Every term of every field, sorted by component: field, component, monomial, coefficient.

    Each field is scaled by the common denominator of its coefficients (a constant factor changes no
    law), so the coefficients are integers: ``exact`` (int64, or None when one exceeds 2^40) and ``coef``
    (mod p).
    """

    field: np.ndarray
    comp: np.ndarray
    mono: np.ndarray
    coef: np.ndarray
    exact: np.ndarray | None
    exact_list: list[int]
    start: np.ndarray  # terms of component j: start[j]:start[j + 1]
    N: int
    F: int
    p: int

    @classmethod
    def build(cls, fields: Sequence[VectorField], N: int, p: int) -> "_Terms":
        rows = []
        for f, X in enumerate(fields):
            den = 1
            for poly in X.components:
                for c in poly.values():
                    den = den * c.denominator // gcd(den, c.denominator)
            rows += [(k, f, m, int(c * den)) for k, poly in enumerate(X.components) for m, c in poly.items()]
        rows.sort(key=lambda r: r[0])
        width = max((len(m) for _, _, m, _ in rows), default=0)
        mono = np.full((len(rows), width), N, dtype=np.int64)
        for i, (_, _, m, _) in enumerate(rows):
            mono[i, : len(m)] = m
        comp = np.array([r[0] for r in rows], dtype=np.int64)
        fid = np.array([r[1] for r in rows], dtype=np.int64)
        ints = [r[3] for r in rows]
        coef = np.array([c % p for c in ints], dtype=np.int64)
        exact = np.array(ints, dtype=np.int64) if all(abs(c) < 2**40 for c in ints) else None
        start = np.searchsorted(comp, np.arange(N + 2))
        return cls(fid, comp, mono, coef, exact, ints, start, N, len(fields), p)

    def per_variable(self) -> np.ndarray:
        """Number of terms in each component (0 for the sentinel N)."""
        return self.start[1:] - self.start[:-1]


def _expand(monos: np.ndarray, terms: _Terms, tag: np.ndarray | None = None):
    """Every term of X(m) for the monomials m (rows of ``monos``) and every field X, not yet combined.

    Σ_j X_j ∂_j m over the positions of m: removing position l and multiplying by a term of X_{m_l}
    (a repeated variable is met once per position, which gives its multiplicity). Returns (which
    monomial, which term, image key): the key numbers the pairs (field, image monomial), or
    (tag, field, image monomial) when a ``tag`` per monomial is given.
    """
    N = terms.N
    L = monos.shape[1]
    m_idx, pos = np.nonzero(monos != N)
    var = monos[m_idx, pos]
    rep = terms.per_variable()[var]
    total = int(rep.sum())
    if total == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    m_rep = np.repeat(m_idx, rep)
    pos_rep = np.repeat(pos, rep)
    within = np.arange(total) - np.repeat(np.cumsum(rep) - rep, rep)
    t_idx = np.repeat(terms.start[var], rep) + within
    keep = np.arange(L)[None, :] != pos_rep[:, None]
    out = np.concatenate([monos[m_rep][keep].reshape(total, L - 1), terms.mono[t_idx]], axis=1)
    out.sort(axis=1)
    head = terms.field[t_idx]
    heads = terms.F
    if tag is not None:
        head = tag[m_rep] * terms.F + head
        heads *= int(tag.max()) + 1
    if out.shape[1] * np.log2(N + 1) + np.log2(max(heads, 1)) < 62:
        code, scale = head.copy(), heads
        for l in range(out.shape[1]):
            code += out[:, l] * scale
            scale *= N + 1
        _, key = np.unique(code, return_inverse=True)
    else:
        _, key = np.unique(np.concatenate([head[:, None], out], axis=1), axis=0, return_inverse=True)
    return m_rep, t_idx, key.ravel()


def _system(monos: np.ndarray, terms: _Terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of X(h) = 0 for h spanned by ``monos``, mod p, as COO (row, column, value) without
    repeated (row, column): a row is one field and one monomial of the image."""
    p = terms.p
    m_rep, t_idx, row = _expand(monos, terms)
    if not len(row):
        return row, row, row
    ncols = len(monos)
    uniq, inverse = np.unique(row * ncols + m_rep, return_inverse=True)
    vals = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(vals, inverse.ravel(), terms.coef[t_idx])
    vals %= p
    nz = vals != 0
    uniq, vals = uniq[nz], vals[nz]
    return uniq // ncols, uniq % ncols, vals


def _annihilated(laws: Sequence[Polynomial], terms: _Terms) -> list[bool]:
    """For each law h (integer coefficients), whether X(h) = 0 for every field X, **exactly**.

    Vectorised in int64 when the sums are provably below 2^62 (|coefficient of h| · |coefficient of X| ·
    number of summands); otherwise in Python integers.
    """
    N = terms.N
    if not laws:
        return []
    items = [(i, m, int(c)) for i, h in enumerate(laws) for m, c in h.items()]
    hmax = max(abs(c) for _, _, c in items)
    xmax = max((abs(c) for c in terms.exact_list), default=0)
    width = max(len(m) for _, m, _ in items)
    monos = np.full((len(items), max(width, 1)), N, dtype=np.int64)
    for r, (_, m, _) in enumerate(items):
        monos[r, : len(m)] = m
    tag = np.array([i for i, _, _ in items], dtype=np.int64)
    m_rep, t_idx, key = _expand(monos, terms, tag)
    ok = np.ones(len(laws), dtype=bool)
    if not len(key):
        return ok.tolist()
    if terms.exact is not None and hmax * xmax * len(key) < 2**62:
        hcoef = np.array([c for _, _, c in items], dtype=np.int64)
        sums = np.zeros(int(key.max()) + 1, dtype=np.int64)
        np.add.at(sums, key, hcoef[m_rep] * terms.exact[t_idx])
    else:
        sums_list = [0] * (int(key.max()) + 1)
        for k, mi, ti in zip(key.tolist(), m_rep.tolist(), t_idx.tolist()):
            sums_list[k] += items[mi][2] * terms.exact_list[ti]
        sums = np.array([s != 0 for s in sums_list])
    bad = np.zeros(len(sums), dtype=bool)
    bad[:] = sums != 0
    owner = np.zeros(len(sums), dtype=np.int64)
    owner[key] = tag[m_rep]
    ok[owner[bad]] = False
    return ok.tolist()


def _eliminate_singletons(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, ncols: int):
    """Columns forced to 0 by rows with a single entry, repeatedly; returns (alive, remaining entries)."""
    alive = np.ones(ncols, dtype=bool)
    while len(rows):
        per_row = np.bincount(rows)
        single = per_row[rows] == 1
        if not single.any():
            break
        alive[cols[single]] = False
        keep = alive[cols]
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    return alive, rows, cols, vals


def _coupled_components(rows: np.ndarray, cols: np.ndarray, ncols: int) -> np.ndarray:
    """For each column, the smallest column of its connected component (columns linked by sharing a row).

    Hooking and pointer jumping on the star edges (each column of a row to the row's first column), all
    vectorised; about log(size) rounds.
    """
    parent = np.arange(ncols)
    if not len(rows):
        return parent
    order = np.argsort(rows, kind="stable")
    r, c = rows[order], cols[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    first = np.minimum.reduceat(c, starts)
    a, b = c, np.repeat(first, np.diff(np.r_[starts, len(r)]))
    while True:
        pa, pb = parent[a], parent[b]
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        moving = lo != hi
        if not moving.any():
            return parent
        np.minimum.at(parent, hi[moving], lo[moving])
        while True:
            jumped = parent[parent]
            if (jumped == parent).all():
                break
            parent = jumped


def _canonical_kernel(vectors: np.ndarray, p: int) -> np.ndarray:
    """The kernel basis in its canonical form: each vector has 1 at its last non-zero position and 0 at
    the last positions of the others (the basis read off the row-echelon form, whatever block order)."""
    k, n = vectors.shape
    if k == 0:
        return vectors
    R, pivots = _rref_mod_p(vectors[:, ::-1] % p, p)
    return np.ascontiguousarray(R[: len(pivots)][::-1, ::-1])  # by increasing last position


def _rref_mod_p(A: np.ndarray, p: int) -> tuple[np.ndarray, list[int]]:
    """Reduced row-echelon form mod p (p < 2^31) and the pivot columns, in numpy (small matrices)."""
    A = A.copy() % p
    m, n = A.shape
    pivots: list[int] = []
    r = 0
    for c in range(n):
        if r == m:
            break
        nz = np.flatnonzero(A[r:, c])
        if not len(nz):
            continue
        i = r + int(nz[0])
        if i != r:
            A[[r, i]] = A[[i, r]]
        A[r, c:] = A[r, c:] * pow(int(A[r, c]), -1, p) % p
        f = A[:, c].copy()
        f[r] = 0
        hit = np.flatnonzero(f)
        if len(hit):  # columns left of c are 0 in row r: only c: changes
            sub = A[hit, c:]
            sub -= f[hit, None] * A[r, c:] % p
            sub %= p
            A[hit, c:] = sub
        pivots.append(c)
        r += 1
    return A, pivots


def _kernel_from_rref(R: np.ndarray, pivots: list[int], n: int, p: int) -> np.ndarray:
    """The kernel basis read off a reduced row-echelon form: for each free column f, 1 at f and
    −R[r, f] at the pivot of row r (the canonical basis)."""
    free = np.setdiff1d(np.arange(n), pivots)
    K = np.zeros((len(free), n), dtype=np.int64)
    K[np.arange(len(free)), free] = 1
    if pivots:
        K[:, pivots] = (p - R[: len(pivots)][:, free].T) % p
    return K


_NUMPY_DENSE = 24  # coupled components up to this many unknowns are eliminated in numpy, larger by FLINT


def _sparse_left_product(R: np.ndarray, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, nrows: int,
                         ncols: int, p: int) -> np.ndarray:
    """R·A mod p for a dense R (residues, m × nrows) and a sparse A given as COO without repeats, exactly.

    Column by column: the products R[:, row]·value are reduced mod p (below 2^31) and summed by
    ``reduceat`` (fewer than 2^32 of them per column, so the int64 sums are exact).
    """
    m = R.shape[0]
    out = np.zeros((m, ncols), dtype=np.int64)
    order = np.argsort(cols, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    step = max(1, 4_000_000 // max(m, 1))
    start = 0
    while start < len(cols):
        stop = min(len(cols), start + step)
        while stop < len(cols) and cols[stop] == cols[stop - 1]:  # a column stays in one slice
            stop += 1
        c = cols[start:stop]
        heads = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        prod = R[:, rows[start:stop]] * vals[start:stop] % p
        out[:, c[heads]] = (out[:, c[heads]] + np.add.reduceat(prod, heads, axis=1)) % p
        start = stop
    return out


def _dense_kernel(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, nrows: int, ncols: int, p: int,
                  rng: random.Random) -> np.ndarray:
    """Canonical kernel basis (vectors as rows) of one coupled component mod p.

    A tall system (more than ncols + 8 rows) is first compressed to R·A, R a uniformly random
    (ncols + 8) × nrows matrix: the rank is kept with probability ≥ 1 − ncols/p, and a loss would only
    enlarge the kernel, which the exact verification then rejects.
    """
    if nrows > ncols + 8:
        gen = np.random.default_rng(rng.randrange(2**63))
        R = gen.integers(0, p, size=(ncols + 8, nrows), dtype=np.int64)
        A = _sparse_left_product(R, rows, cols, vals, nrows, ncols, p)
    else:
        A = np.zeros((nrows, ncols), dtype=np.int64)
        A[rows, cols] = vals
    if ncols <= _NUMPY_DENSE:
        R, pivots = _rref_mod_p(A, p)
        return _kernel_from_rref(R, pivots, ncols, p)
    from flint import nmod_mat

    X, nullity = nmod_mat(A.shape[0], ncols, A.ravel().tolist(), p).nullspace()
    if not nullity:
        return np.zeros((0, ncols), dtype=np.int64)
    K = np.array([[int(X[i, j]) for i in range(ncols)] for j in range(nullity)], dtype=np.int64)
    return _canonical_kernel(K, p)


# --- lifting and exact verification ---------------------------------------------------------------
def _lift(vector: np.ndarray, columns: np.ndarray, monomial, p: int) -> Polynomial | None:
    """The law with coefficients n/d ≡ vector (mod p) on the monomials of ``columns``, normalised
    (integers with gcd 1, the first monomial's coefficient positive); None if a coefficient has no lift."""
    pairs = {}
    for c, a in zip(columns.tolist(), vector.tolist()):
        if a:
            f = _rational_reconstruction(a, p)
            if f is None:
                return None
            pairs[monomial(c)] = f
    den = 1
    for f in pairs.values():
        den = den * f.denominator // gcd(den, f.denominator)
    ints = {m: f.numerator * (den // f.denominator) for m, f in pairs.items()}
    g = 0
    for v in ints.values():
        g = gcd(g, v)
    sign = 1 if ints[min(ints)] > 0 else -1
    return Polynomial({m: Fraction(sign * v // g) for m, v in ints.items()})


# --- the size estimate ------------------------------------------------------------------------------
#: Memory the solver may use (bytes); a request that would need more is refused with what would fit.
MEMORY_LIMIT = 4 * 2**30
_CHUNK_ENTRIES = 3_000_000  # expansion entries of the system built at once (several blocks together)
_BYTES_PER_ENTRY = 8 * 24  # the expansion's arrays (monomials, keys, merges), per entry, measured generously
_BYTES_PER_DENSE = 8 * 6  # a dense coupled component: numpy, the Python list handed to flint, flint's copy


def _unknowns(S: int, degree: int, time_degree: int) -> int:
    return (time_degree + 1) * sum(_monomial_count(S, d) for d in range(1, degree + 1))


def _estimate_bytes(S: int, degree: int, time_degree: int, mean_terms: float, time_terms: int) -> tuple[int, float]:
    """(unknowns, bytes) of the first stage: the monomials and one chunk of the expanded system."""
    unknowns = _unknowns(S, degree, time_degree)
    entries = sum(_monomial_count(S, d) * (d * mean_terms + a * time_terms)
                  for d in range(1, degree + 1) for a in range(time_degree + 1))
    width = degree + time_degree
    return unknowns, unknowns * width * 8 * 3 + min(entries, _CHUNK_ENTRIES) * _BYTES_PER_ENTRY


def _refuse(what: str, need: float, S: int, degree: int, time_degree: int, mean_terms: float, time_terms: int):
    fits = [d for d in range(1, degree)
            if _estimate_bytes(S, d, time_degree, mean_terms, time_terms)[1] <= MEMORY_LIMIT]
    hint = (f"degree ≤ {fits[-1]} fits ({_unknowns(S, fits[-1], time_degree)} unknowns)" if fits
            else "lower the time degree or the widths")
    raise invalid("degree", degree, f"{what} would need about {need / 2**30:.1f} GB, over the solver's "
                  f"{MEMORY_LIMIT / 2**30:.0f} GB limit (laws.MEMORY_LIMIT); {hint}")


@dataclass
class _Found:
    order: int  # the position of the law's last monomial in the unknowns' order (its printed place)
    block: int
    law: Polynomial


def _solve_graded(fields: Sequence[VectorField], monos: np.ndarray, keys: np.ndarray, terms: _Terms,
                  rng: random.Random, refuse, stats: dict) -> tuple[list[Polynomial], bool]:
    """Every law spanned by ``monos``, block by block (blocks: equal ``keys``), exactly verified."""
    N, p = terms.N, terms.p

    def monomial(i: int) -> tuple[int, ...]:
        return tuple(int(v) for v in monos[i] if v != N)

    uniq, block_of = np.unique(keys, return_inverse=True)
    block_of = block_of.ravel()
    stats["blocks"] = len(uniq)
    sizes = np.bincount(block_of)
    stats["largest_block"] = int(sizes.max()) if len(sizes) else 0
    per_mono = terms.per_variable()[monos].sum(axis=1)
    per_block = np.bincount(block_of, weights=per_mono)
    biggest = float(per_block.max()) if len(per_block) else 0.0
    if biggest * _BYTES_PER_ENTRY > MEMORY_LIMIT:
        refuse("the largest homogeneous block's system", biggest * _BYTES_PER_ENTRY)
    order = np.argsort(block_of, kind="stable")
    found: list[_Found] = []
    failed_blocks: set[int] = set()
    start = 0
    stats.setdefault("largest_coupled", 0)
    stats.setdefault("eliminated", 0)
    boundaries = np.searchsorted(block_of[order], np.arange(len(uniq) + 1))
    while start < len(uniq):
        stop, load = start, 0.0
        while stop < len(uniq) and (stop == start or load + per_block[stop] <= _CHUNK_ENTRIES):
            load += per_block[stop]
            stop += 1
        cols_global = np.sort(order[boundaries[start] : boundaries[stop]])
        start = stop
        rows, cols, vals = _system(monos[cols_global], terms)
        alive, rows, cols, vals = _eliminate_singletons(rows, cols, vals, len(cols_global))
        stats["eliminated"] += int((~alive).sum())
        touched = np.zeros(len(cols_global), dtype=bool)
        touched[cols] = True
        for c in np.flatnonzero(alive & ~touched):  # no field moves this monomial: it is a law itself
            found.append(_Found(int(cols_global[c]), int(block_of[cols_global[c]]),
                                Polynomial({monomial(cols_global[c]): Fraction(1)})))
        if not len(rows):
            continue
        row_ids, rows = np.unique(rows, return_inverse=True)
        col_ids, cols = np.unique(cols, return_inverse=True)
        rows, cols = rows.ravel(), cols.ravel()
        root = _coupled_components(rows, cols, len(col_ids))
        _, comp_of_entry = np.unique(root[cols], return_inverse=True)
        comp_of_entry = comp_of_entry.ravel()
        ncomp = int(comp_of_entry.max()) + 1
        by_comp = np.argsort(comp_of_entry, kind="stable")
        bounds = np.searchsorted(comp_of_entry[by_comp], np.arange(ncomp + 1))
        for k in range(ncomp):
            sel = by_comp[bounds[k] : bounds[k + 1]]
            if not len(sel):
                continue
            r_loc, r = np.unique(rows[sel], return_inverse=True)
            c_loc, c = np.unique(cols[sel], return_inverse=True)
            nck = len(c_loc)
            stats["largest_coupled"] = max(stats["largest_coupled"], nck)
            if nck * (nck + 8) * _BYTES_PER_DENSE > MEMORY_LIMIT:
                refuse(f"one coupled set of {nck} unknowns (after splitting and elimination)",
                       nck * (nck + 8) * _BYTES_PER_DENSE)
            kernel = _dense_kernel(r.ravel(), c.ravel(), vals[sel], len(r_loc), nck, p, rng)
            if not len(kernel):
                continue
            global_cols = cols_global[col_ids[c_loc]]
            for vec in kernel:
                law = _lift(vec, global_cols, monomial, p)
                blk = int(block_of[global_cols[0]])
                if law is None:
                    failed_blocks.add(blk)
                    continue
                found.append(_Found(int(global_cols[np.flatnonzero(vec)[-1]]), blk, law))
    verified = True
    passed = _annihilated([f.law for f in found if f.block not in failed_blocks], terms)
    candidates = [f for f in found if f.block not in failed_blocks]
    failed_blocks |= {f.block for f, ok in zip(candidates, passed) if not ok}
    kept = [f for f in candidates if f.block not in failed_blocks]
    # a failed lift or verification (a bad prime, large coefficients): that block again, exactly
    for blk in sorted(failed_blocks):
        idx = np.flatnonzero(block_of == blk)
        laws_b, ok = _solve_block(fields, [monomial(i) for i in idx], rng)
        verified &= ok
        position = {monomial(i): int(i) for i in idx}
        kept += [_Found(max(position[m] for m in h), blk, h) for h in laws_b]
    stats["exact_fallbacks"] = len(failed_blocks)
    kept.sort(key=lambda f: f.order)
    return [f.law for f in kept], verified


# --- the minimal basis -----------------------------------------------------------------------------
def _gradients_mod_p(laws: Sequence[Polynomial], N: int, p: int, point: np.ndarray) -> np.ndarray:
    """∇h(ξ0) mod p for every law h (one row each), from the laws' terms in one vectorised pass."""
    # a law is a scalar: its terms as the "components" of a field, one per law
    terms = ModularField.from_terms([(i, m, c) for i, h in enumerate(laws) for m, c in h.items()], N, p)
    _, others = terms._monomial_values(point)
    G = np.zeros(len(laws) * (N + 1), dtype=np.int64)
    for l, other in enumerate(others):
        var = terms.mono[:, l]
        ok = var != N
        np.add.at(G, terms.comp[ok] * (N + 1) + var[ok], terms.coef[ok] * other[ok] % p)
    return G.reshape(len(laws), N + 1)[:, :N] % p


def _random_point(N: int, seed: int) -> tuple[int, np.ndarray]:
    rng = random.Random(seed)
    p = random_prime(rng)
    return p, np.array([rng.randrange(1, p) for _ in range(N)] + [1], dtype=np.int64)


def minimal_basis(laws: Sequence[Polynomial], N: int, seed: int = 0,
                  time_index: int | None = None) -> tuple[int, list[int]]:
    """(rank, indices): the rank of the laws' gradients at a random point mod p, and the greedy basis.

    The laws are taken by increasing degree (in θ and v, then with the time variable ``time_index``, then
    their order) and one is
    kept iff its gradient at ξ0 is independent of the gradients kept before it: the pivot columns of the
    reduced row-echelon form of [∇h_1 … ∇h_n](ξ0). The kept laws are functionally independent (a non-zero
    minor mod p is non-zero over Q); every other law's gradient lies in their span at ξ0, so it is a
    function of them wherever the rank is generic (certainly so when their number is the Lie bound N − K).
    """
    from flint import nmod_mat

    if not laws:
        return 0, []
    p, point = _random_point(N, seed)
    def state_degree(h: Polynomial) -> int:  # the degree in θ (and v), not counting the time variable
        return max(len(m) - m.count(time_index) for m in h) if time_index is not None else h.degree()

    order = sorted(range(len(laws)), key=lambda i: (state_degree(laws[i]), laws[i].degree(), i))
    G = _gradients_mod_p([laws[i] for i in order], N, p, point)
    R, rank = nmod_mat(G.T.tolist(), p).rref() if N else (None, 0)
    if not rank:
        return 0, []
    E = np.array([int(x) for x in R.entries()], dtype=np.int64).reshape(N, len(laws))[:rank]
    pivots = [int(np.flatnonzero(row)[0]) for row in E]
    return int(rank), sorted(order[j] for j in pivots)


def independent_count(laws: Sequence[Polynomial], N: int, seed: int = 0) -> int:
    """Rank of the gradients of the laws at a random point mod p (a certified lower bound)."""
    from flint import nmod_mat

    if not laws:
        return 0
    p, point = _random_point(N, seed)
    return int(nmod_mat(_gradients_mod_p(laws, N, p, point).tolist(), p).rank())


def default_time_degree(flow: Flow, degree: int) -> int:
    """Largest power of the time coordinate searched by default: 3 for Nesterov's t (t³J), 1 for
    s = e^{τt} or t without decay; with weight decay λ, ``flows.decay_time_degree``."""
    if flow.weight_decay:
        return decay_time_degree(flow, degree)
    if flow.time_variable is None:
        return 0
    return 3 if flow.kind == "nesterov" else 1


def polynomial_laws(model: Model | FieldFamily, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
                    degree: int = 2, time_degree: int | None = None, seed: int = 0,
                    lie: LieResult | None = None, weight_decay=0) -> LawsResult:
    """Every polynomial law of degree ≤ ``degree`` in θ (and v), times powers of the time variable up to
    ``time_degree`` (default: 1 for s = e^{τt}, 3 for Nesterov's t, 1 for τ = 0), exactly.

    The unknowns h = Σ c_m m are split by multi-degree (``weight_lattice``): X(h) = 0 couples only
    monomials of equal weight for every weight w, so each block is solved alone, by sparse elimination
    mod p (rows with one entry first), dense elimination of what stays coupled, rational
    reconstruction and exact verification over Q. The result also carries a minimal basis
    (``LawsResult.basis``): functionally independent laws of least degree, as many as ``independent``.

    ``lie``, a count of the same family (``lie.count_laws``), is not changed: when the laws prove it,
    ``LawsResult.lie`` is a proved copy.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise invalid("degree", degree, "a positive integer")
    if time_degree is not None and (isinstance(time_degree, bool) or not isinstance(time_degree, int) or time_degree < 0):
        raise invalid("time_degree", time_degree, "a non-negative integer")
    t0 = time.perf_counter()
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry,
                                                                          weight_decay=weight_decay)
    fields = [g for g in family.generators if not g.is_zero()]
    N = family.N
    has_time = family.flow.time_variable is not None  # momentum, or GF with weight decay
    if time_degree is None:
        time_degree = default_time_degree(family.flow, degree)
    if not has_time:
        time_degree = 0
    state_w = [0 if (has_time and i == 0) else 1 for i in range(N)]
    time_w = [1 if (has_time and i == 0) else 0 for i in range(N)]
    state_graded = _graded(fields, state_w)
    rng = random.Random(seed)
    S = N - (1 if has_time else 0)
    p = random_prime(rng)
    terms = _Terms.build(fields, N, p)
    counts = terms.per_variable()
    mean_terms = float(counts[N - S : N].mean()) if S else 0.0
    time_terms = int(counts[0]) if has_time else 0

    if lie is not None:
        check_matches(lie, family)  # a certificate is never borrowed from another case

    def refuse(what: str, need: float):
        _refuse(what, need, S, degree, time_degree, mean_terms, time_terms)

    unknowns, need = _estimate_bytes(S, degree, time_degree, mean_terms, time_terms)
    if need > MEMORY_LIMIT:
        refuse(f"{unknowns} unknown coefficients", need)
    weights = weight_lattice(fields, N, rng)
    extra = [w for w, ok in ((state_w, state_graded), (time_w, has_time and _graded(fields, time_w))) if ok]
    if extra:
        weights = np.concatenate([weights, np.array(extra, dtype=np.int64)])
    monos = _unknown_monomials(N, has_time, degree, time_degree, state_graded)
    keys = _block_keys(monos, weights, N, rng)
    stats: dict = {"weights": int(np.linalg.matrix_rank(weights.astype(float))) if len(weights) else 0, "prime": p}
    laws, verified = _solve_graded(fields, monos, keys, terms, rng, refuse, stats)
    del monos, keys
    if lie is None:
        lie = count_laws(family, seed=seed)
    independent, basis = minimal_basis(laws, N, seed=seed + 1, time_index=0 if has_time else None)
    if verified:
        lie = prove_by_laws(lie, independent, f"polynomial laws of degree ≤ {degree}")  # a proved copy
    notes = []
    if not state_graded:
        notes.append("fields are not homogeneous in the state degree: all degrees were solved together")
    return LawsResult(family, laws, independent, lie.laws, lie, degree, time_degree, verified,
                      time.perf_counter() - t0, unknowns, notes, basis_indices=basis, stats=stats)


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


# --------------------------------------------------------------------------------------------
# Helpers of the model chapters (lecture): certified lower bounds from exhibited laws
# --------------------------------------------------------------------------------------------

def exhibited_laws(model: Model, expressions: Sequence[sympy.Expr], flow: Flow | str = "gradient", tau=0,
                   geometry: str | None = None, seed: int = 0) -> int:
    """How many independent, exactly verified laws ``expressions`` holds: a certified lower bound.

    Each expression is checked with :func:`check_law` against the fields of ``flow``; the verified
    ones are counted by :func:`independent_count` (rank of their gradients mod p at a random point,
    never above the true rank). Equal to the Lie count N − K, it proves that count exact.
    """
    family = vector_fields(model, flow, tau=tau, geometry=geometry)
    verified = [h for h in expressions if check_law(h, family)]
    polys = [from_sympy(h, family.symbols) for h in verified]
    return independent_count(polys, len(family.symbols), seed=seed)


def paper_laws_rank(model: Model, seed: int = 0) -> int:
    """The rank of the laws the papers state for ``model`` under gradient flow, if they all hold.

    0 if one of ``model.paper_laws("gradient")`` fails the exact check (:func:`check_law`);
    otherwise the rank of their gradients at a random point mod p (:func:`independent_count`): a
    certified lower bound on the number of laws, which proves a count N − K that it meets. (Unlike
    :func:`exhibited_laws`, which counts the verified ones among any expressions, one failing law
    here makes the whole set count for nothing.)
    """
    family = vector_fields(model, "gradient")
    hs = model.paper_laws("gradient")
    if not all(check_law(h, family) for h in hs):
        return 0
    return independent_count([from_sympy(h, model.symbols) for h in hs], model.D, seed=seed)


def numeric_gradient_rank(expressions: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol], seed: int = 0,
                          low: float = 0.5, high: float = 2.0) -> int:
    """Rank (float64) of the Jacobian of ``expressions`` at a point drawn uniformly in [low, high]^D.

    For laws that are not polynomial (logarithms), where the modular rank does not apply; the point
    is positive so that logarithms of ratios of parameters are defined.
    """
    if not expressions:
        return 0
    jac = sympy.lambdify(list(symbols), sympy.Matrix(list(expressions)).jacobian(list(symbols)))
    point = np.random.default_rng(seed).uniform(low, high, size=len(symbols))
    return int(np.linalg.matrix_rank(np.asarray(jac(*point), dtype=float)))

