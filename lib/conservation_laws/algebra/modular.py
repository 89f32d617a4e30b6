"""Arithmetic modulo a prime: random primes, primality, exact matrix products mod p.

The law searches work over F_p at random primes of [2^30, 2^31) (products of two residues fit in
int64), the count's construction at primes of [2^19, 2^20) (a product of residues summed over up to
2^13 terms fits in float64's 53 bits, so ``mulmod`` is one BLAS call), and the count's check at primes
of [2^61, 2^62) (``mulmod_wide``, ``summed_mod``; its eliminations are FLINT's,
``elimination``). ``mulmod`` runs large products through float64 BLAS exactly for any p < 2^31.
"""

from __future__ import annotations

import math

import numpy as np

from .._lazy import sympy

PRIME_RANGE = (2**30, 2**31)  # primes p with 2^30 ≤ p < 2^31: products of two residues fit in int64
#: A proved lower bound on the number of primes in PRIME_RANGE (Rosser–Schoenfeld 1962:
#: x/ln x < π(x) < 1.25506·x/ln x for x ≥ 17), rounded down with a margin for float rounding.
PRIMES_IN_RANGE_LOWER = int(2**31 / math.log(2**31) - 1.25506 * 2**30 / math.log(2**30)) - 1000
_FLOAT_INNER_LIMIT = 2**19  # exactness of the float64 path (see mulmod)
_FLOAT_MIN_WORK = 32_768  # below this many multiply-adds the int64 path is as fast


#: The bracket construction's primes (``engine.lie``): 2^19 ≤ p < 2^20, so that a product of residues
#: summed over up to 2^13 terms stays below 2^53 and ``mulmod`` needs one floating-point product, not three.
CONSTRUCTION_PRIME_RANGE = (2**19, 2**20)


def random_prime(rng, prime_range: tuple[int, int] = PRIME_RANGE) -> int:
    """A prime uniformly distributed among the primes of ``prime_range`` (default [2^30, 2^31)), by
    rejection sampling.

    ``rng`` is a ``numpy.random.Generator`` or a ``random.Random``. The range must lie below 2^31,
    where ``mulmod`` is exact (``sympy.nextprime`` of a number near 2^31 is not).
    """
    lo, hi = prime_range
    while True:
        n = int(rng.integers(lo, hi)) if isinstance(rng, np.random.Generator) else rng.randrange(lo, hi)
        if is_prime(n):
            return n


def is_prime(n: int) -> bool:
    """Primality for n < 3.3·10^24 (word-size primes included), without importing sympy.

    Miller–Rabin with the twelve prime bases 2, …, 37 is deterministic below 3 317 044 064 679 887 385 961 981.
    """
    if n >= 3_317_044_064_679_887_385_961_981:
        return bool(sympy.isprime(n))
    if n < 2:
        return False
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for q in bases:
        if n % q == 0:
            return n == q
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def mulmod(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """(A @ B) mod p for residues in [0, p), p < 2^31, exactly.

    Large products go through float64 BLAS. When n·(p − 1)^2 < 2^53 (n the inner dimension: for the
    construction's primes, below 2^20, up to n = 2^13) one product suffices: every partial sum is an
    integer below 2^53, hence exact whatever the summation order. Otherwise, with A = A1·2^16 + A0 and
    B = B1·2^16 + B0 (A0, B0 < 2^16, A1, B1 < 2^15) the three products A0·B0, A1·B1 and
    (A0 + A1)·(B0 + B1) have non-negative integer entries below n·2^34 ≤ 2^53 for n ≤ 2^19, so the same
    holds (Karatsuba). Small or skinny products stay in int64.
    """
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64)
    n = A.shape[1] if A.ndim == 2 else 0
    if A.shape[0] == 0 or B.ndim < 2 or B.shape[1] == 0 or n == 0:
        return np.zeros((A.shape[0], B.shape[1] if B.ndim == 2 else 0), dtype=np.int64)
    if n * (p - 1) ** 2 < 2**53:  # one product, exact in float64 (and in int64 for small work)
        if A.shape[0] * n * B.shape[1] < _FLOAT_MIN_WORK:
            return A @ B % p
        return (A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64) % p
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


#: The check's primes: 2^61 ≤ p < 2^62, so that one check bounds the failure probability far below 1e-9.
CHECK_PRIME_RANGE = (2**61, 2**62)
#: A proved lower bound on the number of primes in CHECK_PRIME_RANGE (Rosser–Schoenfeld 1962:
#: x/ln x < π(x) < 1.25506·x/ln x for x ≥ 17): 2^62/ln 2^62 − 1.25506·2^61/ln 2^61 > 3.88·10^16,
#: rounded down to 3.8·10^16.
PRIMES_IN_CHECK_RANGE_LOWER = 38_000_000_000_000_000


def random_check_prime(rng) -> int:
    """A prime uniformly distributed among the primes of CHECK_PRIME_RANGE = [2^61, 2^62) (rejection sampling).

    ``rng`` is a ``numpy.random.Generator`` or a ``random.Random``. The check's arithmetic mod such a
    prime is exact (``mulmod_wide``; ranks by FLINT's ``nmod_mat``, which takes word-size moduli).
    """
    lo, hi = CHECK_PRIME_RANGE
    while True:
        n = int(rng.integers(lo, hi)) if isinstance(rng, np.random.Generator) else rng.randrange(lo, hi)
        if is_prime(n):
            return n


