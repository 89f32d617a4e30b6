"""How laws are counted: the dimension of the trace of the generated Lie algebra.

Let W be the family of polynomial vector fields of a model and a flow (``flows.vector_fields``), on a
space of dimension N. The number of independent conservation laws near a generic point is
N − K, with K = dim Lie(W)(ξ) (Frobenius). K is computed by the bracket construction

    V_1 = span W,   V_{k+1} = V_k + [W, V_k],   stop when no new direction appears,

evaluated at one random point ξ0 of F_p^N (p a random prime of [2^19, 2^20): a product of two residues
summed over thousands of terms stays exact in float64), with exact rank mod p, and certified by one
check mod a random prime of about 62 bits (below).

Why it is fast. Brackets are *expanded only for the survivors*: the value of a candidate
[g, b] at ξ0 is Db(ξ0)·g(ξ0) − Dg(ξ0)·b(ξ0), a pair of matrix–vector products once the Jacobians
of the survivor b and of the generator g at ξ0 are known. Only a candidate whose value is
independent of the current span is expanded as a polynomial field (over Z, once: it is needed for
the next round and by the check). Independence is tested against a reduced row-echelon basis:
first by a random sketch (a candidate c is kept for exact elimination iff the residual of c modulo
the span has a non-zero product with two random vectors W; c·W' = g·(Dbᵀ W') − b·(Dgᵀ W') for all
g and b of a group are two sparse products with the generators' values and Jacobians, and W' is
updated with the basis instead of recomputed), then exactly for the few candidates that pass: one
reduction of the group's survivors against the basis, a maximal independent set among them (FLINT's
LU, ``algebra.elimination``), and one block update of the basis; the kept brackets are expanded
together (``brackets``). Large products mod p run through float64 BLAS, exactly (``mulmod``). A round
first tests one random combination of all its candidates (bilinearity, as in the check): if it lies
in the span, the round adds nothing (but with probability ≤ 2/p) and the construction stops. Pruning
dependent candidates is legitimate: near a generic point, a field whose value lies in the span of
the kept fields is a combination of them with smooth coefficients, so its brackets add nothing new.
The sketch and the round test only filter; a direction they wrongly drop is caught by the check below.

What is certified: the lemma behind every count.
Write F = (f_1, …, f_K) for the kept fields of a run (generators and brackets [g, f], each known by
its *word*: which generator applied to which earlier kept field), K = K_computed.

* (a) Always K_computed ≤ K_true. The values f_i(ξ0) are independent mod p, so some K × K minor of
  the integer fields (denominators cleared) is non-zero mod p at ξ0, hence non-zero over Q: the f_i,
  which lie in Lie(W), are independent at generic real points. N − K_computed is an upper bound on
  the number of laws, whatever the draws. If K_computed = N the count (0 laws) is proved outright.
* (b) Lemma. If every generator g and every bracket [g, f] (g a generator, f ∈ F) lies in the
  C^∞-span of F near a generic point, then Lie(W) ⊆ span F there and K_true ≤ K, so the count is
  exact. Proof: on an open set where F is independent let M be the C^∞-module spanned by F. Then
  ad_g(a f) = g(a) f + a [g, f] ∈ M, so ad_g maps M into M; every g is in M; Lie(W) is spanned by
  the iterated brackets ad_{g_1} ⋯ ad_{g_{k−1}} g_k, which therefore lie in M.
* (c) The check. The run expands its kept fields over Z (the integer fields L·g of the generators,
  L the lcm of their denominators, and their brackets: same spans). After F is fixed (as words) a fresh
  prime p1, uniform among the primes of CHECK_PRIME_RANGE = [2^61, 2^62) (rejection sampling), a fresh
  point ξ1 uniform in F_{p1}^N and uniform coefficients r_g, s_g (one per generator g) and c_f (one
  per kept field f) are drawn. By bilinearity of the bracket, with γ = Σ r_g g, φ = Σ c_f f, σ = Σ s_g g,

      h = Σ_{g, f} r_g c_f [g, f](ξ1) + σ(ξ1) = Dφ(ξ1)·γ(ξ1) − Dγ(ξ1)·φ(ξ1) + σ(ξ1),

  one row computed from the values and directional derivatives of the integer fields at ξ1 mod p1 (no
  bracket is expanded, no field re-expanded), and the run is accepted iff rank [F(ξ1); h] ≤ K (FLINT's
  exact rank mod p1). Only K + 1 columns are eliminated: the K columns S on which the run found F(ξ0)
  invertible and one uniform combination v = Σ_{j∉S} w_j e_j of the others (w drawn with ξ1), so the
  check is the rank of a (K + 1) × (K + 1) matrix. Suppose the count is wrong. By (b) some h0 among
  the g and [g, f] fails membership generically. det F_S is a non-zero polynomial (it is non-zero at
  ξ0 mod p0), so h0 − (h0_S F_S^{-1}) F ≠ 0 and some (K + 1)-minor P_{h0} of the integer matrix
  [F | h0] on columns S ∪ {j}, j ∉ S, is a non-zero integer polynomial. The matrix of the check has
  determinant Q(ξ, r, c, s, w) = Σ_j w_j (Σ r_g c_f P_{[g,f], j} + Σ s_g P_{g, j}), a non-zero
  polynomial of degree ≤ d + 3 whose coefficients include those of P_{h0}. For the check to accept,
  Q(ξ1, r, c, s, w) = 0 mod p1: either p1 divides every coefficient of P_{h0} (unlucky prime), or
  Q mod p1 is a non-zero polynomial vanishing at the uniform (ξ1, r, c, s, w) (Schwartz–Zippel). Hence

      Pr[accept | count wrong] ≤ (⌊B/61⌋ + 1) / Π_eff + (d + 3) / p1
                               ≤ (⌊B/61⌋ + 1) / Π_eff + (d + 3) / 2^61,

  with d = Σ_F deg f + max_h deg h and B = Σ_F log2‖f‖_1 + max_h log2‖h‖_1. Here deg and ‖·‖_1 (sum
  of |coefficients| of the integer field) are bounded along the words: deg[g, f] ≤ deg g + deg f − 1
  and ‖[g, f]‖_1 ≤ (deg g + deg f)‖g‖_1‖f‖_1; a minor obeys ‖det‖_1 ≤ Π (column norms) (a permanent
  bound) and deg det ≤ Σ (column degrees); a non-zero integer c has at most log2|c|/61 prime factors
  ≥ 2^61. Π_eff is a proved lower bound on the number of primes of the range,
  π(2^62) − π(2^61) > 2^62/ln 2^62 − 1.25506·2^61/ln 2^61 > 3.8·10^16 (Rosser–Schoenfeld), minus the
  primes dividing the generators' denominators (a safe margin: the draw need not avoid them). For a
  ladder count with K·deg in the tens of thousands and B in the hundreds of thousands of bits the
  bound is below 10^−12: one check suffices (``TARGET_BOUND`` = 1e-9).
* (d) Margin. Should one check not reach ``TARGET_BOUND`` (astronomical d or B), checks at independent
  (p1, ξ1) multiply their bounds, added until the product is ≤ ``TARGET_BOUND``, stopping at the first
  check that does not accept (rank < K: "degenerate"). For this sequential rule to be sound the
  per-check factor must not depend on the draws: (d + 3)/p1 is replaced by (d + 3)/2^61. With a prime
  fixed by the caller (``prime=``) nothing is random about it: its unlucky term is 0 if 2^B < p (no
  coefficient can be divisible by p), else 1, and only the Schwartz–Zippel factors (d + 3)/p multiply,
  so a tiny prime gets a large, honest bound.
* A run stopped by ``max_depth`` before stabilising is reported "upper bound only", never with a
  probability; so is a run whose check found a missed direction three times.
* Deterministically, when the family has a single non-zero generator g (gradient flow of a
  scalar output): [g, g] = 0, so Lie(W) = span{g} and K = 1 wherever g ≠ 0; a run that finds
  K_computed = 1 is exact, whatever the prime and point.
* Deterministically, when ``laws.polynomial_laws`` (or ``darboux``, or ``abelian``) exhibits
  N − K_computed independent, exactly verified laws (lower bound = upper bound): ``prove_by_laws``.

``LieResult.certificate`` says which: "proved" (``certificate_how``: full rank, one generator, or laws exhibited),
"probabilistic" (``failure_bound`` is the proved bound above) or "upper bound only". A table of
counts is guaranteed with the *sum* of its bounds (``summarise_certificates``).

Seeds. ``count_laws(seed=s)`` builds ``numpy.random.SeedSequence([s, fingerprint])``, the
fingerprint being a hash of the family's names and generators, so two different cases with the same
seed get independent streams; every run (repeat or retry) and every check spawns its own child
sequence, so no two draws of one call share a stream and no call's streams collide with another's.
"""

