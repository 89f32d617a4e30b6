"""The closed forms against the Lie engine on small shapes and against brute force over r.

The engine (lie.count_laws) computes N − dim Lie(W)(ξ) with no knowledge of any formula, so each
agreement below is an independent check of a stated closed form.
"""

import itertools

import pytest

from conservation_laws import ConservationLawsError
from conservation_laws import closed_forms as cf
from conservation_laws.engine.lie import count_laws


@pytest.mark.parametrize("n,m", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_two_layer_linear_against_the_engine(n, m):
    for r in range(1, 7):
        assert count_laws("linear", "gradient", dims=[n, r, m]).laws == cf.two_layer_linear("gradient", n, r, m)
        mf = count_laws("linear", "momentum", tau=1, dims=[n, r, m]).laws
        assert mf == cf.two_layer_linear("momentum", n, r, m), (n, r, m)
        if (n, m) != (1, 1):
            assert mf == cf.two_layer_linear_mf_generic(n, r, m)


def test_nesterov_and_friction_share_the_momentum_count():
    for flow, tau in (("nesterov", 0), ("momentum", 0), ("momentum", 2)):
        assert count_laws("linear", flow, tau=tau, dims=[2, 4, 1]).laws == cf.two_layer_linear(flow, 2, 4, 1)


def test_scalar_output_branches():
    # GF: the generic formula at k = 2 already gives 2r − 1; MF departs from it
    assert [cf.scalar_output_gf(r) for r in range(1, 8)] == [cf.two_layer_linear_gf(1, r, 1) for r in range(1, 8)]
    for r in range(1, 6):
        assert count_laws("linear", "momentum", tau=1, dims=[1, r, 1]).laws == cf.scalar_output_mf(r)
    assert cf.two_layer_linear("momentum", 1, 3, 1, scalar_case=False) == cf.two_layer_linear_mf_generic(1, 3, 1) == 3
    assert cf.scalar_output_mf(3) == 6


def test_conservation_loss_is_r_below_k():
    for n, m in itertools.product(range(1, 4), repeat=2):
        if (n, m) == (1, 1):
            continue
        for r in range(1, n + m + 1):
            assert cf.conservation_loss(n, r, m) == r


@pytest.mark.parametrize("k", range(2, 30))
def test_crossover_is_the_first_width_where_momentum_wins(k):
    """Brute force over r on the two formulas, and the real threshold k + 1/2 + √(8k+1)/2."""
    n, m = k - 1, 1
    first = next(r for r in range(1, 10 * k) if cf.two_layer_linear_mf_generic(n, r, m) > cf.two_layer_linear_gf(n, r, m))
    assert cf.linear_crossover(k) == first
    assert first > cf.linear_threshold(k) >= first - 1


def test_crossover_against_the_engine():
    k = 3  # r* = 7: (1, 7, 2) keeps more laws under momentum, (1, 6, 2) does not
    assert cf.linear_crossover(k) == 7
    gf7, mf7 = (count_laws("linear", f, dims=[1, 7, 2]).laws for f in ("gradient", "momentum"))
    gf6, mf6 = (count_laws("linear", f, dims=[1, 6, 2]).laws for f in ("gradient", "momentum"))
    assert mf7 > gf7 and mf6 <= gf6


@pytest.mark.parametrize("dims", [[2, 2, 2, 2], [2, 3, 3, 2], [1, 2, 2, 1]])
def test_deep_linear_against_the_engine(dims):
    assert count_laws("linear", "gradient", dims=dims).laws == cf.deep_linear_gf(dims)
    if dims[0] * dims[-1] > 1:
        assert count_laws("linear", "momentum", tau=1, dims=dims).laws == cf.deep_linear_mf(dims)


@pytest.mark.parametrize("dims", [[2, 3, 1], [1, 2, 2, 1]])
def test_relu_against_the_engine(dims):
    assert count_laws("relu", "gradient", dims=dims, bias=True).laws == cf.relu_gf(dims)
    assert count_laws("relu", "momentum", tau=1, dims=dims).laws == cf.relu_mf(dims) == 0


@pytest.mark.parametrize("dims", [[2, 3, 2], [1, 3, 1], [1, 2, 3]])
def test_nmf_against_the_engine(dims):
    assert count_laws("nmf", "gradient", dims=dims).laws == cf.nmf_gf(dims)
    assert count_laws("nmf", "nesterov", dims=dims).laws == cf.nmf_mf(dims)


def test_nmf_scalar_output_is_d_minus_one():
    assert cf.nmf_gf([1, 4, 1]) == 2 * 4 - 1


@pytest.mark.parametrize("dims", [[2, 3, 2], [1, 2, 1]])
def test_icnn_against_the_engine(dims):
    assert count_laws("icnn", "gradient", dims=dims, bias=True).laws == cf.icnn_gf(dims)
    assert count_laws("icnn", "momentum", tau=1, dims=dims).laws == cf.icnn_mf(dims)


@pytest.mark.parametrize("D", range(1, 5))
def test_product_against_the_engine(D):
    assert count_laws("product", "gradient", dims=[D]).laws == cf.product_gf(D)


def test_closed_form_count_dispatch():
    assert cf.closed_form_count({"model": "linear", "dims": [2, 3, 1], "flow": "nesterov"}) == 3
    assert cf.closed_form_count({"model": "linear", "dims": [2, 2, 2, 2]}) is None
    assert cf.closed_form_count({"model": "nmf", "dims": [2, 2, 2], "geometry": "euclidean"}) is None
    assert cf.closed_form_count({"model": "nmf", "dims": [2, 2, 2], "geometry": "mirror"}) == 2
    assert cf.closed_form_count({"model": "product", "dims": [3], "flow": "momentum"}) is None
    assert cf.closed_form_count({"model": "relu", "dims": [2, 3, 2, 1], "flow": "momentum"}) == 0
    assert cf.closed_form_count({"model": "linear", "dims": [2, 2, 2], "flow": "natural"}) is None


def test_every_formula_names_its_claim_and_its_source():
    import inspect

    from companion import claims

    ids = set(claims.registry())
    public = [f for name, f in inspect.getmembers(cf, inspect.isfunction)
              if not name.startswith("_") and f.__module__ == cf.__name__ and name not in ("closed_form_count",)]
    assert len(public) >= 15
    for f in public:
        doc = f.__doc__ or ""
        assert "the paper's" in doc or "this book's" in doc or "the book's" in doc, f.__name__
        assert "claim" in doc.lower(), f.__name__
        named = [i for i in ids if i in doc]
        assert named, f"{f.__name__} names no registered claim"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_widths(bad):
    with pytest.raises(ConservationLawsError, match="r="):
        cf.two_layer_linear_gf(1, bad, 1)
    with pytest.raises(ConservationLawsError, match="flow="):
        cf.two_layer_linear("adam", 1, 2, 1)
