"""The Lie engine (lie.count_laws): the table of the issue, closed forms over many widths, the modular
arithmetic underneath (the validation set is tested in test_validation.py)."""

from __future__ import annotations

import itertools
import math
import random
import time
from fractions import Fraction

import numpy as np
import pytest

from conservation_laws.errors import ConservationLawsError
from conservation_laws.flows import vector_fields
from conservation_laws.engine import lie
from conservation_laws.algebra import modular
from conservation_laws.algebra.modular import mulmod, random_prime
from conservation_laws.algebra.elimination import independent_rows
from conservation_laws.engine.lie import TARGET_BOUND, ModularField, _EchelonBasis, bracket, count_laws
from conservation_laws.models import make_model
from conservation_laws.algebra.polynomial import Polynomial, VectorField
from conservation_laws import closed_forms

# (model, dims, flow, tau, bias, laws): the table the engine must reproduce
TABLE = [
    ("linear", [2, 2, 2], "gradient", 0, False, 3),
    ("linear", [2, 2, 2], "momentum", 0, False, 1),
    ("linear", [2, 2, 2], "momentum", 1, False, 1),
    ("linear", [2, 2, 2], "momentum", 2, False, 1),
    ("linear", [2, 2, 2], "nesterov", 0, False, 1),
    ("linear", [1, 7, 2], "gradient", 0, False, 18),
    ("linear", [1, 7, 2], "momentum", 0, False, 21),
    ("linear", [1, 7, 2], "momentum", 1, False, 21),
    ("linear", [2, 3, 3, 2], "gradient", 0, False, 12),
    ("linear", [2, 3, 3, 2], "momentum", 1, False, 6),
    ("relu", [2, 3, 3, 1], "gradient", 0, True, 6),
    ("relu", [2, 3, 3, 1], "momentum", 1, True, 0),
    ("nmf", [3, 3, 3], "gradient", 0, False, 3),
    ("nmf", [3, 3, 3], "momentum", 1, False, 0),
    ("icnn", [2, 3, 3], "gradient", 0, True, 3),
    ("icnn", [2, 3, 3], "momentum", 1, True, 0),
    ("product", [3], "gradient", 0, False, 2),
]


@pytest.mark.parametrize("model,dims,flow,tau,bias,laws", TABLE)
def test_table(model, dims, flow, tau, bias, laws):
    res = count_laws(model, flow, tau=tau, dims=dims, bias=bias)
    D = make_model(model, dims, bias=bias).D
    assert res.dimension == (D if flow == "gradient" else 2 * D + 1)
    assert res.laws == laws
    assert res.rank == res.dimension - laws
    assert res.stabilised
    assert res.certificate in ("proved", "probabilistic")
    assert 0 <= res.failure_bound <= TARGET_BOUND
    assert modular.CONSTRUCTION_PRIME_RANGE[0] <= res.prime < modular.CONSTRUCTION_PRIME_RANGE[1]


# --- closed forms over many widths --------------------------------------------------------------
def two_layer_gf(n, r, m):
    return closed_forms.two_layer_linear("gradient", n, r, m)


def two_layer_mf(n, r, m):
    return closed_forms.two_layer_linear("momentum", n, r, m)


@pytest.mark.parametrize("n,m", list(itertools.product(range(1, 4), repeat=2)))
def test_two_layer_linear_closed_forms(n, m):
    """GF: r(r+1)/2 up to r = n+m, then (n+m)r − (n+m)(n+m−1)/2; MF: r(r−1)/2 up to 2(n+m)+1, then
    2(n+m)r − (n+m)(2(n+m)+1); scalar output n = m = 1: GF 2r − 1, MF 4r − 6 (r ≥ 2), 0 for r = 1."""
    for r in range(1, 9):
        assert count_laws("linear", "gradient", dims=[n, r, m]).laws == two_layer_gf(n, r, m), (n, r, m)
        assert count_laws("linear", "momentum", tau=1, dims=[n, r, m]).laws == two_layer_mf(n, r, m), (n, r, m)
        if n == m == 1:
            assert two_layer_gf(n, r, m) == 2 * r - 1


def test_scalar_output_branch_values():
    assert [two_layer_mf(1, r, 1) for r in range(1, 6)] == [0, 2, 6, 10, 14]


@pytest.mark.parametrize("dims,gf,mf", [([2, 2, 2, 2], 6, 2), ([2, 3, 3, 2], 12, 6), ([1, 2, 2, 1], 7, None)])
def test_deep_linear(dims, gf, mf):
    assert count_laws("linear", "gradient", dims=dims).laws == gf == closed_forms.deep_linear_gf(dims)
    if mf is not None:
        for flow, tau in (("momentum", 0), ("momentum", 1), ("nesterov", 0)):
            assert count_laws("linear", flow, tau=tau, dims=dims).laws == mf