from __future__ import annotations

import contextlib
import hashlib
import copy
import logging
import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import invalid
from ..flows import FieldFamily, Flow, TimeCoordinate, lifted_fields, vector_fields
from ..models import Model, make_model
from ..algebra.modular import (CHECK_PRIME_RANGE, CONSTRUCTION_PRIME_RANGE, PRIME_RANGE, PRIMES_IN_CHECK_RANGE_LOWER,  # noqa: F401
                               PRIMES_IN_RANGE_LOWER, SummingPattern, coo_mod, float_mulmod, is_prime, mulmod, mulmod_wide, random_check_prime,
                               random_prime, sparse_mulmod, summed_mod)
from ..algebra.elimination import block_rank_mod, independent_rows, rank_mod
from ..algebra.polynomial import VectorField

#: The certified failure bound a probabilistic count is driven below (independent checks multiply).
TARGET_BOUND = 1e-9
#: Most independent checks of one run; most runs (a check that finds a missed direction reruns).
MAX_CHECKS = 8
MAX_ATTEMPTS = 3


_CANDIDATE_ROWS = 2048  # bracket candidates tested together against the span
_DENSE_SKETCH = 2**22  # G·N up to which the sketches use dense floating-point products (no scipy import)
_MIN_GROUP = 16  # at least this many survivors b per group (each group costs a pass over the basis)
_SKETCH_VECTORS = 2  # random vectors of the membership sketch (miss probability p^-2 per test)


class ModularField:
    """A polynomial vector field mod p as flat arrays of terms: component, monomial, coefficient.

    A monomial is a row of sorted variable indices, padded with the sentinel N (whose value is 1).
    With p = 0 the coefficients are exact integers (int64 while ``bracket`` can prove that no sum
    overflows, Python integers beyond): the engine's integer fields, reduced mod any prime by ``reduced``.
    """

    __slots__ = ("comp", "mono", "coef", "N", "p", "degree", "norm", "_by_component")

    def __init__(self, comp: np.ndarray, mono: np.ndarray, coef: np.ndarray, N: int, p: int):
        self.N, self.p = N, p
        keep = coef != 0
        if not keep.all():
            comp, mono, coef = comp[keep], mono[keep], coef[keep]
        self.degree = 0
        if mono.shape[1] and len(coef):
            real = mono != N  # the positions holding a variable (not the padding)
            used = np.flatnonzero(real.any(axis=0))
            mono = mono[:, : int(used[-1]) + 1] if len(used) else mono[:, :0]
            self.degree = int(real.sum(axis=1).max())
        elif mono.shape[1]:
            mono = mono[:, :0]
        self.comp, self.mono, self.coef = comp, mono, coef
        # ‖X‖_1 of an integer field (a float: it only decides whether int64 sums are safe, with margin)
        self.norm = float(np.abs(coef).sum()) if p == 0 and len(coef) else 0.0
        self._by_component = None

    def by_component(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, start): the terms sorted by component, those of component k at order[start[k]:start[k+1]]
        (computed once: a field enters many brackets)."""
        if self._by_component is None:
            order = np.argsort(self.comp, kind="stable")
            self._by_component = order, np.searchsorted(self.comp[order], np.arange(self.N + 1))
        return self._by_component

    @classmethod
    def from_integer(cls, field: VectorField) -> "ModularField":
        """The integer field L·X, L the lcm of X's denominators (exact; p = 0)."""
        return _integer_form(field)[0]

    def reduced(self, p: int) -> "ModularField":
        """This integer field mod p (p < 2^62)."""
        coef = self.coef % p
        return ModularField(self.comp, self.mono, coef.astype(np.int64) if coef.dtype == object else coef, self.N, p)

    @classmethod
    def from_exact(cls, field: VectorField, p: int) -> "ModularField":
        rows = [(k, m, c) for k, poly in enumerate(field.components) for m, c in poly.items()]
        return cls.from_terms(rows, field.dimension, p)

    @classmethod
    def from_terms(cls, rows, N: int, p: int) -> "ModularField":
        """From exact terms ``(component, monomial, rational coefficient)`` on N coordinates, mod p."""
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


def _values_and_jacobians(fields: list["ModularField"], point_ext: np.ndarray) -> list:
    """``[f.value_and_sparse_jacobian(point_ext) for f in fields]`` (fields mod the same p), computed on
    all their terms side by side: a handful of NumPy calls per round instead of a dozen per field."""
    if not fields:
        return []
    N, p, F = fields[0].N, fields[0].p, len(fields)
    width = max(f.mono.shape[1] for f in fields)
    owner, comp, mono, coef = _stack(fields, width)
    vals = [point_ext[mono[:, l]] for l in range(width)]
    prefix = [np.ones(len(coef), dtype=np.int64)]
    for l in range(width):
        prefix.append(prefix[-1] * vals[l] % p)
    # each (field, component) sums a few residues below 2^31: exact in float64
    values = (np.bincount(owner * N + comp, weights=coef * prefix[-1] % p, minlength=F * N)
              .astype(np.int64) % p).reshape(F, N)
    suffix = np.ones(len(coef), dtype=np.int64)
    parts = []
    for l in range(width - 1, -1, -1):
        ok = mono[:, l] != N
        other = prefix[l][ok] * suffix[ok] % p
        parts.append((owner[ok], comp[ok], mono[ok, l], coef[ok] * other % p))
        suffix = suffix * vals[l] % p
    parts.reverse()  # positions in increasing order, as value_and_sparse_jacobian lists them
    own, rows, cols, jv = (np.concatenate([part[i] for part in parts]) if parts else np.zeros(0, np.int64)
                           for i in range(4))
    order = np.argsort(own, kind="stable")
    own, rows, cols, jv = own[order], rows[order], cols[order], jv[order]
    bounds = np.searchsorted(own, np.arange(F + 1))
    return [(values[i], (rows[a:b], cols[a:b], jv[a:b])) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def _residue(c: Fraction, p: int) -> int:
    c = Fraction(c)
    if c.denominator % p == 0:
        raise ArithmeticError(f"denominator {c.denominator} is divisible by the prime {p}")
    return c.numerator * pow(c.denominator, -1, p) % p


def _stack(fields: list[ModularField], width: int):
    """The terms of ``fields`` side by side: (field index, component, monomial padded to ``width``, coef)."""
    N = fields[0].N
    sizes = [f.n_terms for f in fields]
    owner = np.repeat(np.arange(len(fields), dtype=np.int64), sizes)
    comp = np.concatenate([f.comp for f in fields])
    coef = np.concatenate([f.coef for f in fields])
    mono = np.full((len(coef), width), N, dtype=np.int64)
    at = 0
    for f, n in zip(fields, sizes):
        mono[at : at + n, : f.mono.shape[1]] = f.mono
        at += n
    return owner, comp, mono, coef


def _products_of_pairs(Xs: list[ModularField], Ys: list[ModularField]):
    """The terms of Σ_j X_j ∂_j Y for every pair (X, Y) = (Xs[i], Ys[i]) at once, not yet combined:
    (pair, component of Y, merged monomial, coefficient). Removing position l of a monomial of Y
    differentiates it once (repeated variables add up when the terms are summed)."""
    N = Xs[0].N
    wx, wy = max(X.mono.shape[1] for X in Xs), max(Y.mono.shape[1] for Y in Ys)
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros((0, max(wx + wy - 1, 0)), np.int64), np.zeros(0, np.int64))
    if wy == 0 or not any(X.n_terms for X in Xs):
        return empty
    ypair, ycomp, ymono, ycoef = _stack(Ys, wy)
    _, _, xmono, xcoef = _stack(Xs, wx)
    # X's terms grouped by (pair, component): those of pair i, component k at order[start[i, k]:start[i, k+1]]
    offsets = np.cumsum([0] + [X.n_terms for X in Xs])
    order = np.concatenate([offsets[i] + X.by_component()[0] for i, X in enumerate(Xs)])
    start = np.stack([offsets[i] + X.by_component()[1] for i, X in enumerate(Xs)])
    # explode Y by positions: removing position l of a monomial differentiates it once
    t_idx, pos = np.nonzero(ymono != N)
    var, pair = ymono[t_idx, pos], ypair[t_idx]
    first = start[pair, var]
    rep = start[pair, var + 1] - first
    total = int(rep.sum())
    if total == 0:
        return empty
    t_rep, pos_rep = np.repeat(t_idx, rep), np.repeat(pos, rep)
    within = np.arange(total) - np.repeat(np.cumsum(rep) - rep, rep)
    x_idx = order[np.repeat(first, rep) + within]
    keep = np.arange(wy)[None, :] != pos_rep[:, None]
    dmono = ymono[t_rep][keep].reshape(total, wy - 1)
    mono = np.concatenate([xmono[x_idx], dmono], axis=1)
    mono.sort(axis=1)
    return ypair[t_rep], ycomp[t_rep], mono, xcoef[x_idx] * ycoef[t_rep]