def mulmod_wide(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """a·b mod p elementwise for residues in [0, p), p < 2^62, exactly.

    The quotient q = ⌊ab/p⌋ is computed in extended precision (64-bit mantissa: its error is at most
    one), and ab − qp, an integer of absolute value below 2p < 2^63, is computed in wrapping int64
    arithmetic, hence exactly; a last ``% p`` corrects the quotient's error. Where the platform's long
    double is not extended (fewer than 63 mantissa bits) Python integers do the work.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if p < 2**31:
        return a * b % p
    if not _EXTENDED:
        return (a.astype(object) * b.astype(object) % p).astype(np.int64)
    q = (a.astype(np.longdouble) * b.astype(np.longdouble) / p).astype(np.int64)
    with np.errstate(over="ignore"):
        r = a * b - q * p
    return r % p


_EXTENDED = np.finfo(np.longdouble).nmant >= 63


def summed_mod(index: np.ndarray, values: np.ndarray, size: int, p: int) -> np.ndarray:
    """out[i] = Σ_{index[t] = i} values[t] mod p, exactly for residues below 2^62 (sums of 31-bit halves).

    With fewer than 2^22 values every half-sum is below 2^53, so ``np.bincount``'s float64 sums are exact.
    """
    if len(values) < 2**22:
        lo = np.bincount(index, weights=values & 0x7FFFFFFF, minlength=size).astype(np.int64)
        hi = np.bincount(index, weights=values >> 31, minlength=size).astype(np.int64)
    else:
        lo = np.zeros(size, dtype=np.int64)
        hi = np.zeros(size, dtype=np.int64)
        np.add.at(lo, index, values & 0x7FFFFFFF)
        np.add.at(hi, index, values >> 31)
    out = lo % p
    upper = np.flatnonzero(hi)  # only the entries some value reaches need the wide product
    out[upper] = (mulmod_wide(hi[upper] % p, np.full(len(upper), 2**31 % p, dtype=np.int64), p) + out[upper]) % p
    return out


def coo_mod(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int], p: int):
    """A sparse matrix of residues mod p for ``sparse_mulmod`` (duplicates summed, then reduced)."""
    return SummingPattern(rows, cols, shape).matrix(vals, p)


class SummingPattern:
    """The CSR structure of a sparse matrix given by COO positions that may repeat, built once, so that
    matrices with these positions and changing values (summed per position mod p) cost one pass each."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        self.order = np.lexsort((cols, rows))
        r, c = rows[self.order], cols[self.order]
        new = np.ones(len(r), dtype=bool)
        new[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        self.starts = np.flatnonzero(new)
        self.indices = c[self.starts]
        self.indptr = np.searchsorted(r[self.starts], np.arange(shape[0] + 1))
        self.shape = shape

    def matrix(self, vals: np.ndarray, p: int):
        """The matrix with ``vals`` (residues < 2^31, one per COO position) summed per position mod p."""
        from scipy.sparse import csr_matrix

        vals = np.asarray(vals, dtype=np.int64)[self.order]
        data = np.add.reduceat(vals, self.starts) % p if len(vals) else vals
        if _single_product(self.shape[1], p):
            return csr_matrix((data, self.indices, self.indptr), shape=self.shape), None
        lo = csr_matrix((data & 0xFFFF, self.indices, self.indptr), shape=self.shape)
        hi = csr_matrix((data >> 16, self.indices, self.indptr), shape=self.shape)
        return lo, hi


def _single_product(n: int, p: int) -> bool:
    """Whether a row of n products of residues mod p sums below 2^63 (int64, exactly)."""
    return n * (p - 1) ** 2 < 2**63


def sparse_mulmod(M, B: np.ndarray, p: int) -> np.ndarray:
    """(M @ B) mod p for M from ``coo_mod`` / ``SummingPattern.matrix`` and residues B < 2^31, exactly:
    small primes in one int64 product (row sums below 2^63), larger ones by 16-bit halves of M (each
    half's products are below 2^47, so a row of up to 2^16 entries sums below 2^63)."""
    lo, hi = M
    if lo.shape[0] == 0 or B.shape[1] == 0:
        return np.zeros((lo.shape[0], B.shape[1]), dtype=np.int64)
    if hi is None:
        return np.asarray(lo @ B) % p
    if lo.shape[1] >= 2**16:  # a row could hold more than 2^16 entries: the dense exact product
        return mulmod((hi.toarray() * 65536 + lo.toarray()) % p, B, p)
    return ((np.asarray(hi @ B) % p) * 65536 + np.asarray(lo @ B) % p) % p


def float_mulmod(A: np.ndarray, B_float: np.ndarray, p: int) -> np.ndarray:
    """(A @ B) mod p for residues A and B given once as float64 (residues), when n·(p − 1)^2 < 2^53
    (n the inner dimension): one exact floating-point product, B not converted again at each call."""
    if A.shape[1] * (p - 1) ** 2 >= 2**53:
        return mulmod(A, B_float.astype(np.int64), p)
    return (A.astype(np.float64) @ B_float).astype(np.int64) % p