MOMENTA = [("momentum", 0), ("momentum", Fraction(1, 2)), ("momentum", 2), ("nesterov", 0)]


@pytest.mark.parametrize("dims", [[2, 2, 2], [1, 1, 1], [3, 2, 1], [2, 3, 3, 1], [2, 2, 2, 2], [1, 2, 1, 2, 1]])
@pytest.mark.parametrize("bias", [False, True])
def test_relu_one_law_per_hidden_neuron_and_none_under_momentum(dims, bias):
    assert count_laws("relu", "gradient", dims=dims, bias=bias).laws == closed_forms.relu_gf(dims)
    for flow, tau in MOMENTA:
        assert count_laws("relu", flow, tau=tau, dims=dims, bias=bias).laws == 0, (flow, tau)


@pytest.mark.parametrize("dims", [[3, 3, 3], [2, 4, 3], [1, 3, 2], [2, 1, 1], [1, 3, 1], [1, 1, 1]])
def test_nmf_mirror(dims):
    assert count_laws("nmf", "gradient", dims=dims).laws == closed_forms.nmf_gf(dims)
    for flow, tau in MOMENTA:
        assert count_laws("nmf", flow, tau=tau, dims=dims).laws == 0, (flow, tau)


@pytest.mark.parametrize("dims", [[2, 3, 3], [1, 2, 1], [3, 4, 2], [2, 1, 2]])
@pytest.mark.parametrize("bias", [False, True])
def test_icnn_mixed(dims, bias):
    assert count_laws("icnn", "gradient", dims=dims, bias=bias).laws == closed_forms.icnn_gf(dims)
    for flow, tau in MOMENTA:
        assert count_laws("icnn", flow, tau=tau, dims=dims, bias=bias).laws == 0, (flow, tau)


@pytest.mark.parametrize("D", range(1, 7))
def test_product_toy(D):
    res = count_laws("product", "gradient", dims=[D])
    assert res.laws == closed_forms.product_gf(D)
    assert res.rank == 1


@pytest.mark.parametrize("dims", [[2, 2, 2], [1, 7, 2], [2, 3, 1], [2, 2, 2, 2]])
def test_momentum_count_does_not_depend_on_tau(dims):
    counts = {count_laws("linear", "momentum", tau=tau, dims=dims).laws for tau in (0, Fraction(1, 2), 1, 2, Fraction(3, 7))}
    counts.add(count_laws("linear", "nesterov", dims=dims).laws)
    assert len(counts) == 1


def test_geometry_override_changes_the_count():
    # NMF in Euclidean geometry is a two-layer linear net: U^T U − V V^T laws, 6 for [3,3,3]
    assert count_laws("nmf", "gradient", dims=[3, 3, 3], geometry="euclidean").laws == 6
    assert count_laws("nmf", "gradient", dims=[3, 3, 3]).laws == 3


# --- certificates and options ---------------------------------------------------------------------
def test_repeats_keep_the_largest_rank_and_the_bound_is_proved():
    one = count_laws("linear", "gradient", dims=[2, 2, 2])
    three = count_laws("linear", "gradient", dims=[2, 2, 2], repeats=3)
    assert three.laws == one.laws == 3
    assert three.repeats == 3
    for res in (one, three):
        assert res.certificate == "probabilistic"
        assert 0 < res.failure_bound <= TARGET_BOUND
        assert res.checks == len(res.check_primes) >= 1


def test_seed_changes_prime_not_count():
    a = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2], seed=0)
    b = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2], seed=5)
    assert a.prime != b.prime
    assert a.laws == b.laws


def test_result_fields():
    t0 = time.perf_counter()
    res = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2])
    elapsed = time.perf_counter() - t0
    assert res.rank_by_depth == sorted(res.rank_by_depth)
    assert res.rank_by_depth[-1] == res.rank
    assert res.depth == len(res.rank_by_depth)
    assert 0 < res.seconds <= elapsed  # the count's own wall time, in seconds, within the call's
    d = res.as_dict()
    for key in ("dimension", "rank", "laws", "depth", "prime", "failure_bound", "seconds", "repeats"):
        assert key in d
    assert "point" not in d and "variable_names" not in d
    assert len(res.variable_names) == res.dimension


