"""Exact Gaussian elimination mod a word-size prime: rank, a maximal set of independent rows, echelon form.

The work is FLINT's (``nmod_mat_rank``, ``nmod_mat_lu``, ``nmod_mat_solve_triu``, ``nmod_mat_mul``:
blocked, recursive, with fast matrix products), called on the copy of FLINT that python-flint ships. python-flint builds an
``nmod_mat`` from a Python list, one integer object per entry, which costs about as much as the rank
itself; here a NumPy array is copied into FLINT's matrix as raw memory instead (``ctypes``), so a rank
costs the elimination and little else. Where that library cannot be loaded, or fails the self-test
run on first use, python-flint's own constructor (ranks) and the NumPy eliminations below are used:
the same results, more slowly.

Every function takes integer (int64) arrays, reduced mod p here; ranks take any prime p < 2^63, the
choice of independent rows a prime p < 2^31 (the construction's primes: the NumPy fallback needs it).
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_SLONG = ctypes.c_long
_SMALL = 4096  # entries up to which Python or NumPy eliminate (no FLINT import: a small count's start-up)
_STRUCT_BYTES = 256  # room for FLINT's nmod_mat_struct (56 bytes in FLINT 3.x), whatever its version


class _Flint:
    """The functions of python-flint's bundled libflint that the eliminations need."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        lib.nmod_mat_init.argtypes = [ctypes.c_void_p, _SLONG, _SLONG, ctypes.c_ulong]
        lib.nmod_mat_init.restype = None
        lib.nmod_mat_clear.argtypes = [ctypes.c_void_p]
        lib.nmod_mat_clear.restype = None
        lib.nmod_mat_entry_ptr.argtypes = [ctypes.c_void_p, _SLONG, _SLONG]
        lib.nmod_mat_entry_ptr.restype = ctypes.c_void_p
        lib.nmod_mat_rank.argtypes = [ctypes.c_void_p]
        lib.nmod_mat_rank.restype = _SLONG
        lib.nmod_mat_lu.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.nmod_mat_lu.restype = _SLONG
        lib.nmod_mat_solve_triu.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.nmod_mat_solve_triu.restype = None
        lib.nmod_mat_mul.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.nmod_mat_mul.restype = None

    def matrix(self, A: np.ndarray | tuple[int, int], p: int) -> "_Matrix":
        return _Matrix(self, A, p)


class _Matrix:
    """A FLINT nmod_mat holding a copy of A (freed with the object)."""

    def __init__(self, flint: _Flint, A: np.ndarray | tuple[int, int], p: int):
        """A copy of the int64 array A, or a zero matrix of shape A (FLINT's init zeroes the entries)."""
        self.flint, self.lib = flint, flint.lib
        self.r, self.c = A if isinstance(A, tuple) else A.shape
        self.buf = ctypes.create_string_buffer(_STRUCT_BYTES)
        self.lib.nmod_mat_init(self.buf, self.r, self.c, p)
        self._ready = True
        if isinstance(A, tuple):
            return
        A = np.ascontiguousarray(A, dtype=np.int64)
        if self.r and self.c:
            if self._contiguous():
                ctypes.memmove(self._row(0), A.ctypes.data, A.nbytes)
            else:
                for i in range(self.r):
                    ctypes.memmove(self._row(i), A[i].ctypes.data, 8 * self.c)

    def _row(self, i: int) -> int:
        return self.lib.nmod_mat_entry_ptr(self.buf, i, 0)

    def _contiguous(self) -> bool:
        return self.r < 2 or self._row(self.r - 1) - self._row(0) == 8 * self.c * (self.r - 1)

    def rank(self) -> int:
        return int(self.lib.nmod_mat_rank(self.buf))

    def lu(self) -> tuple[int, list[int]]:
        """(rank, P): in place, PA = LU (FLINT's rank-revealing LU; row i of PA is row P[i] of A)."""
        perm = (_SLONG * max(self.r, 1))()
        rank = int(self.lib.nmod_mat_lu(perm, self.buf, 0))
        return rank, [int(perm[i]) for i in range(self.r)]

    def rows(self, count: int) -> np.ndarray:
        """The first ``count`` rows as an int64 array (a copy)."""
        out = np.empty((count, self.c), dtype=np.int64)
        if count and self.c:
            if self._contiguous():
                ctypes.memmove(out.ctypes.data, self._row(0), out.nbytes)
            else:
                for i in range(count):
                    ctypes.memmove(out[i].ctypes.data, self._row(i), 8 * self.c)
        return out

    def __del__(self):
        if getattr(self, "_ready", False):
            self.lib.nmod_mat_clear(self.buf)