def brackets(pairs: list[tuple[ModularField, ModularField]]) -> list[ModularField]:
    """[X, Y] = ∂Y·X − ∂X·Y for every pair (X, Y) of fields mod the same p (exactly over Z if p = 0),
    computed together: component k is Σ_j X_j ∂_j Y_k − Y_j ∂_j X_k.

    Over Z every partial sum of a pair's terms is at most (deg X + deg Y)·‖X‖_1·‖Y‖_1 in absolute value;
    the pairs for which that bound is not below 2^62 are computed apart, with Python integers (no
    overflow, ever), and each result goes back to int64 when its coefficients fit.
    """
    out: list[ModularField | None] = [None] * len(pairs)
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, (X, Y) in enumerate(pairs):
        wide = X.p == 0 and (X.coef.dtype == object or Y.coef.dtype == object
                             or (max(X.degree, 1) + max(Y.degree, 1)) * X.norm * Y.norm >= 2.0**62)
        groups.setdefault((X.p, wide), []).append(i)
    for (p, wide), members in groups.items():
        Xs, Ys = [pairs[i][0] for i in members], [pairs[i][1] for i in members]
        if wide:
            Xs, Ys = ([ModularField(F.comp, F.mono, F.coef.astype(object), F.N, 0) for F in fields] for fields in (Xs, Ys))
        for i, field in zip(members, _brackets_mod(Xs, Ys, p)):
            out[i] = field
    return out


def _brackets_mod(Xs: list[ModularField], Ys: list[ModularField], p: int) -> list[ModularField]:
    """``brackets`` of the pairs (Xs[i], Ys[i]), whose coefficients share a dtype, mod p (over Z if 0)."""
    N, count = Xs[0].N, len(Xs)
    p1, c1, m1, k1 = _products_of_pairs(Xs, Ys)  # Σ_j X_j ∂_j Y
    p2, c2, m2, k2 = _products_of_pairs(Ys, Xs)  # Σ_j Y_j ∂_j X
    coef = np.concatenate([k1 % p, (p - k2 % p) % p] if p else [k1, -k2])
    empty = ModularField(np.zeros(0, np.int64), np.zeros((0, 0), np.int64), np.zeros(0, np.int64), N, p)
    if not len(coef):
        return [empty] * count
    width = max(m1.shape[1], m2.shape[1])
    pad = lambda m: np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=N) if m.shape[1] < width else m
    key = np.concatenate([np.concatenate([p1, p2])[:, None], np.concatenate([c1, c2])[:, None],
                          np.concatenate([pad(m1), pad(m2)])], axis=1)
    # the pair index leads the key: the base must hold it too
    uniq, inverse = _unique_rows(key, max(N + 1, count))
    summed = np.zeros(len(uniq), dtype=coef.dtype)
    np.add.at(summed, inverse, coef)
    if p:
        summed %= p
    bounds = np.searchsorted(uniq[:, 0], np.arange(count + 1))
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = summed[a:b]
        if part.dtype == object and (not len(part) or max(abs(int(c)) for c in part) < 2**62):
            part = part.astype(np.int64)
        out.append(ModularField(uniq[a:b, 1].copy(), uniq[a:b, 2:].copy(), part, N, p) if b > a else empty)
    return out


def _unique_rows(key: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, axis=0, return_inverse=True)`` for non-negative rows with entries below ``base``:
    each row read as one integer in that base when it fits in 63 bits (a 1-D sort, much faster)."""
    n, width = key.shape
    if width == 0 or base ** width >= 2**63:
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        return uniq, inverse.ravel()
    code = key[:, 0].copy()
    for col in range(1, width):
        code = code * base + key[:, col]
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return key[first], inverse.ravel()


def bracket(X: ModularField, Y: ModularField) -> ModularField:
    """[X, Y] = ∂Y·X − ∂X·Y, mod p (exactly over Z if p = 0): ``brackets`` of one pair."""
    return brackets([(X, Y)])[0]


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
                out[:, free] = (C[:, free] - mulmod(C[:, self.pivots] % p, rows, p)) % p
            return out
        piv = self.pivots[since:]
        return (C - mulmod(C[:, piv] % p, self._rows[since : self.rank], p)) % p

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
            Wp[self.pivots] = (p - mulmod(self._rows[: self.rank][:, free], W[free], p)) % p
        return Wp

    def sketch_live(self, C: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Rows of C whose residual modulo the span has a non-zero product with W (see sketch_matrix)."""
        return mulmod(C % self.p, self.sketch_matrix(W), self.p).any(axis=1)

    def track_sketch(self, W: np.ndarray) -> None:
        """Keep W' = ``sketch_matrix(W)`` up to date through ``add_block`` (W fixed, N × s)."""
        self._W = W % self.p
        self.Wp = self.sketch_matrix(W)

    def add_block(self, E: np.ndarray, pivots: np.ndarray) -> None:
        """Add rows E (zero on the current pivot columns, in reduced echelon form on their own
        ``pivots``: E[:, pivots] = I): the old rows lose their entries on the new pivot columns.

        A tracked sketch matrix follows: with x = residual(c) before the block, the residual after it
        is x − x[pivots]·E, and x[j] = c[j] − c[old pivots]·R[:, j], so
        W'_new = W' − M[:, pivots]·(E W) with M[pivots] = I and M[old pivots] = −R[:, pivots].
        """
        p, k, r = self.p, self.rank, len(E)
        if getattr(self, "_W", None) is not None:
            EW = mulmod(E % p, self._W, p)
            Wp = self.Wp
            Wp[pivots] = (Wp[pivots] - EW) % p
            if k:
                Wp[self.pivots] = (Wp[self.pivots] + mulmod(self._rows[:k][:, pivots] % p, EW, p)) % p
        if k:
            cols = np.flatnonzero(E.any(axis=0))
            f = self._rows[:k][:, pivots]
            hit = np.flatnonzero(f.any(axis=1))
            if len(hit):
                upd = mulmod(f[hit] % p, E[:, cols], p)
                self._rows[np.ix_(hit, cols)] = (self._rows[np.ix_(hit, cols)] - upd) % p
        self._rows[k : k + r] = E % p
        self.pivots.extend(int(c) for c in pivots)
        self._is_pivot[pivots] = True

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


CERTIFICATES = ("proved", "probabilistic", "upper bound only")


