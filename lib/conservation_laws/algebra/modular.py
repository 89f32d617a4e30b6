"""Arithmetic modulo a prime p < 2^31: random primes, primality, exact matrix products mod p.

The engine's counts and law searches work over F_p at random primes of [2^30, 2^31): products of two
residues fit in int64, and ``mulmod`` runs large products through float64 BLAS exactly.
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


def random_prime(rng) -> int:
    """A prime uniformly distributed among the primes of [2^30, 2^31), by rejection sampling.

    ``rng`` is a ``numpy.random.Generator`` or a ``random.Random``. Every prime returned is < 2^31,
    the range in which ``mulmod`` is exact (``sympy.nextprime`` of a number near 2^31 is not).
    """
    lo, hi = PRIME_RANGE
    while True:
        n = int(rng.integers(lo, hi)) if isinstance(rng, np.random.Generator) else rng.randrange(lo, hi)
        if is_prime(n):
            return n


def is_prime(n: int) -> bool:
    """Primality for n < 3 215 031 751 (what ``sympy.isprime`` says, without importing sympy at start-up).

    Miller–Rabin with the bases 2, 3, 5, 7 is deterministic below 3 215 031 751.
    """
    if n >= 3_215_031_751:
        return bool(sympy.isprime(n))
    if n < 2:
        return False
    for q in (2, 3, 5, 7):
        if n % q == 0:
            return n == q
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in (2, 3, 5, 7):
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