_FLINT: _Flint | None | bool = False  # False: not looked for yet; None: unavailable


def _load() -> _Flint | None:
    """python-flint's libflint through ctypes, checked on a small case against python-flint; else None."""
    global _FLINT
    if _FLINT is not False:
        return _FLINT
    _FLINT = None
    if os.environ.get("CONSERVATION_LAWS_NO_FLINT_BRIDGE"):
        return None
    try:
        import flint

        site = os.path.dirname(os.path.dirname(flint.__file__))
        paths = sorted(glob.glob(os.path.join(site, "python_flint.libs", "libflint*.so*")))
        if not paths:
            return None
        candidate = _Flint(ctypes.CDLL(paths[0]))
        if _self_test(candidate):
            _FLINT = candidate
    except (OSError, AttributeError, ImportError, ValueError):
        _FLINT = None
    return _FLINT


def _self_test(fl: _Flint) -> bool:
    """Round trip, rank, LU row choice and echelon form on a small matrix, against python-flint."""
    from flint import nmod_mat

    p = 2**61 - 1
    rng = np.random.default_rng(0)
    A = rng.integers(0, p, size=(5, 7), dtype=np.int64)
    A[3] = (A[0] + 2 * A[1]) % p
    A[4] = A[2]
    if not np.array_equal(fl.matrix(A, p).rows(5), A):
        return False
    expected = nmod_mat(5, 7, A.ravel().tolist(), p).rank()
    if fl.matrix(A, p).rank() != expected:
        return False
    chosen, E, piv = _flint_independent_rows(fl, A, p)
    rref = nmod_mat(5, 7, A.ravel().tolist(), p).rref()[0]
    ref = np.array([[int(rref[i, j]) for j in range(7)] for i in range(expected)], dtype=np.int64)
    return len(chosen) == expected and np.array_equal(E, ref) and list(piv) == [int(np.flatnonzero(r)[0]) for r in ref]


def available() -> bool:
    """Whether FLINT is called directly (else the slower routes of the module docstring)."""
    return _load() is not None


def rank_mod(rows: np.ndarray, p: int) -> int:
    """The exact rank of an integer matrix mod p (entries reduced here)."""
    n, m = rows.shape
    if not n or not m:
        return 0
    A = np.asarray(rows, dtype=np.int64) % p
    if n * m <= _SMALL:
        return _python_rank(A, p)
    fl = _load()
    if fl is not None:
        return fl.matrix(A, p).rank()
    from flint import nmod_mat

    return int(nmod_mat(n, m, A.ravel().tolist(), p).rank())