@dataclass
class LieResult:
    """The outcome of a count: laws = N − K, and how certain it is (see the module docstring).

    ``certificate`` ∈ CERTIFICATES; ``certificate_how`` says why ("full rank", "one generator", "laws exhibited: …",
    "verified at C independent points and primes", or why only the upper bound holds);
    ``failure_bound`` is the proved bound on Pr[laws ≠ the true count] for a probabilistic count,
    0 for a proved one and 1 for an upper bound only.
    """

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
    certificate: str = "upper bound only"
    certificate_how: str = ""
    checks: int = 0  # independent verification passes that succeeded
    check_primes: list[int] = field(default_factory=list)
    fingerprint: str = ""  # family_fingerprint of the family counted
    seed: int = 0
    words: list[tuple[int, int]] = field(default_factory=list)  # kept fields: (generator, parent or −1)
    flow_kind: str = ""  # the flow counted ("momentum", "gradient + weight decay", …)
    model_description: str = ""  # the model counted (``Model.describe()``; "" for a bare family)
    case: dict = field(default_factory=dict)  # model_name, dims, tau, weight_decay, geometry

    def __repr__(self) -> str:  # never the random point nor the kept words
        return (f"LieResult(laws={self.laws}, dimension={self.dimension}, rank={self.rank}, "
                f"certificate={self.certificate!r}, failure_bound={self.failure_bound:.2g}, prime={self.prime}, "
                f"depth={self.depth}, repeats={self.repeats}, seconds={self.seconds:.3g})")

    def as_dict(self) -> dict:
        """The result as plain data (without the point, the names, the kept words and the check primes,
        and without what was counted, which the caller knows)."""
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        for key in ("variable_names", "point", "words", "check_primes", "flow_kind", "model_description", "case"):
            d.pop(key)
        return d


#: The logger on which every ``count_laws`` announces its result (level INFO, the ``LieResult`` in
#: the record's ``lie_result`` attribute). The engine keeps nothing: whoever wants every count of a
#: program (the book's certificate tally) attaches a ``logging.Handler`` here.
COUNT_LOGGER = "conservation_laws.engine.lie"
_logger = logging.getLogger(COUNT_LOGGER)


def _announce(result: LieResult, replaces: LieResult | None = None) -> None:
    """Tell the count logger's handlers about ``result`` (``replaces``: the count it proves, which a
    collector of counts swaps for it)."""
    if _logger.isEnabledFor(logging.INFO):
        _logger.info("%d laws (%s, failure bound %.1e)", result.laws, result.certificate, result.failure_bound,
                     extra={"lie_result": result, "replaces": replaces})


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


def _reduce_generators(gens: list[VectorField], rng: np.random.Generator, prime: int | None):
    """(p, integer generators L·g, their sizes): p fixed, or drawn uniformly among the primes dividing no L."""
    forms = [_integer_form(g) for g in gens]
    ints, sizes = [f for f, _ in forms], [s for _, s in forms]
    lcms = [s[2] for s in sizes]
    while True:
        p = prime or random_prime(rng, CONSTRUCTION_PRIME_RANGE)
        if all(L % p for L in lcms):
            return p, ints, sizes
        if prime:
            raise invalid("prime", prime, "a prime that divides no denominator of the fields")