def test_count_from_a_family_or_a_model():
    model = make_model("linear", [2, 2, 2])
    fam = vector_fields(model, "momentum", tau=1)
    assert count_laws(fam).laws == count_laws(model, "momentum", tau=1).laws == 1


@pytest.mark.parametrize("repeats", [0, -1, 1.5, True, "2"])
def test_bad_repeats(repeats):
    with pytest.raises(ConservationLawsError):
        count_laws("product", "gradient", dims=[3], repeats=repeats)


def test_bad_inputs_raise_library_error():
    with pytest.raises(ConservationLawsError):
        count_laws("linear", "gradient", dims=[2, 0, 2])
    with pytest.raises(ConservationLawsError):
        count_laws("linear", "momentum", tau=-1, dims=[2, 2, 2])
    with pytest.raises(ConservationLawsError):
        count_laws("linear", "sideways", dims=[2, 2, 2])
    with pytest.raises(ConservationLawsError):
        count_laws("linear", "gradient", dims=[1, 40000, 1])  # refused up front: the memory estimate


# --- the arithmetic underneath ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5, 4), (40, 300, 50), (1, 900, 700), (120, 2000, 3)])
def testmulmod_exact(shape):
    rng = np.random.default_rng(1)
    p = 2**31 - 1
    a, n, b = shape
    A = rng.integers(0, p, (a, n))
    B = rng.integers(0, p, (n, b))
    A[0, :] = p - 1
    B[:, 0] = p - 1
    C = mulmod(A, B, p)
    for i, j in [(0, 0), (a - 1, b - 1), (a // 2, b // 2)]:
        assert C[i, j] == sum(int(x) * int(y) for x, y in zip(A[i], B[:, j])) % p
    assert C.dtype == np.int64 and C.min() >= 0 and C.max() < p


def testmulmod_empty():
    assert mulmod(np.zeros((0, 3), np.int64), np.zeros((3, 4), np.int64), 7).shape == (0, 4)
    assert mulmod(np.zeros((2, 0), np.int64), np.zeros((0, 4), np.int64), 7).shape == (2, 4)


def test_random_prime_stays_below_2_31():
    gen = np.random.default_rng(3)
    primes = [random_prime(gen) for _ in range(200)] + [random_prime(random.Random(s)) for s in range(20)]
    for p in primes:
        assert 2**30 <= p < 2**31
        assert all(p % q for q in range(2, 2000))
    assert len(set(primes)) > 190


def _random_field(rng, N, terms, degree):
    comps = [Polynomial() for _ in range(N)]
    for _ in range(terms):
        k = rng.randrange(N)
        mono = tuple(sorted(rng.randrange(N) for _ in range(rng.randint(0, degree))))
        comps[k] = comps[k] + Polynomial({mono: Fraction(rng.randint(-3, 3), rng.choice([1, 2]))})
    return VectorField(tuple(comps))


def test_modular_bracket_matches_exact_bracket():
    rng = random.Random(0)
    p = 1_000_000_007
    for _ in range(20):
        N = rng.randint(1, 5)
        X, Y = _random_field(rng, N, 6, 3), _random_field(rng, N, 6, 3)
        exact = ModularField.from_exact(X.bracket(Y), p)
        fast = bracket(ModularField.from_exact(X, p), ModularField.from_exact(Y, p))
        point = np.array([rng.randrange(1, p) for _ in range(N)] + [1], dtype=np.int64)
        v1, J1 = exact.value_and_jacobian(point)
        v2, J2 = fast.value_and_jacobian(point)
        assert np.array_equal(v1, v2) and np.array_equal(J1, J2)


def test_sparse_jacobian_matches_dense():
    rng = random.Random(1)
    p = 1_000_000_007
    for _ in range(10):
        N = rng.randint(1, 6)
        F = ModularField.from_exact(_random_field(rng, N, 8, 3), p)
        point = np.array([rng.randrange(1, p) for _ in range(N)] + [1], dtype=np.int64)
        v, J = F.value_and_jacobian(point)
        v2, (r, c, vals) = F.value_and_sparse_jacobian(point)
        dense = np.zeros((N, N), dtype=object)
        for i, j, x in zip(r, c, vals):
            dense[i, j] += int(x)
        assert np.array_equal(v, v2)
        assert np.array_equal(J, (dense % p).astype(np.int64))


def test_echelon_basis_rank_and_reduction():
    from flint import nmod_mat

    rng = np.random.default_rng(2)
    p = 2**31 - 1
    N = 30
    base = rng.integers(0, p, (12, N))
    rows = mulmod(rng.integers(0, p, (40, 12)), base, p)  # rank 12
    basis = _EchelonBasis(N, p)
    for r in rows:
        basis.add(basis.reduce(r[None, :])[0])
    assert basis.rank == 12 == nmod_mat(rows.tolist(), p).rank()
    assert not basis.reduce(rows).any()
    # incremental reduction against the rows added since a given index
    basis2 = _EchelonBasis(N, p)
    for r in rows[:5]:
        basis2.add(basis2.reduce(r[None, :])[0])
    C = basis2.reduce(rows[5:])
    since = basis2.rank
    for r in rows[5:8]:
        basis2.add(basis2.reduce(r[None, :])[0])
    assert np.array_equal(basis2.reduce(C, since), basis2.reduce(rows[5:]))


def test_sketch_detects_rows_outside_the_span():
    rng = np.random.default_rng(3)
    p = 2**31 - 1
    N = 25
    base = rng.integers(0, p, (10, N))
    basis = _EchelonBasis(N, p)
    for r in base:
        basis.add(basis.reduce(r[None, :])[0])
    inside = mulmod(rng.integers(0, p, (50, 10)), base, p)
    outside = (inside + rng.integers(0, p, (50, N))) % p
    W = rng.integers(0, p, (N, 2))
    assert not basis.sketch_live(inside, W).any()
    assert basis.sketch_live(outside, W).all()
    # the sketch of a row equals the product of its exact residual with W
    C = rng.integers(0, p, (5, N))
    assert np.array_equal(mulmod(C, basis.sketch_matrix(W), p), mulmod(basis.reduce(C), W, p))


def test_failure_bound_and_bookkeeping():
    res = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2])
    assert 0 < res.failure_bound <= TARGET_BOUND
    assert res.certificate == "probabilistic"
    # every expanded bracket added one direction: generators kept + brackets expanded = K
    assert res.brackets_expanded <= res.rank <= res.candidates_tested