def block_rank_mod(rows: np.ndarray, p: int, block: np.ndarray) -> int:
    """``rank_mod(rows, p)``, eliminating first the rows ``block`` when they vanish outside a small set of
    columns (as the force fields of a momentum family do outside the velocity block).

    With T = ``block``, C1 the columns where some row of T is non-zero and C2 the others (M[T, C2] = 0):
    if A = M[T, C1] has full row rank t, with pivot columns P and the rest Q = C1 \\ P, the column
    operation col_Q ← col_Q − col_P A_P^{-1} A_Q (invertible) leaves A_P alone in the rows T, so

        rank M = t + rank [M[R, Q] − M[R, P] A_P^{-1} A_Q,  M[R, C2]]    (R the other rows),

    an identity, computed exactly (A_P^{-1} A_Q = U_P^{-1} U_Q from the LU factor U of A). The route is
    taken when it saves at least a fifth of the work of one elimination of M (FLINT, word-size p),
    else, or if A is rank deficient, M is eliminated whole.
    """
    rows = np.asarray(rows, dtype=np.int64) % p
    n, m = rows.shape
    fl = _load()
    block = np.asarray(block, dtype=np.int64)
    if fl is None or not len(block) or n * m <= _SMALL:
        return rank_mod(rows, p)
    T = rows[block]
    C1 = np.flatnonzero(T.any(axis=0))
    t, c1 = len(block), len(C1)
    rest = np.setdiff1d(np.arange(n), block)
    whole = n * n * m - n**3 / 3  # an LU's multiply-adds, rank n ≤ m
    r, q = len(rest), c1 - t
    split = t * t * c1 + t * t * q + r * t * q + r * r * (m - t) - min(r, m - t) ** 3 / 3
    if t > c1 or split > 0.8 * whole:
        return rank_mod(rows, p)
    rank_t, _, U, piv = _echelon_lu(fl, T[:, C1], p)
    if rank_t < t:
        return rank_mod(rows, p)
    others = np.setdiff1d(np.arange(c1), piv)
    P, Q = C1[piv], C1[others]
    X = _solve_upper(fl, U[:, piv], U[:, others], p)
    # (each FLINT matrix bound to a name: a temporary's memory would be freed before the call)
    RP, correction = fl.matrix(rows[np.ix_(rest, P)], p), fl.matrix((r, len(Q)), p)
    X = fl.matrix(X, p)
    fl.lib.nmod_mat_mul(correction.buf, RP.buf, X.buf)
    schur = (rows[np.ix_(rest, Q)] - correction.rows(r)) % p
    C2 = np.setdiff1d(np.arange(m), C1)
    return t + rank_mod(np.concatenate([schur, rows[np.ix_(rest, C2)]], axis=1), p)


def _python_rank(A: np.ndarray, p: int) -> int:
    """Rank by Python integers: for small matrices (FLINT is then not even imported: start-up)."""
    n, m = A.shape
    M = A.tolist()
    rank = 0
    for col in range(m):
        pivot = next((i for i in range(rank, n) if M[i][col]), None)
        if pivot is None:
            continue
        M[rank], M[pivot] = M[pivot], M[rank]
        inv = pow(M[rank][col], -1, p)
        top = [x * inv % p for x in M[rank]]
        M[rank] = top
        for i in range(rank + 1, n):
            f = M[i][col]
            if f:
                M[i] = [(x - f * t) % p for x, t in zip(M[i], top)]
        rank += 1
        if rank == n:
            break
    return rank


def _flint_independent_rows(fl: _Flint, rows: np.ndarray, p: int):
    rank, perm, U, piv = _echelon_lu(fl, rows, p)
    # PA = LU with L unit lower triangular and only the first ``rank`` rows of U non-zero: the rows
    # A[P[0]], …, A[P[rank − 1]] are independent and span the row space, whose reduced echelon form is
    # U_P^{-1} U, U_P the triangular block of U's pivot columns
    chosen = sorted(perm[:rank])
    if not rank:
        return [], U, np.zeros(0, dtype=np.int64)
    return chosen, _solve_upper(fl, U[:, piv], U, p), piv.astype(np.int64)


def _echelon_lu(fl: _Flint, A: np.ndarray, p: int):
    """FLINT's rank-revealing LU, PA = LU: (rank, P, U, pivot columns of U). U, the first ``rank`` rows
    in row echelon form, is stored on and above the diagonal; L's multipliers, left of it, are cleared."""
    lu = fl.matrix(A, p)
    rank, perm = lu.lu()
    U = lu.rows(rank)
    U[np.tril_indices(rank, -1, U.shape[1])] = 0
    return rank, perm, U, (U != 0).argmax(axis=1)