def _lie_rank(family: FieldFamily, rng: np.random.Generator, max_depth: int, prime: int | None) -> LieResult:
    """One run of the pruned construction at (p, ξ0) drawn from ``rng``; not yet verified."""
    t0 = time.perf_counter()
    N = family.N
    gens = [g for g in family.generators if not g.is_zero()]
    # the integer fields L·g (same spans as g): brackets are expanded over Z, once, and reduced mod the
    # run's prime for its values; the check reuses them mod its own prime (no re-expansion)
    p, ints, sizes = _reduce_generators(gens, rng, prime)
    mods = [f.reduced(p) for f in ints]
    point = [int(x) for x in rng.integers(1, p, size=N)]
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
    gid_all = np.repeat(np.arange(G, dtype=np.int64), counts)  # the generator of each Jacobian entry
    nz_r, nz_c = np.nonzero(gen_vals_T)
    small = G * N <= _DENSE_SKETCH  # dense products: one float64 BLAS call each, cheaper than sparse ones here
    gen_vals_sparse = coo_mod(nz_r, nz_c, gen_vals_T[nz_r, nz_c], (G, N), p) if not small else None
    gen_vals_float = gen_vals.astype(np.float64) if small else None  # N × G: rows are gathered below
    # the positions of M_s[g, c] = Σ_r Dg[r, c] W'[r, s] (below) are fixed: their CSR structure is built once
    jac_pattern = SummingPattern(gid_all, jc, (G, N)) if not small else None
    if small:
        jac_positions, jac_inverse = np.unique(jc * G + gid_all, return_inverse=True)
        jac_dense = [np.zeros((N, G)) for _ in range(_SKETCH_VECTORS)]

    basis = _EchelonBasis(N, p)
    Ms_rank, Ms = -1, None  # [M_s for each sketch vector s] and the basis rank they were built at
    frontier: list[ModularField] = []
    frontier_int: list[ModularField] = []  # the same fields over Z
    kept_int: list[ModularField] = []  # every kept field over Z, in the order of ``words``
    frontier_ids: list[int] = []  # index in ``words`` of each frontier field
    words: list[tuple[int, int]] = []  # kept fields: (generator, parent kept field or −1)
    tested = expanded = 0
    sketch_rng = np.random.default_rng(int(rng.integers(2**63)))
    basis.track_sketch(sketch_rng.integers(0, p, size=(N, _SKETCH_VECTORS), dtype=np.int64))

    def absorb_rows(rows: np.ndarray, indices) -> list[int]:
        """Add to the basis a maximal set of the rows independent of the span and of each other; returns
        their ``indices``, in increasing order."""
        # one product against the whole basis, then the choice among the reduced rows (on the free
        # columns only: FLINT's LU), then one block update of the basis, without a pass over it per row
        reduced = basis.reduce(rows)
        free = np.flatnonzero(~basis._is_pivot)
        chosen, E, piv = independent_rows(reduced[:, free], p)
        if not chosen:
            return []
        block = np.zeros((len(chosen), N), dtype=np.int64)
        block[:, free] = E
        basis.add_block(block, free[piv])
        return [int(indices[j]) for j in chosen]

    def round_adds_nothing(evaluated) -> bool:
        """Whether one random combination h = Σ r_g c_b [g, b](ξ0) of the round's candidates lies in the
        span (the check's bilinearity at ξ0): h = Dφ·γ − Dγ·φ with γ = Σ r_g g, φ = Σ c_b b. If some
        [g, b](ξ0) is outside the span, h is inside with probability ≤ 2/p (degree 2 in (r, c)); such a
        miss only ends the construction early, and the check then finds the missed direction."""
        r = sketch_rng.integers(0, p, size=G, dtype=np.int64)
        c = sketch_rng.integers(0, p, size=len(evaluated), dtype=np.int64)
        gamma = mulmod(gen_vals, r[:, None], p)[:, 0]
        phi = np.zeros(N, dtype=np.int64)
        dphi_gamma = np.zeros(N, dtype=np.int64)
        for cb, (bval, (br, bc, bv)) in zip(c.tolist(), evaluated):
            phi = (phi + cb * bval) % p
            # c_b Db·γ: a few residues per coordinate, summed exactly in float64, then reduced
            dphi_gamma += np.bincount(br, weights=bv * gamma[bc] % p * cb % p, minlength=N).astype(np.int64) % p
        dgamma_phi = summed_mod(jr, jv * phi[jc] % p * r[gid_all] % p, N, p)
        h = (dphi_gamma - dgamma_phi) % p
        return not basis.reduce(h[None, :]).any()

    # depth 1: the generators themselves
    def keep_generator(i: int) -> None:
        frontier.append(mods[i])
        frontier_int.append(ints[i])
        kept_int.append(ints[i])
        frontier_ids.append(len(words))
        words.append((i, -1))

    tested += G
    nonzero = np.flatnonzero(gen_vals_T.any(axis=1))
    for i in absorb_rows(gen_vals_T[nonzero], nonzero):
        keep_generator(i)
    rank_by_depth = [basis.rank]
    depth = 1
    stabilised = True
    while frontier and basis.rank < N:
        if depth >= max_depth:
            stabilised = False
            break
        depth += 1
        new_frontier, new_int, new_ids = [], [], []
        evaluated = _values_and_jacobians(frontier, point_ext)
        tested += 1
        if round_adds_nothing(evaluated):
            # every [g, b] of the round is in the span at ξ0 (but with probability ≤ 2/p): the
            # construction has stabilised, without sketching the round's candidates one by one
            rank_by_depth.append(basis.rank)
            break
        # The candidates [g, b] of a group of survivors b, in the order of one b at a time (hence the
        # same decisions). Each is first tested by its sketch, the product of its residual with two
        # random vectors W (drawn after the group is fixed): c·W' with W' = basis.sketch_matrix(W), and
        # c = Db·g − Dg·b, so c·W' = g·(Dbᵀ W') − b·(Dgᵀ W'), all from the sparse Jacobians. Only the
        # candidates that pass are formed and eliminated exactly.
        chunk = max(_MIN_GROUP, _CANDIDATE_ROWS // max(G, 1))
        for start in range(0, len(frontier), chunk):
            if basis.rank >= N:
                break
            group = frontier[start : start + chunk]
            group_int = frontier_int[start : start + chunk]
            group_ids = frontier_ids[start : start + chunk]
            Wp = basis.Wp  # kept up to date by add_block (the sketch only filters: the check certifies)
            S = _SKETCH_VECTORS
            data = []
            # Dbᵀ W' of every b of the group side by side, and the values b(ξ0) side by side: the two
            # halves of every sketch are then sparse products with the generators (few entries each)
            DbW = np.zeros((N, len(group) * S), dtype=np.int64)
            B = np.zeros((N, len(group)), dtype=np.int64)
            for j, (bval, (br, bc, bv)) in enumerate(evaluated[start : start + chunk]):
                data.append((bval, br, bc, bv))
                B[:, j] = bval
                np.add.at(DbW[:, j * S : (j + 1) * S], bc, bv[:, None] * Wp[br] % p)
            # g·(Dbᵀ W') for every g and b: the sparse generator values times DbW
            if small:  # only the rows of DbW that the Jacobians reach (a third of them, typically)
                hit = np.flatnonzero(DbW.any(axis=1))
                first = float_mulmod(DbW[hit].T % p, gen_vals_float[hit], p).T.reshape(G, len(group), S)
                hit = np.flatnonzero(B.any(axis=1))
            else:
                first = sparse_mulmod(gen_vals_sparse, DbW % p, p).reshape(G, len(group), S)
            # b·(Dgᵀ W') for every g and b: M_s[g, c] = Σ_r Dg[r, c] W'[r, s], times the values b(ξ0)
            # (M_s depends on W' only, which changes only when the basis grows: built once per basis)
            if Ms_rank != basis.rank:
                if small:
                    Ms = jac_dense  # M_sᵀ (N × G), rewritten in place at the Jacobians' fixed positions
                    for t in range(S):
                        summed = np.bincount(jac_inverse, weights=jv * Wp[jr, t] % p, minlength=len(jac_positions))
                        Ms[t].flat[jac_positions] = summed.astype(np.int64) % p
                else:
                    Ms = [jac_pattern.matrix(jv * Wp[jr, t] % p, p) for t in range(S)]
                Ms_rank = basis.rank
            second = np.empty((G, len(group), S), dtype=np.int64)
            for t, M in enumerate(Ms):
                second[:, :, t] = float_mulmod(B[hit].T, M[hit], p).T if small else sparse_mulmod(M, B, p)
            sketch = ((first - second) % p).transpose(1, 0, 2).reshape(len(group) * G, S)
            tested += len(sketch)
            live = np.flatnonzero(sketch.any(axis=1))
            if not len(live):
                continue
            # the live candidates' values Db·g − Dg·b, all entries summed at once (each below 2^40·terms)
            at, contributions = [], []
            for k, i in enumerate(live):
                j, g = divmod(int(i), G)
                bval, br, bc, bv = data[j]
                r, c, v = gen_jac[g]
                at += [br + k * N, r + k * N]
                contributions += [bv * gen_vals[bc, g] % p, p - v * bval[c] % p]
            rows = np.bincount(np.concatenate(at), weights=np.concatenate(contributions),
                               minlength=len(live) * N).astype(np.int64).reshape(len(live), N) % p

            kept = absorb_rows(rows, live)
            # the kept brackets expanded over Z, all at once
            for i, new in zip(kept, brackets([(ints[i % G], group_int[i // G]) for i in kept])):
                expanded += 1
                new_int.append(new)
                kept_int.append(new)
                new_frontier.append(new.reduced(p))
                new_ids.append(len(words))
                words.append((i % G, group_ids[i // G]))
        frontier, frontier_int, frontier_ids = new_frontier, new_int, new_ids
        rank_by_depth.append(basis.rank)
    K = basis.rank
    result = LieResult(
        dimension=N, rank=K, laws=N - K, depth=depth, stabilised=stabilised or K == N, prime=p, point=point,
        failure_bound=1.0, repeats=1,
        seconds=time.perf_counter() - t0,
        brackets_expanded=expanded, candidates_tested=tested, rank_by_depth=rank_by_depth,
        variable_names=list(family.variable_names), words=words,
    )
    # for the check (dropped once the count is certified): the kept and the generators' integer fields
    result._fields, result._gen_fields, result._sizes = kept_int, ints, sizes
    result._pivots = list(basis.pivots)  # the columns on which F(ξ0) is invertible (the check borders them)
    return result


# --- the certificate (module docstring, (b)–(d)) ---------------------------------------------------
def family_fingerprint(family: FieldFamily) -> str:
    """A stable hash (hex) of the family's variable names and exact generators: identifies a case."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(list(family.variable_names)).encode())
    for g in family.generators:
        # the same bytes as one update per term, joined first (one hash call per generator)
        h.update(("|" + "".join(f"{k}:{m}:{poly[m].numerator}/{poly[m].denominator};"
                                for k in g.support for poly in (g.components[k],) for m in sorted(poly))).encode())
    return h.hexdigest()


def _integer_form(g: VectorField) -> tuple[ModularField, tuple[int, float, int]]:
    """The integer field L·g (L the lcm of g's denominators) and its size (degree, log2 ‖L·g‖_1, L),
    in one pass over g's non-zero components."""
    components = g.components
    terms = [(k, m, c) for k in g.support for m, c in components[k].items()]
    L = 1
    for _, _, c in terms:
        if c.denominator != 1:
            L = L * c.denominator // math.gcd(L, c.denominator)
    coefs = [c.numerator * (L // c.denominator) for _, _, c in terms]
    width = max((len(m) for _, m, _ in terms), default=0)
    N = g.dimension
    comp = np.fromiter((k for k, _, _ in terms), dtype=np.int64, count=len(terms))
    mono = np.full((len(terms), width), N, dtype=np.int64)
    for i, (_, m, _) in enumerate(terms):
        mono[i, : len(m)] = m
    norm = sum(abs(c) for c in coefs)
    coef = np.array(coefs, dtype=np.int64 if all(abs(c) < 2**62 for c in coefs) else object)
    return ModularField(comp, mono, coef, N, 0), (width, math.log2(max(norm, 1)), L)


def _integer_size(g: VectorField) -> tuple[int, float, int]:
    """(degree, log2 ‖L·g‖_1, L) for the integer field L·g, L the lcm of g's denominators."""
    return _integer_form(g)[1]


def word_bounds(gens: list[VectorField], words: list[tuple[int, int]], sizes=None) -> tuple[list[int], list[float]]:
    """Degree and log2 ‖·‖_1 bounds of the integer kept fields, along their words.

    deg[g, f] ≤ deg g + deg f − 1 and ‖[g, f]‖_1 ≤ (deg g + deg f)·‖g‖_1·‖f‖_1 (module docstring).
    """
    sizes = sizes or [_integer_size(g) for g in gens]
    degs: list[int] = []
    bits: list[float] = []
    for gen, parent in words:
        dg, bg, _ = sizes[gen]
        if parent < 0:
            degs.append(dg)
            bits.append(bg)
        else:
            df, bf = degs[parent], bits[parent]
            degs.append(max(0, dg + df - 1))
            bits.append(math.log2(max(dg + df, 1)) + bg + bf)
    return degs, bits


def check_bound_terms(gens: list[VectorField], words: list[tuple[int, int]], sizes=None) -> tuple[int, float]:
    """(d, B) of the module docstring: bounds on the degree and log2-height of every minor P_h.

    d = Σ_F deg f + max_h deg h and B = Σ_F log2‖f‖_1 + max_h log2‖h‖_1, h over the generators
    and the brackets [g, f] (the maximum over brackets bounded by the word rule with the largest
    degree and norm of each side).
    """
    sizes = sizes or [_integer_size(g) for g in gens]
    degs, bits = word_bounds(gens, words, sizes)
    h_deg = max((s[0] for s in sizes), default=0)
    h_bits = max((s[1] for s in sizes), default=0.0)
    if degs and sizes:
        dg, bg = max(s[0] for s in sizes), max(s[1] for s in sizes)
        h_deg = max(h_deg, dg + max(degs) - 1)
        h_bits = max(h_bits, math.log2(max(dg + max(degs), 1)) + bg + max(bits))
    return sum(degs) + h_deg, sum(bits) + h_bits


def excluded_primes(gens: list[VectorField], sizes=None) -> int:
    """At most this many primes of CHECK_PRIME_RANGE divide a denominator of the generators.

    The check works with the integer fields L·g, so no prime needs to be rejected; ``check_pass_bound``
    still subtracts these from the count of primes (a smaller denominator: a larger, safe bound).
    """
    sizes = sizes or [_integer_size(g) for g in gens]
    return sum(int(math.log2(s[2]) // 61) for s in sizes)


def check_pass_bound(degree: int, height_bits: float, p: int, fixed_prime: bool, excluded: int = 0) -> tuple[float, float]:
    """(unlucky-prime term, Schwartz–Zippel term) of one check at prime p (module docstring, (c)).

    Random prime (uniform in CHECK_PRIME_RANGE): (⌊B/61⌋ + 1) / (PRIMES_IN_CHECK_RANGE_LOWER − excluded)
    and (d + 3)/2^61 (the smallest prime of the range, so that the bound does not depend on the draw).
    Fixed prime p: the unlucky term is 0 if 2^B < p (every coefficient of the minor is then smaller
    than p in absolute value), else 1, and the Schwartz–Zippel term is (d + 3)/p. The "+ 3" is the
    degree of the check's random combinations in their coefficients (r_g c_f for the row, w_j for the
    column; a check of every column, without w, has degree d + 2 and the same bound holds).
    """
    if fixed_prime:
        unlucky = 0.0 if height_bits < math.log2(p) - 1e-9 else 1.0
        return min(1.0, unlucky), min(1.0, (degree + 3) / p)
    unlucky = (int(height_bits // 61) + 1) / (PRIMES_IN_CHECK_RANGE_LOWER - excluded)
    return min(1.0, unlucky), min(1.0, (degree + 3) / CHECK_PRIME_RANGE[0])


def combine_check_bounds(terms: list[tuple[float, float]], fixed_prime: bool) -> float:
    """Pr[every check accepts | count wrong]: Π (u_i + s_i) for independent primes; u + Π s_i for one prime."""
    if not terms:
        return 1.0
    if fixed_prime:
        return min(1.0, terms[0][0] + math.prod(s for _, s in terms))
    return min(1.0, math.prod(min(1.0, u + s) for u, s in terms))


def _stacked_terms(fields: list[ModularField], p: int):
    """The terms of ``fields`` (integer fields) side by side, coefficients mod p: (field, comp, mono, coef)."""
    width = max((f.mono.shape[1] for f in fields), default=0)
    N = fields[0].N if fields else 0
    fid = np.concatenate([np.full(f.n_terms, i, dtype=np.int64) for i, f in enumerate(fields)] or [np.zeros(0, np.int64)])
    comp = np.concatenate([f.comp for f in fields] or [np.zeros(0, np.int64)])
    mono = np.full((len(fid), width), N, dtype=np.int64)
    at = 0
    for f in fields:
        mono[at : at + f.n_terms, : f.mono.shape[1]] = f.mono
        at += f.n_terms
    coef = np.concatenate([(f.coef % p).astype(np.int64) for f in fields] or [np.zeros(0, np.int64)])
    return fid, comp, mono, coef


def _terms_at(terms, point_ext: np.ndarray, p: int, direction_ext: np.ndarray | None = None):
    """Per term: its value c·m(ξ) and, with a direction u, its derivative c·Dm(ξ)·u, both mod p."""
    _, _, mono, coef = terms
    L = mono.shape[1]
    vals = [point_ext[mono[:, l]] for l in range(L)]
    prefix = [np.ones(len(coef), dtype=np.int64)]
    for l in range(L):
        prefix.append(mulmod_wide(prefix[-1], vals[l], p))
    value = mulmod_wide(coef, prefix[-1], p)
    if direction_ext is None:
        return value, None
    deriv = np.zeros(len(coef), dtype=np.int64)
    suffix = np.ones(len(coef), dtype=np.int64)
    for l in range(L - 1, -1, -1):
        other = mulmod_wide(prefix[l], suffix, p)
        deriv = (deriv + mulmod_wide(other, direction_ext[mono[:, l]], p)) % p
        suffix = mulmod_wide(suffix, vals[l], p)
    return value, mulmod_wide(coef, deriv, p)


def integer_fields(gens: list[VectorField], words: list[tuple[int, int]]) -> list[ModularField]:
    """The kept fields of ``words`` as integer fields (generators L·g, brackets expanded over Z)."""
    ints = [ModularField.from_integer(g) for g in gens]
    kept: list[ModularField] = []
    for gen, parent in words:
        kept.append(ints[gen] if parent < 0 else bracket(ints[gen], kept[parent]))
    return kept


def verify_once(gens: list[VectorField], words: list[tuple[int, int]], N: int, rng: np.random.Generator,
                prime: int | None = None, fields: list[ModularField] | None = None,
                gen_fields: list[ModularField] | None = None, pivots: list[int] | None = None) -> tuple[str, int]:
    """One check of the lemma at a fresh (p1, ξ1): ("accepted" | "degenerate" | "missed", p1).

    With F(ξ1) the K × N values of the kept (integer) fields, uniform coefficients r_g, c_f, s_g and
    γ = Σ r_g g, φ = Σ c_f f, σ = Σ s_g g, the one extra row is, by bilinearity of the bracket,

        h = Σ_g Σ_f r_g c_f [g, f](ξ1) + σ(ξ1) = Dφ(ξ1)·γ(ξ1) − Dγ(ξ1)·φ(ξ1) + σ(ξ1),

    computed from the fields' values and directional derivatives at ξ1 (no bracket is formed). The check
    accepts iff rank [F(ξ1); h] ≤ K (FLINT's exact rank mod p1). "missed": rank K + 1, which proves
    K_true > K_computed (a (K+1)-minor of fields of Lie(W) is non-zero); "degenerate": rank < K.
    ``fields``: the run's integer fields (else they are expanded from the words).

    ``pivots``: K columns S on which the run found F(ξ0) invertible. Then only the (K + 1) × (K + 1)
    matrix [F; h] on the columns S and one uniform combination v = Σ_{j∉S} w_j e_j of the others is
    eliminated (module docstring, (c)): its determinant is Σ_j w_j det([F; h] on S ∪ {j}), and when h0
    fails membership some such minor is a non-zero polynomial (det F_S is one, since F_S(ξ0) is
    invertible mod p0), so the same bound holds with one more degree for w.
    """
    p = prime or random_check_prime(rng)
    kept = fields if fields is not None else integer_fields(gens, words)
    gints = gen_fields if gen_fields is not None else [ModularField.from_integer(g) for g in gens]
    K, G = len(kept), len(gints)
    point_ext = np.append(rng.integers(0, p, size=N, dtype=np.int64), 1)
    r, c, s = (rng.integers(0, p, size=n, dtype=np.int64) for n in (G, K, G))
    gterms, fterms = _stacked_terms(gints, p), _stacked_terms(kept, p)
    # generators: γ(ξ1), σ(ξ1)
    gval, _ = _terms_at(gterms, point_ext, p)
    gamma = summed_mod(gterms[1], mulmod_wide(gval, r[gterms[0]], p), N, p)
    sigma = summed_mod(gterms[1], mulmod_wide(gval, s[gterms[0]], p), N, p)
    # kept fields: φ(ξ1) and Dφ(ξ1)·γ
    fval, fdir = _terms_at(fterms, point_ext, p, np.append(gamma, 0))
    phi = summed_mod(fterms[1], mulmod_wide(fval, c[fterms[0]], p), N, p)
    dphi_gamma = summed_mod(fterms[1], mulmod_wide(fdir, c[fterms[0]], p), N, p)
    # Dγ(ξ1)·φ = Σ_g r_g Dg(ξ1)·φ
    _, gdir = _terms_at(gterms, point_ext, p, np.append(phi, 0))
    dgamma_phi = summed_mod(gterms[1], mulmod_wide(gdir, r[gterms[0]], p), N, p)
    h = (dphi_gamma - dgamma_phi + sigma) % p
    if pivots is not None and len(pivots) == K and 0 < K < N:
        # only K + 1 columns of [F(ξ1); h]: the pivots S, read off the terms on them, and the combination
        # Σ_{j∉S} w_j (column j), summed from every term with its component's weight (0 on S)
        pivots = np.asarray(pivots, dtype=np.int64)
        position = np.full(N, -1, dtype=np.int64)
        position[pivots] = np.arange(K)
        weight = rng.integers(0, p, size=N, dtype=np.int64)
        weight[pivots] = 0
        on_s = position[fterms[1]] >= 0
        values = summed_mod(fterms[0][on_s] * K + position[fterms[1][on_s]], fval[on_s], K * K, p).reshape(K, K)
        combination = summed_mod(fterms[0], mulmod_wide(fval, weight[fterms[1]], p), K, p)
        checked = np.empty((K + 1, K + 1), dtype=np.int64)
        checked[:K, :K], checked[:K, K] = values, combination
        checked[K, :K], checked[K, K] = h[pivots], summed_mod(np.zeros(N, np.int64), mulmod_wide(h, weight, p), 1, p)[0]
        # the generators' rows, but the few much denser than the rest (a momentum family's drift): they
        # vanish outside a small set of columns (the forces, outside the velocities), eliminated first
        generators = np.array([i for i, (_, parent) in enumerate(words) if parent < 0], dtype=np.int64)
        support = np.count_nonzero(checked[generators], axis=1) if len(generators) else generators
        sparse = generators[support <= 4 * np.median(support)] if len(generators) else generators
        rank = block_rank_mod(checked, p, sparse)
    else:
        values = summed_mod(fterms[0] * N + fterms[1], fval, K * N, p).reshape(K, N)
        rank = rank_mod(np.concatenate([values, h[None, :]]), p)
    if rank > K:
        return "missed", p
    return ("accepted" if rank == K else "degenerate"), p


def verify(result: LieResult, family: FieldFamily, seq: np.random.SeedSequence, prime: int | None = None,
           target: float = TARGET_BOUND) -> tuple[str, float, list[int]]:
    """Independent checks of ``result`` until the proved bound is ≤ ``target`` (module docstring).

    Returns (status, bound, primes of the accepted checks); status is "accepted" (bound proved),
    "missed" (the run was wrong: rerun) or "exhausted" (no check could conclude). With random primes
    of CHECK_PRIME_RANGE one check suffices unless B or d are astronomically large; the checks run in
    sequence and stop at the first one that does not accept, so the bound reported after j accepted
    checks is that of the event "the first j checks accept", whose per-check factor does not depend
    on the draws.
    """
    gens = [g for g in family.generators if not g.is_zero()]
    sizes = getattr(result, "_sizes", None) or [_integer_size(g) for g in gens]
    degree, height = check_bound_terms(gens, result.words, sizes)
    excluded = excluded_primes(gens, sizes)
    fields = getattr(result, "_fields", None)
    if fields is None or len(fields) != len(result.words):
        fields = integer_fields(gens, result.words)
    terms: list[tuple[float, float]] = []
    primes: list[int] = []
    for child in seq.spawn(MAX_CHECKS):
        status, p = verify_once(gens, result.words, family.N, np.random.default_rng(child), prime, fields,
                                getattr(result, "_gen_fields", None), getattr(result, "_pivots", None))
        if status == "missed":
            return "missed", 1.0, primes
        if status == "degenerate":
            break
        terms.append(check_pass_bound(degree, height, p, prime is not None, excluded))
        primes.append(p)
        bound = combine_check_bounds(terms, prime is not None)
        if bound <= target:
            return "accepted", bound, primes
        if prime is not None and terms and terms[-1][1] >= 1.0:
            break  # a fixed prime that small cannot improve the bound
    return ("accepted" if terms else "exhausted"), combine_check_bounds(terms, prime is not None), primes


def _certify(result: LieResult, family: FieldFamily, seq: np.random.SeedSequence, prime: int | None,
             target: float) -> str:
    """Set the certificate of one run; returns the verification status."""
    if result.rank == result.dimension:
        result.certificate, result.certificate_how, result.failure_bound = "proved", "full rank: K = N", 0.0
        return "accepted"
    if not any(not g.is_zero() for g in family.generators):
        result.certificate, result.failure_bound = "proved", 0.0
        result.certificate_how = "no non-zero generator: K = 0"
        return "accepted"
    if result.rank == 1 and sum(not g.is_zero() for g in family.generators) == 1:
        result.certificate, result.failure_bound = "proved", 0.0
        result.certificate_how = "one generator: its Lie algebra is the line it spans, K = 1"
        return "accepted"
    if not result.stabilised:
        result.certificate, result.failure_bound = "upper bound only", 1.0
        result.certificate_how = f"stopped at max_depth = {result.depth} before the construction stabilised"
        return "exhausted"
    status, bound, primes = verify(result, family, seq, prime, target)
    result.check_primes, result.checks = primes, len(primes)
    if status == "accepted" and bound < 1.0:
        result.certificate, result.failure_bound = "probabilistic", bound
        result.certificate_how = (f"lemma verified at {len(primes)} independent point(s) and "
                                  f"{'the given prime' if prime else 'prime(s)'}")
    else:
        result.certificate, result.failure_bound = "upper bound only", 1.0
        result.certificate_how = ("the check found a direction the run had pruned" if status == "missed"
                                  else "the checks could not bound the failure probability")
    return status


def _check_prime(prime) -> int | None:
    if prime is None:
        return None
    if isinstance(prime, bool) or not isinstance(prime, int) or not 2 <= prime < 2**31 or not is_prime(prime):
        raise invalid("prime", prime, "a prime below 2^31 (or None for random primes)")
    return prime


def summarise_certificates(records) -> dict:
    """Counts per certificate and the guarantee of the whole table: the *sum* of the bounds.

    ``records``: LieResults or dicts with their ``certificate`` and ``failure_bound`` (e.g. the records
    the book collects of every count a chapter makes). A table with any "upper bound only" entry
    guarantees nothing beyond its upper bounds, whatever the sum.
    """
    out = {"proved": 0, "probabilistic": 0, "upper bound only": 0, "summed_bound": 0.0}
    for r in records:
        cert = r["certificate"] if isinstance(r, dict) else r.certificate
        bound = r["failure_bound"] if isinstance(r, dict) else r.failure_bound
        out[cert] += 1
        if cert == "probabilistic":
            out["summed_bound"] += bound
    return out


def prove_by_laws(result: LieResult, independent_laws: int, how: str = "polynomial laws") -> LieResult:
    """The count proved when ``independent_laws`` exactly verified, independent laws meet the upper
    bound N − K_computed (lower bound = upper bound): a copy of ``result`` marked "proved" (announced
    on the count logger as replacing ``result``); otherwise ``result`` itself. ``result`` is never
    changed."""
    if result.certificate == "proved" or independent_laws != result.laws:
        return result
    proved = copy.copy(result)
    proved.certificate, proved.failure_bound = "proved", 0.0
    proved.certificate_how = f"laws exhibited: {independent_laws} independent, exactly verified {how}"
    _announce(proved, replaces=result)
    return proved


def check_matches(result: LieResult, family: FieldFamily) -> None:
    """Raise unless ``result`` is a count of ``family`` (same N, names, generators, prime and point).

    ``laws.polynomial_laws(lie=...)`` calls it, so a certificate is never borrowed from another case.
    """
    if not isinstance(result, LieResult):
        raise invalid("lie", type(result).__name__, "a LieResult from lie.count_laws")
    if result.dimension != family.N or list(result.variable_names) != list(family.variable_names):
        raise invalid("lie", f"a count of {result.dimension} coordinates {result.variable_names[:4]}…",
                      f"a count of this family ({family.N} coordinates {list(family.variable_names)[:4]}…)")
    if result.fingerprint != family_fingerprint(family):
        raise invalid("lie", f"fingerprint {result.fingerprint[:12]}", "a count of this family's generators "
                      f"(fingerprint {family_fingerprint(family)[:12]})")
    if (not 2 <= result.prime < 2**31 or not is_prime(result.prime) or len(result.point) != family.N
            or any(not 0 <= x < result.prime for x in result.point)
            or any(not 2 <= q < 2**62 for q in result.check_primes)):
        raise invalid("lie", f"prime {result.prime}", "a count whose prime and point come from lie.count_laws")


def count_laws(model: Model | FieldFamily | str, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
               dims=None, bias: bool = False, seed: int = 0, repeats: int = 1, max_depth: int = 64,
               prime: int | None = None, target: float = TARGET_BOUND, weight_decay=0) -> LieResult:
    """Number of independent conservation laws of ``model`` under ``flow`` (N − dim Lie(W)(ξ0)), certified.

    Each run draws its prime and point from its own child of SeedSequence([seed, fingerprint]);
    ``repeats`` > 1 runs that many times and keeps the largest rank (N − K_computed is an upper bound
    for every run). The kept run is then checked (module docstring) until its proved failure bound
    is ≤ ``target``; if a check finds a pruned direction, a fresh run replaces it (at most
    MAX_ATTEMPTS runs in all). ``prime`` fixes the prime of the runs and of the checks. ``seconds``
    covers the whole call (building the fields and the checks included).
    """
    t0 = time.perf_counter()
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", repeats, "a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise invalid("max_depth", max_depth, "a positive integer")
    prime = _check_prime(prime)
    if isinstance(model, str):
        model = make_model(model, dims, bias=bias)
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry,
                                                                          weight_decay=weight_decay)
    fingerprint = family_fingerprint(family)
    if family.flow.kind == "natural" and family.natural_route is not None and family.model is not None:
        best = _natural_count(family, seed, repeats, max_depth, prime, target)
    else:
        best = _count_family(family, fingerprint, seed, repeats, max_depth, prime, target)
    best.repeats, best.fingerprint, best.seed = repeats, fingerprint, seed
    # what was counted, so that a tally can be split by flow (e.g. every gradient-flow count)
    best.flow_kind = family.flow.kind + (" + weight decay" if family.flow.weight_decay else "")
    best.model_description = family.model.describe() if family.model is not None else ""
    # the case itself, for a table of every count (model, dims, flow, τ, λ, geometry, K)
    kind = family.flow.kind
    best.case = {"model_name": getattr(family.model, "name", "") if family.model is not None else "",
                 "dims": [int(d) for d in getattr(family.model, "dims", [])] if family.model is not None else [],
                 "tau": str(family.flow.tau) if kind == "momentum" else "3/t" if kind == "nesterov" else "",
                 "weight_decay": str(family.flow.weight_decay or 0), "geometry": family.geometry}
    best.seconds = time.perf_counter() - t0
    _announce(best)
    return best


@dataclass
class LiftedCount:
    """A count on the full lift: ``lifted`` (N − K there), ``relations`` (m − 1) and ``laws`` (in t)."""

    lifted: int
    relations: int
    laws: int
    dimension: int


def lifted_count(model: Model, flow: Flow, coordinates: list[TimeCoordinate] | None = None,
                 seed: int = 0) -> LiftedCount:
    """Laws in (t, θ, θ') counted on the full lift: N_lifted − K_lifted − (m − 1) (module docstring)."""
    family = lifted_fields(model, flow, coordinates)
    m = family.N - (2 * model.D if flow.is_momentum else model.D)
    res = count_laws(family, seed=seed)
    return LiftedCount(res.laws, m - 1, res.laws - (m - 1), family.N)


def _count_family(family: FieldFamily, fingerprint: str, seed: int, repeats: int, max_depth: int,
                  prime: int | None, target: float) -> LieResult:
    """The runs and the certificate of one family (``count_laws`` without its checks of arguments)."""
    root = np.random.SeedSequence([seed, int(fingerprint, 16)])
    with single_threaded_blas():
        best = None
        for child in root.spawn(repeats):
            res = _lie_rank(family, np.random.default_rng(child), max_depth, prime)
            if best is None or res.rank > best.rank:
                best = res
        status = _certify(best, family, root.spawn(1)[0], prime, target)
        for _attempt in range(MAX_ATTEMPTS - 1):
            if status != "missed":
                break
            # the check proved K_true > best.rank: a fresh run, certified only if it does better
            rerun = _lie_rank(family, np.random.default_rng(root.spawn(1)[0]), max_depth, prime)
            if rerun.rank > best.rank:
                best = rerun
                status = _certify(best, family, root.spawn(1)[0], prime, target)
    for key in ("_fields", "_gen_fields", "_sizes"):  # they served the check; a result stays small
        best.__dict__.pop(key, None)
    return best


#: Natural-gradient families with at most this many coordinates are also counted directly (cross-check).
NATURAL_CROSS_CHECK_MAX_N = 40


def _natural_count(family: FieldFamily, seed: int, repeats: int, max_depth: int, prime: int | None,
                   target: float) -> LieResult:
    """A natural-gradient count through the proved identity with gradient flow (``flows.natural_identity_family``).

    The gradient-flow fields M∇φ_i span the same module as the natural fields, so their count is the
    natural count, with its certificate. Where the natural fields were built (``natural_route`` "direct")
    and N ≤ NATURAL_CROSS_CHECK_MAX_N, the direct construction is counted too: if the two differ, both
    being upper bounds, the smaller is returned as an upper bound only.
    """
    from ..flows import natural_identity_family

    ident = family if family.natural_route == "gradient-flow identity" else \
        natural_identity_family(family.model, family.flow, family.geometry)
    res = _count_family(ident, family_fingerprint(ident), seed, repeats, max_depth, prime, target)
    how = "natural gradient counted through its identity with gradient flow in the same geometry (chapter 11)"
    if family.natural_route == "direct" and family.N <= NATURAL_CROSS_CHECK_MAX_N:
        direct = _count_family(family, family_fingerprint(family), seed, repeats, max_depth, prime, target)
        if direct.laws == res.laws:
            how += f", cross-checked by the direct construction ({direct.certificate}: the same count)"
        else:
            low = res if res.laws <= direct.laws else direct
            low.certificate, low.failure_bound = "upper bound only", 1.0
            low.certificate_how = (f"natural gradient: the identity with gradient flow gives {res.laws} laws and "
                                   f"the direct construction {direct.laws}; the smaller is an upper bound")
            return low
    res.certificate_how = f"{res.certificate_how}; {how}" if res.certificate_how else how
    return res