# --- the certificate: lemma, bound arithmetic, options ------------------------------------------------
def test_full_rank_is_proved_outright():
    res = count_laws("relu", "momentum", tau=1, dims=[2, 3, 3, 1], bias=True)
    assert res.laws == 0 and res.certificate == "proved" and res.failure_bound == 0
    assert "full rank" in res.certificate_how


def test_prime_option_fixes_every_prime():
    p = 2**31 - 1
    res = count_laws("linear", "gradient", dims=[2, 2, 2], prime=p)
    assert res.laws == 3 and res.prime == p
    assert res.check_primes and set(res.check_primes) == {p}
    # the fields' integer height is below p: no unlucky prime possible, only Schwartz–Zippel factors
    assert res.certificate == "probabilistic" and 0 < res.failure_bound <= TARGET_BOUND
    # a fixed prime cannot be unlucky only by chance: with heights above p the bound is honest, 1
    big = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2], prime=p)
    assert big.laws == 1 and big.prime == p
    assert big.certificate == "upper bound only" and big.failure_bound == 1.0


@pytest.mark.parametrize("prime", [4, 1, 2**31 + 11, -7, True, 7.0, "7"])
def test_bad_prime(prime):
    with pytest.raises(ConservationLawsError):
        count_laws("product", "gradient", dims=[3], prime=prime)


def test_max_depth_reached_is_an_upper_bound_only():
    res = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2], max_depth=1)
    assert not res.stabilised
    assert res.certificate == "upper bound only" and res.failure_bound == 1.0
    assert res.laws >= 1  # N − K_computed is still an upper bound on the true count (1)
    full = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2])
    assert full.stabilised and full.laws == 1


def test_same_seed_same_draws_and_independent_streams():
    a = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2], seed=4)
    b = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2], seed=4)
    assert (a.prime, a.point, a.check_primes, a.failure_bound) == (b.prime, b.point, b.check_primes, b.failure_bound)
    c = count_laws("linear", "momentum", tau=1, dims=[2, 3, 2], seed=5)
    assert c.prime != a.prime and c.laws == a.laws
    # two cases with the same seed draw from different streams (the family's fingerprint is mixed in)
    d = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2], seed=4)
    assert d.prime != a.prime
    # the run and its checks never share a prime by construction of the streams
    assert a.prime not in a.check_primes


def test_primes_in_range_lower_bound():
    # π(2^31) = 105097565 and π(2^30) = 54400028 (tables of the prime-counting function)
    assert 3.5e7 < modular.PRIMES_IN_RANGE_LOWER <= 105097565 - 54400028


