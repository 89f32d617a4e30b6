"""Exact elimination mod p (algebra.elimination): FLINT called directly, and its slower fallbacks, agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flint import nmod_mat

from conservation_laws.algebra import elimination, modular
from conservation_laws.algebra.modular import mulmod

ROOT = Path(__file__).resolve().parents[1]


def _flint_rank(rows: np.ndarray, p: int) -> int:
    n, m = rows.shape
    return nmod_mat(n, m, (rows % p).ravel().tolist(), p).rank()


def _structured(rng, p: int, n: int, m: int, r: int) -> np.ndarray:
    """Rows that are zero, multiples of one of r base rows, or sums of two: only some subsets are bases."""
    base = rng.integers(0, p, size=(r, m))
    A = np.zeros((n, m), dtype=np.int64)
    for i in range(n):
        u = rng.random()
        if u < 0.3:
            continue
        if u < 0.7:
            A[i] = base[rng.integers(r)] * int(rng.integers(1, p)) % p  # p < 2^31: no overflow
        else:
            j = rng.integers(r, size=2)
            A[i] = (base[j[0]] + base[j[1]]) % p
    return A


def test_the_bridge_loads_here():
    # the pinned python-flint ships libflint: the fast route must be the one in use
    assert elimination.available()


def test_ranks_agree_with_python_flint():
    rng = np.random.default_rng(4)
    for p in (modular.random_check_prime(rng), 2**31 - 1, 5):
        for n, m, r in ((6, 9, 4), (10, 10, 10), (30, 200, 17), (3, 2, 1), (90, 70, 40)):
            # a rank-r product, built with exact arithmetic (Python integers)
            L = [[int(x) for x in row] for row in rng.integers(0, p, (n, r))]
            R = [[int(x) for x in row] for row in rng.integers(0, p, (r, m))]
            rows = np.array([[sum(a * b for a, b in zip(Li, col)) % p for col in zip(*R)] for Li in L], dtype=np.int64)
            assert elimination.rank_mod(rows, p) == _flint_rank(rows, p) <= r


@pytest.mark.parametrize("seed", range(40))
def test_chosen_rows_are_a_basis_and_both_routes_agree(seed):
    rng = np.random.default_rng(seed)
    p = modular.random_prime(rng)
    r = int(rng.integers(1, 30))
    A = _structured(rng, p, int(rng.integers(r, 120)), int(rng.integers(r, 90)), r)
    rank = _flint_rank(A, p)
    for chosen, E, piv in (elimination.independent_rows(A, p), elimination.greedy_independent_rows(A, p)):
        assert chosen == sorted(chosen) and len(chosen) == rank == _flint_rank(A[chosen], p)
        assert np.array_equal(E[:, piv], np.eye(rank, dtype=np.int64))
        # E spans the same rows: stacking either on the other adds nothing
        assert _flint_rank(np.concatenate([A, E]), p) == rank
    fast, slow = elimination.independent_rows(A, p), elimination.greedy_independent_rows(A, p)
    order = np.argsort(fast[2]), np.argsort(slow[2])  # the reduced echelon form of a span is unique
    assert np.array_equal(fast[1][order[0]], slow[1][order[1]])


def test_greedy_by_chunks_matches_one_row_at_a_time():
    rng = np.random.default_rng(21)
    p = 2**31 - 1
    base = rng.integers(0, p, (45, 90))
    rows = mulmod(rng.integers(0, p, (120, 45)), base, p)
    rows[10] = rows[2]
    rows[50:60] = 0
    whole = elimination._greedy_small(rows, p)
    for chunk in (1, 7, 32, 200):
        got = elimination.greedy_independent_rows(rows, p, chunk=chunk)
        assert got[0] == whole[0] and np.array_equal(got[1], whole[1]) and np.array_equal(got[2], whole[2])
    assert len(whole[0]) == 45 and 10 not in whole[0]


def test_without_the_bridge_counts_are_the_same():
    """With the bridge switched off (CONSERVATION_LAWS_NO_FLINT_BRIDGE) a count takes the slower routes."""
    code = ("import sys; sys.path.insert(0, 'lib'); from conservation_laws.algebra import elimination; "
            "from conservation_laws.engine.lie import count_laws; "
            "r = count_laws('linear', 'momentum', tau=1, dims=[6, 6, 6]); print(elimination.available(), r.laws)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"CONSERVATION_LAWS_NO_FLINT_BRIDGE": "1", "PATH": ""})
    assert out.stdout.split() == ["False", "15"]


@pytest.mark.parametrize("seed", range(12))
def test_block_rank_equals_the_rank(seed, monkeypatch):
    """Rows vanishing outside a small set of columns eliminated first (a Schur complement): the same
    rank, whether the block has full rank or not, and whether the route is taken or declined."""
    rng = np.random.default_rng(seed)
    p = modular.random_check_prime(rng)
    n = int(rng.integers(90, 220))
    m = n + int(rng.integers(0, 30))
    t = int(rng.integers(n // 4, n // 2))
    C1 = rng.permutation(m)[: int(rng.integers(t + 1, t + n // 3))]
    M = rng.integers(0, p, size=(n, m))
    block = np.sort(rng.choice(n, t, replace=False))
    M[np.ix_(block, np.setdiff1d(np.arange(m), C1))] = 0
    rest = np.setdiff1d(np.arange(n), block)
    if seed % 2:  # dependent rows among the others, and one in the span of the block
        M[rest[0]] = (M[rest[1]] + 3 * M[block[0]]) % p
        M[rest[2]] = M[rest[3]]
    if seed % 3 == 0:  # a rank-deficient block: the route must decline
        M[block[1]] = M[block[0]]
    shapes = []
    whole = elimination.rank_mod
    monkeypatch.setattr(elimination, "rank_mod", lambda rows, q: shapes.append(rows.shape) or whole(rows, q))
    assert elimination.block_rank_mod(M, p, block) == _flint_rank(M, p)
    assert (shapes == [M.shape]) == (seed % 3 == 0)  # the Schur route was taken unless the block is deficient
    # a block that is not sparse (every column used) declines and still answers
    assert elimination.block_rank_mod(M, p, rest[:5]) == _flint_rank(M, p)
