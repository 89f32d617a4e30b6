"""The polynomial-law solver (laws.polynomial_laws): explicit, verified, complete laws."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import sympy

from conservation_laws import laws as L
from conservation_laws.errors import ConservationLawsError
from conservation_laws.flows import vector_fields
from conservation_laws.laws import check_law, independent_count, polynomial_laws, same_span
from conservation_laws.models import make_model
from conservation_laws.polynomial import Polynomial

# every gradient-flow row of the table: (model, dims, bias, laws)
GF_ROWS = [
    ("linear", [2, 2, 2], False, 3),
    ("linear", [1, 7, 2], False, 18),
    ("linear", [2, 3, 3, 2], False, 12),
    ("relu", [2, 3, 3, 1], True, 6),
    ("nmf", [3, 3, 3], False, 3),
    ("icnn", [2, 3, 3], True, 3),
    ("product", [3], False, 2),
]


@pytest.mark.parametrize("model,dims,bias,count", GF_ROWS)
def test_gradient_rows_have_explicit_complete_laws(model, dims, bias, count):
    res = polynomial_laws(make_model(model, dims, bias=bias), "gradient", degree=2)
    assert res.verified
    assert res.upper_bound == count
    assert res.independent == count
    assert res.complete
    assert "complete" in res.verdict() and "incomplete" not in res.verdict()
    for expr in res.expressions:
        assert check_law(expr, res.family)


@pytest.mark.parametrize("model,dims,bias", [(m, d, b) for m, d, b, _ in GF_ROWS])
def test_laws_contain_the_papers(model, dims, bias):
    """The paper's laws lie in the span of the solver's (equal spans where no degree-1 law exists)."""
    mod = make_model(model, dims, bias=bias)
    paper = mod.paper_laws("gradient")
    res = polynomial_laws(mod, "gradient", degree=2)
    syms = res.family.symbols
    assert same_span(res.expressions, res.expressions + paper, syms)
    if model in ("linear", "relu", "product"):
        assert same_span(res.expressions, paper, syms)


@pytest.mark.parametrize("flow,tau,factor", [("momentum", 0, 1), ("momentum", 1, "exp"), ("momentum", 2, "exp"),
                                             ("nesterov", 0, "t3")])
def test_momentum_laws_two_layer_linear_are_complete(flow, tau, factor):
    model = make_model("linear", [2, 2, 2])
    res = polynomial_laws(model, flow, tau=tau, degree=2)
    assert res.complete and res.independent == res.upper_bound == 1
    assert all(check_law(e, res.family) for e in res.expressions)
    (law,) = res.in_time()
    t = sympy.Symbol("t", real=True)
    J = model.paper_laws("momentum")
    time_factor = {1: 1, "exp": sympy.exp(tau * t), "t3": t**3}[factor]
    ratio = sympy.simplify(law / (J[0] * time_factor))
    assert ratio.is_number and ratio != 0


def test_momentum_laws_without_time_factor_are_not_laws_for_positive_tau():
    model = make_model("linear", [2, 2, 2])
    fam = vector_fields(model, "momentum", tau=1)
    (J,) = model.paper_laws("momentum")
    assert not check_law(J, fam)
    s = sympy.Symbol("s", real=True)
    assert check_law(s * J, fam)


def test_deep_linear_momentum_laws():
    res = polynomial_laws(make_model("linear", [2, 2, 2, 2]), "momentum", tau=1, degree=2)
    assert res.complete and res.independent == 2


def test_incomplete_verdict():
    res = polynomial_laws(make_model("linear", [2, 2, 2]), "gradient", degree=1)
    assert res.laws == [] and res.independent == 0 and not res.complete
    assert res.verdict().startswith("incomplete")


def test_latex_and_time_substitution():
    res = polynomial_laws(make_model("linear", [2, 2, 2]), "momentum", tau=1, degree=2)
    (tex,) = res.latex()
    assert "e^{t}" in tex and "\\dot{U}" in tex
    assert res.family.flow.time_variable == "s"
    assert res.expressions[0].has(sympy.Symbol("s", real=True))


def test_user_model_laws():
    model = make_model("polynomial", phi=["u1*v1 + u2*v2", "u1*v2"])
    res = polynomial_laws(model, "gradient", degree=2)
    assert res.complete and res.independent == 1
    assert model.variable_names == ["u1", "v1", "u2", "v2"]  # order of first appearance
    u1, v1, u2, v2 = model.symbols
    assert same_span(res.expressions, [u1**2 + u2**2 - v1**2 - v2**2], model.symbols)


def test_independent_count_of_dependent_laws():
    h = Polynomial({(0, 0): Fraction(1), (1, 1): Fraction(-1)})
    assert independent_count([h, h * 2, h * h], 2) == 1
    g = Polynomial({(0,): Fraction(1)})
    assert independent_count([h, g], 2) == 2
    assert independent_count([], 3) == 0


@pytest.mark.parametrize("degree", [0, -1, 1.5, True])
def test_bad_degree(degree):
    with pytest.raises(ConservationLawsError):
        polynomial_laws(make_model("linear", [2, 2, 2]), "gradient", degree=degree)


def test_bad_time_degree():
    with pytest.raises(ConservationLawsError):
        polynomial_laws(make_model("linear", [2, 2, 2]), "momentum", degree=2, time_degree=-1)


def test_too_large_block_is_a_clear_error():
    with pytest.raises(ConservationLawsError, match="per block"):
        polynomial_laws(make_model("linear", [3, 3, 3]), "gradient", degree=5)


def test_same_span():
    x, y = sympy.symbols("x y")
    assert same_span([x + y, x - y], [x, y], [x, y])
    assert not same_span([x + y], [x], [x, y])


# --- the modular kernel ------------------------------------------------------------------------------
def _random_system(rng, ncols, nrows):
    base = [{c: rng.randint(-3, 3) or 1 for c in rng.sample(range(ncols), rng.randint(1, min(4, ncols)))}
            for _ in range(rng.randint(1, ncols))]
    rows = []
    for _ in range(nrows):
        a, b, k = rng.choice(base), rng.choice(base), rng.randint(-2, 2)
        r = dict(a)
        for c, v in b.items():
            r[c] = r.get(c, 0) + k * v
        r = {c: v for c, v in r.items() if v}
        if r:
            rows.append(r)
    return rows


def test_compressed_kernel_equals_dense_kernel():
    rng = random.Random(4)
    p = 2147483629
    for _ in range(25):
        ncols = rng.randint(2, 40)
        rows = _random_system(rng, ncols, rng.randint(1, 300))
        dense = L._kernel_mod_p(rows, ncols, p, random.Random(0), compress=False)
        compressed = L._kernel_mod_p(rows, ncols, p, random.Random(1), compress=True)
        assert dense == compressed
        A = L._dense_mod_p(rows, ncols, p)
        for v in dense:
            assert not (A @ np.array(v, dtype=object) % p).any()


def test_compressed_product_exact():
    rng = random.Random(5)
    p = 2147483629
    rows = _random_system(rng, 30, 2000)
    gen_state = random.Random(9)
    C = L._compressed_mod_p(rows, 30, p, gen_state)
    # same random matrix, computed densely with Python integers on a few entries
    R = np.random.default_rng(random.Random(9).randrange(2**63)).integers(0, p, size=(38, len(rows)), dtype=np.int64)
    A = L._dense_mod_p(rows, 30, p)
    for i, j in [(0, 0), (37, 29), (10, 15)]:
        assert C[i, j] == sum(int(R[i, r]) * int(A[r, j]) for r in range(len(rows))) % p


def test_rational_reconstruction():
    p = 2147483629
    for f in [Fraction(3, 7), Fraction(-5, 2), Fraction(0), Fraction(12345, 1)]:
        a = f.numerator * pow(f.denominator, -1, p) % p
        assert L._rational_reconstruction(a, p) == f