def test_check_primes_lower_bound():
    # Rosser–Schoenfeld: π(x) > x/ln x and π(x) < 1.25506·x/ln x (x ≥ 17)
    lo = 2**62 / math.log(2**62) - 1.25506 * 2**61 / math.log(2**61)
    assert 3.8e16 <= modular.PRIMES_IN_CHECK_RANGE_LOWER <= lo
    # and a direct count on a sample: the density of primes near 2^61.5 is about 1/ln(2^61.5) ≈ 1/42.6
    rng = np.random.default_rng(3)
    sample = rng.integers(2**61, 2**62, size=4000)
    density = sum(modular.is_prime(int(n)) for n in sample) / len(sample)
    assert abs(density - 1 / math.log(2**61.5)) < 0.01


def test_bound_arithmetic():
    # random prime of [2^61, 2^62): unlucky term (⌊B/61⌋ + 1)/Π_eff, Schwartz–Zippel term (d + 3)/2^61
    u, s = lie.check_pass_bound(40, 130.0, 2**61 + 3, fixed_prime=False, excluded=2)
    assert u == pytest.approx(3 / (modular.PRIMES_IN_CHECK_RANGE_LOWER - 2))
    assert s == pytest.approx(43 / 2**61)  # the smallest prime of the range: independent of the draw
    assert lie.check_pass_bound(40, 130.0, 2**62 - 57, fixed_prime=False, excluded=2) == (u, s)
    # one check meets the target even for K·deg in the millions and heights of 10^5 bits
    u, s = lie.check_pass_bound(10**7, 1e5, 2**61 + 3, fixed_prime=False)
    assert u + s <= lie.TARGET_BOUND
    assert u == pytest.approx((1e5 // 61 + 1) / modular.PRIMES_IN_CHECK_RANGE_LOWER)
    # fixed prime: unlucky 0 if 2^B < p, else 1
    assert lie.check_pass_bound(3, 10.0, 2**31 - 1, fixed_prime=True) == (0.0, pytest.approx(6 / (2**31 - 1)))
    assert lie.check_pass_bound(3, 40.0, 2**31 - 1, fixed_prime=True)[0] == 1.0
    assert lie.check_pass_bound(30, 1.0, 7, fixed_prime=True) == (0.0, 1.0)  # (d + 3)/p capped at 1
    # independent primes multiply (u + s); one fixed prime keeps its unlucky term once
    terms = [(1e-6, 2e-6), (1e-6, 3e-6)]
    assert lie.combine_check_bounds(terms, fixed_prime=False) == pytest.approx(3e-6 * 4e-6)
    assert lie.combine_check_bounds(terms, fixed_prime=True) == pytest.approx(1e-6 + 6e-12)
    assert lie.combine_check_bounds([], fixed_prime=False) == 1.0
    assert lie.combine_check_bounds([(0.7, 0.6)], fixed_prime=False) == 1.0


def test_one_check_suffices():
    res = count_laws("linear", "momentum", tau=1, dims=[3, 3, 3])
    assert res.laws == 3 and res.certificate == "probabilistic" and res.checks == 1
    assert all(2**61 <= q < 2**62 and modular.is_prime(q) for q in res.check_primes)
    gens = [g for g in vector_fields(make_model("linear", [3, 3, 3]), "momentum", tau=1).generators
            if not g.is_zero()]
    d, B = lie.check_bound_terms(gens, res.words)
    u, s = lie.check_pass_bound(d, B, res.check_primes[0], fixed_prime=False, excluded=lie.excluded_primes(gens))
    assert res.failure_bound == pytest.approx(u + s) and res.failure_bound <= lie.TARGET_BOUND


def test_wide_mulmod_and_sums_are_exact():
    rng = random.Random(11)
    for p in (random.Random(1).choice([2**61 + 15, 2**62 - 57]), modular.random_check_prime(rng), 2**31 - 1, 7):
        a = [rng.randrange(p) for _ in range(300)] + [p - 1, 0]
        b = [rng.randrange(p) for _ in range(300)] + [p - 1, p - 1]
        got = modular.mulmod_wide(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), p)
        assert got.tolist() == [x * y % p for x, y in zip(a, b)]
        index = np.array([rng.randrange(5) for _ in a], dtype=np.int64)
        sums = modular.summed_mod(index, np.array(a, dtype=np.int64), 5, p)
        assert sums.tolist() == [sum(x for x, i in zip(a, index) if i == k) % p for k in range(5)]


def test_integer_brackets_match_exact_brackets_and_switch_to_big_integers():
    rng = random.Random(2)
    for _ in range(20):
        N = rng.randint(2, 4)
        X, Y = _random_field(rng, N, 6, 3), _random_field(rng, N, 6, 3)
        exact = X.bracket(Y)
        fast = bracket(ModularField.from_integer(X), ModularField.from_integer(Y))
        LX = lie._integer_size(X)[2] * lie._integer_size(Y)[2]
        got = {(int(k), tuple(int(v) for v in m if v != N)): int(c) for k, m, c in zip(fast.comp, fast.mono, fast.coef)}
        want = {(k, m): c * LX for k, poly in enumerate(exact.components) for m, c in poly.items()}
        assert got == want
    # coefficients near 2^40: a double bracket's sums exceed int64, so Python integers take over
    X = VectorField((Polynomial({(0, 1): Fraction(2**40 + 1)}), Polynomial({(0,): Fraction(3**25)})))
    Y = VectorField((Polynomial({(1, 1): Fraction(2**41)}), Polynomial({(0, 0): Fraction(1)})))
    iX = ModularField.from_integer(X)
    z = bracket(iX, bracket(iX, ModularField.from_integer(Y)))
    exact = X.bracket(X.bracket(Y))
    got = {(int(k), tuple(int(v) for v in m if v != 2)): int(c) for k, m, c in zip(z.comp, z.mono, z.coef)}
    want = {(k, m): int(c) for k, poly in enumerate(exact.components) for m, c in poly.items()}
    assert got == want and max(abs(c) for c in want.values()) > 2**63


def test_word_bounds_dominate_the_integer_fields():
    rng = random.Random(5)
    for _ in range(10):
        N = rng.randint(2, 4)
        gens = [_random_field(rng, N, 5, 2) for _ in range(2)]
        gens = [g for g in gens if not g.is_zero()]
        if not gens:
            continue
        words, fields = [], []
        for i, g in enumerate(gens):
            words.append((i, -1))
            fields.append(g)
        for depth in range(3):
            gi, parent = rng.randrange(len(gens)), rng.randrange(len(fields))
            words.append((gi, parent))
            fields.append(gens[gi].bracket(fields[parent]))
        degs, bits = lie.word_bounds(gens, words)
        scale = {i: lie._integer_size(g)[2] for i, g in enumerate(gens)}
        for (gi, parent), f, d, b in zip(words, fields, degs, bits):
            # the integer field of a word: the exact bracket times the generators' lcm denominators
            factor, w = scale[gi], parent
            while w >= 0:
                factor *= scale[words[w][0]]
                w = words[w][1]
            norm = sum(abs(c * factor) for poly in f.components for c in poly.values())
            assert f.degree() <= d
            assert norm <= 2 ** b * (1 + 1e-9)


def test_tiny_prime_gives_a_large_honest_bound():
    """With p = 3 accidental pruning is likely (linear (2, 3, 2), GF: 6 laws); the count stays an
    upper bound and the certificate says the truth: never "proved" or a small bound for it."""
    counts = []
    for seed in range(8):
        res = count_laws("linear", "gradient", dims=[2, 3, 2], prime=3, seed=seed)
        counts.append(res.laws)
        assert res.laws >= 6  # never below the true count
        assert res.certificate != "proved" and res.failure_bound >= 0.5
    assert max(counts) > 6  # the case does exercise accidental pruning


def test_check_catches_a_pruned_direction():
    fam = vector_fields(make_model("linear", [2, 2, 2]), "momentum", tau=1)
    gens = [g for g in fam.generators if not g.is_zero()]
    good = count_laws(fam)
    # drop the last kept field: its word is a direction the check must find missing
    status, p = lie.verify_once(gens, good.words[:-1], fam.N, np.random.default_rng(0))
    assert status == "missed"
    status, p = lie.verify_once(gens, good.words, fam.N, np.random.default_rng(0))
    assert status == "accepted"


@pytest.mark.parametrize("model,dims,flow", [("linear", [2, 2, 2], "momentum"), ("linear", [3, 4, 2], "momentum"),
                                             ("relu", [2, 3, 2], "gradient"), ("linear", [2, 3, 3, 2], "nesterov")])
def test_bordered_check_catches_every_dropped_direction(model, dims, flow):
    """The check on K + 1 columns (the run's pivots and one random combination of the others) finds a
    missing direction wherever it is dropped, and accepts the complete run."""
    fam = vector_fields(make_model(model, dims), flow, tau=1 if flow == "momentum" else 0)
    gens = [g for g in fam.generators if not g.is_zero()]
    run = lie._lie_rank(fam, np.random.default_rng(5), 64, None)
    rng = np.random.default_rng(6)
    assert lie.verify_once(gens, run.words, fam.N, rng, pivots=run._pivots)[0] == "accepted"
    fields = lie.integer_fields(gens, run.words)
    point = np.append(rng.integers(1, run.prime, size=fam.N), 1)
    values = np.array([f.reduced(run.prime).value_and_jacobian(point, jacobian=False)[0] for f in fields])
    # words whose removal leaves a family the bracket does not close (a kept bracket, not its parents' source)
    for drop in range(len(run.words) - 1, max(len(run.words) - 6, 0), -1):
        if any(parent == drop for _, parent in run.words):
            continue
        kept = [i for i in range(len(run.words)) if i != drop]
        _, _, pivots = independent_rows(values[kept], run.prime)
        words = [run.words[i] for i in kept]
        remap = {old: new for new, old in enumerate(kept)}
        words = [(g, remap.get(parent, -1)) for g, parent in words]
        status, _ = lie.verify_once(gens, words, fam.N, np.random.default_rng(drop), pivots=list(pivots))
        assert status == "missed"


def test_check_matches_refuses_another_family():
    from conservation_laws.engine.laws import polynomial_laws

    a = make_model("linear", [2, 2, 2])
    fam = vector_fields(a, "gradient")
    res = count_laws(fam)
    lie.check_matches(res, fam)
    other = vector_fields(make_model("linear", [2, 3, 2]), "gradient")
    same_size = vector_fields(make_model("nmf", [2, 2, 2]), "gradient")  # same names, other fields
    for fam2 in (other, same_size):
        with pytest.raises(ConservationLawsError):
            lie.check_matches(res, fam2)
        with pytest.raises(ConservationLawsError):
            polynomial_laws(fam2, lie=res)
    forged = count_laws(fam)
    forged.prime = 2**31 + 1
    with pytest.raises(ConservationLawsError):
        lie.check_matches(forged, fam)
    res = count_laws(fam)
    assert res.certificate == "probabilistic"
    found = polynomial_laws(fam, lie=res)
    assert res.certificate == "probabilistic"  # the caller's count is not changed: the result holds a proved copy
    assert found.complete and found.lie.certificate == "proved" and "laws exhibited" in found.lie.certificate_how


def test_summed_bound_of_results_and_of_records():
    results = [count_laws("product", "gradient", dims=[3]), count_laws("relu", "momentum", tau=1, dims=[1, 2, 1]),
               count_laws("linear", "momentum", tau=1, dims=[2, 2, 2], max_depth=1)]
    records = [{"certificate": r.certificate, "failure_bound": r.failure_bound} for r in results]
    summary = lie.summarise_certificates(records)
    assert summary == lie.summarise_certificates(results)
    assert sum(summary[c] for c in lie.CERTIFICATES) == 3
    assert summary["summed_bound"] == pytest.approx(sum(r.failure_bound for r in results
                                                         if r.certificate == "probabilistic"))


def test_count_says_what_it_counted_and_the_engine_keeps_nothing():
    res = count_laws("linear", "momentum", tau=1, dims=[2, 2, 2])
    assert res.flow_kind == "momentum" and res.model_description == "linear [2, 2, 2]"
    # no module-level container of results in the engine (the book collects through a logger)
    from conservation_laws.engine import abelian, darboux, laws

    for module in (lie, laws, darboux, abelian):
        state = [name for name, value in vars(module).items()
                 if isinstance(value, (list, dict, set)) and not name.startswith("__")]
        assert state == [], f"{module.__name__} holds {state}"


@pytest.mark.parametrize("flow", ["gradient", "nesterov"])
def test_tau_without_friction_is_an_error_in_the_api(flow):
    from conservation_laws.flows import Flow

    with pytest.raises(ConservationLawsError, match="friction"):
        count_laws("linear", flow, tau=1, dims=[2, 2, 2])
    with pytest.raises(ConservationLawsError, match="friction"):
        Flow(flow, Fraction(1, 2))
    assert Flow(flow, 0).tau == 0 and Flow("momentum", 1).tau == 1


def test_memory_estimate_refuses_up_front(monkeypatch):
    from conservation_laws.models import base as models

    big = make_model("linear", [32, 32, 32])  # D = 2048: beyond the old 2000-parameter guard
    monkeypatch.setattr(models, "available_memory", lambda: 24 * 2**30)
    big.check_countable(2 * big.D + 1)  # N = 4097 fits in 24 GiB
    assert models.count_memory_estimate(4097) == 200 * 2**20 + 100 * 4097**2
    monkeypatch.setattr(models, "available_memory", lambda: 2**30)
    with pytest.raises(ConservationLawsError, match=r"needs about 1\.8 GiB of memory \(estimate\) and 1\.0 GiB") as err:
        count_laws("linear", "momentum", tau=1, dims=[32, 32, 32])
    assert "\n" not in str(err.value)
    monkeypatch.setattr(models, "available_memory", lambda: None)  # unknown: no refusal
    big.check_countable(10**6)


def test_block_additions_keep_the_basis_and_its_sketch_matrix():
    """add_block (the construction's elimination) gives the same reduced echelon basis as adding the
    rows one at a time, and keeps the tracked sketch matrix equal to sketch_matrix(W)."""
    rng = np.random.default_rng(8)
    p, N = 2**31 - 1, 30
    W = rng.integers(0, p, (N, 2))
    one, blocks = _EchelonBasis(N, p), _EchelonBasis(N, p)
    blocks.track_sketch(W)
    base = rng.integers(0, p, (20, N))
    for start in range(0, 60, 12):
        rows = mulmod(rng.integers(0, p, (12, 20)), base, p)  # rank ≤ 20 in all
        for r in one.reduce(rows):
            one.add(one.reduce(r[None, :])[0])
        reduced = blocks.reduce(rows)
        free = np.flatnonzero(~blocks._is_pivot)
        chosen, E, piv = independent_rows(reduced[:, free], p)
        if chosen:
            full = np.zeros((len(chosen), N), dtype=np.int64)
            full[:, free] = E
            blocks.add_block(full, free[piv])
        assert np.array_equal(blocks.Wp, blocks.sketch_matrix(W))
    assert one.rank == blocks.rank == 20
    order = np.argsort(one.pivots), np.argsort(blocks.pivots)
    assert sorted(one.pivots) == sorted(blocks.pivots)
    assert np.array_equal(one.rows[order[0]], blocks.rows[order[1]])


def test_dense_and_sparse_sketches_make_the_same_run(monkeypatch):
    fam = vector_fields(make_model("linear", [3, 3, 3]), "momentum", tau=1)
    runs = []
    for limit in (10**9, 0):  # every case dense, then every case sparse
        monkeypatch.setattr(lie, "_DENSE_SKETCH", limit)
        runs.append(lie._lie_rank(fam, np.random.default_rng(3), 64, None))
    assert runs[0].words == runs[1].words and runs[0].rank == runs[1].rank == fam.N - 3


@pytest.mark.parametrize("model,dims,flow", [("linear", [3, 3, 3], "momentum"), ("relu", [2, 3, 2], "gradient"),
                                             ("nmf", [2, 3, 2], "momentum"), ("linear", [2, 3, 3, 2], "nesterov")])
def test_brackets_together_equal_brackets_one_at_a_time(model, dims, flow):
    fam = vector_fields(make_model(model, dims), flow, tau=1 if flow == "momentum" else 0)
    run = lie._lie_rank(fam, np.random.default_rng(0), 64, None)
    F, G = run._fields, run._gen_fields
    rng = np.random.default_rng(1)
    pairs = [(G[rng.integers(len(G))], F[rng.integers(len(F))]) for _ in range(40)]
    pairs += [(F[rng.integers(len(F))], F[rng.integers(len(F))]) for _ in range(10)] + [(G[0], G[0])]
    for got, (X, Y) in zip(lie.brackets(pairs), pairs):
        one = bracket(X, Y)
        assert np.array_equal(got.comp, one.comp) and np.array_equal(got.mono, one.mono)
        assert np.array_equal(got.coef, one.coef) and got.degree == one.degree


@pytest.mark.parametrize("model,dims,flow", [("linear", [4, 4, 4], "momentum"), ("relu", [2, 3, 2], "gradient"),
                                             ("linear", [2, 3, 3, 2], "nesterov")])
def test_fields_evaluated_together_equal_one_at_a_time(model, dims, flow):
    fam = vector_fields(make_model(model, dims), flow, tau=1 if flow == "momentum" else 0)
    run = lie._lie_rank(fam, np.random.default_rng(0), 64, None)
    fields = [f.reduced(run.prime) for f in run._fields]
    point = np.append(np.random.default_rng(2).integers(0, run.prime, size=fam.N), 1)
    for f, (value, (rows, cols, vals)) in zip(fields, lie._values_and_jacobians(fields, point)):
        one_value, (one_rows, one_cols, one_vals) = f.value_and_sparse_jacobian(point)
        assert np.array_equal(value, one_value)
        assert np.array_equal(rows, one_rows) and np.array_equal(cols, one_cols) and np.array_equal(vals, one_vals)