def _solve_upper(fl: _Flint, U_P: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """U_P^{-1} B mod p for an invertible upper triangular U_P (FLINT's nmod_mat_solve_triu)."""
    # (each matrix bound to a name: a temporary's memory would be freed before the call)
    X, U, rhs = fl.matrix(B.shape, p), fl.matrix(U_P, p), fl.matrix(B, p)
    fl.lib.nmod_mat_solve_triu(X.buf, U.buf, rhs.buf, 0)
    return X.rows(B.shape[0])


def independent_rows(rows: np.ndarray, p: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """A maximal set of independent rows (indices, increasing), the reduced echelon form E of their span
    and its pivot columns (E[:, pivots] = I), mod p.

    Any maximal independent set serves the callers (the construction keeps those rows' fields); FLINT's
    LU decomposition chooses it, the NumPy fallback takes each row independent of the rows before it.
    """
    rows = np.asarray(rows, dtype=np.int64) % p
    n, m = rows.shape
    if not n or not m:
        return [], np.zeros((0, m), dtype=np.int64), np.zeros(0, dtype=np.int64)
    fl = _load() if n * m > _SMALL else None
    if fl is not None:
        return _flint_independent_rows(fl, rows, p)
    return greedy_independent_rows(rows, p)


def greedy_independent_rows(rows: np.ndarray, p: int, chunk: int = 32) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``independent_rows`` in NumPy: the rows, in order, that are independent of the rows before them.

    By chunks of ``chunk`` rows: a chunk is reduced against E in one product, its own rows are
    selected one at a time, and E absorbs them in one block update.
    """
    from .modular import mulmod

    n, m = rows.shape
    if n <= chunk:
        return _greedy_small(rows, p)
    E = np.zeros((min(n, m), m), dtype=np.int64)
    piv: list[int] = []
    chosen: list[int] = []
    for start in range(0, n, chunk):
        if len(piv) >= m:
            break
        block = rows[start : start + chunk] % p
        k = len(piv)
        if k:
            block = (block - mulmod(block[:, piv], E[:k], p)) % p
        picked, Eb, pb = _greedy_small(block, p)
        if not picked:
            continue
        if k:
            f = E[:k][:, pb]
            hit = np.flatnonzero(f.any(axis=1))
            if len(hit):
                E[hit] = (E[hit] - mulmod(f[hit], Eb, p)) % p
        E[k : k + len(picked)] = Eb
        piv.extend(int(c) for c in pb)
        chosen.extend(start + j for j in picked)
    return chosen, E[: len(piv)], np.array(piv, dtype=np.int64)


def _greedy_small(rows: np.ndarray, p: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``greedy_independent_rows`` one row at a time against the few rows already chosen."""
    from .modular import mulmod

    n, m = rows.shape
    E = np.zeros((min(n, m), m), dtype=np.int64)
    piv: list[int] = []
    chosen: list[int] = []
    for j in range(n):
        if len(piv) >= m:
            break
        r = rows[j] % p
        if piv:
            r = (r - mulmod(r[piv][None, :], E[: len(piv)], p)[0]) % p
        nz = np.flatnonzero(r)
        if not len(nz):
            continue
        c = int(nz[0])
        r = r * pow(int(r[c]), -1, p) % p
        k = len(piv)
        if k:
            f = E[:k, c].copy()
            hit = np.flatnonzero(f)
            if len(hit):
                E[hit] = (E[hit] - (f[hit, None] * r[None, :]) % p) % p
        E[k] = r
        piv.append(c)
        chosen.append(j)
    return chosen, E[: len(piv)], np.array(piv, dtype=np.int64)
