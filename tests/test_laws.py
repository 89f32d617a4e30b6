"""The polynomial-law solver (laws.polynomial_laws): explicit, verified, complete laws."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import sympy

from conservation_laws.engine import laws as L
from conservation_laws.errors import ConservationLawsError
from conservation_laws.flows import vector_fields
from conservation_laws.engine.laws import check_law, independent_count, polynomial_laws, same_span
from conservation_laws.models import make_model
from conservation_laws.algebra.polynomial import Polynomial

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


def test_too_large_request_is_refused_by_its_memory_estimate():
    with pytest.raises(ConservationLawsError, match=r"GB.*degree ≤ \d+ fits"):
        polynomial_laws(make_model("linear", [10, 10, 10]), "gradient", degree=6)


def test_former_block_limit_is_gone():
    """[5, 5, 5] under the heavy ball (N = 101, a 5050-unknown block before) is solved and complete."""
    res = polynomial_laws(make_model("linear", [5, 5, 5]), "momentum", tau=1, degree=2)
    assert res.complete and res.independent == res.upper_bound == 10 and len(res.laws) == 10
    assert res.stats["weights"] == 6  # one weight per hidden index, and the power of s
    assert all(check_law(e, res.family) for e in res.expressions[:3])


# --- the multi-grading ----------------------------------------------------------------------------
@pytest.mark.parametrize("model,dims,flow,rank", [("linear", [2, 3, 2], "gradient", 3),
                                                  ("linear", [2, 3, 2], "momentum", 4),
                                                  ("relu", [2, 3, 1], "gradient", 3),
                                                  ("nmf", [2, 3, 2], "gradient", 1)])
def test_weight_lattice(model, dims, flow, rank):
    fam = vector_fields(make_model(model, dims), flow, tau=1 if flow == "momentum" else 0)
    fields = [g for g in fam.generators if not g.is_zero()]
    W = L.weight_lattice(fields, fam.N, random.Random(0))
    assert np.linalg.matrix_rank(W.astype(float)) == rank
    for w in W:  # every field homogeneous for every weight, checked term by term
        for X in fields:
            assert len(L._shift(X, list(w))) <= 1


def test_combinations_match_itertools():
    import itertools

    for n, d in [(4, 1), (4, 3), (1, 2), (5, 2)]:
        assert [tuple(r) for r in L._combinations(n, d)] == list(itertools.combinations_with_replacement(range(n), d))


def test_failed_lift_falls_back_to_exact_elimination(monkeypatch):
    expected = [str(e) for e in polynomial_laws(make_model("linear", [2, 3, 2]), "gradient").expressions]
    monkeypatch.setattr(L, "_lift", lambda *args: None)
    res = polynomial_laws(make_model("linear", [2, 3, 2]), "gradient")
    assert res.stats["exact_fallbacks"] > 0 and res.verified
    assert [str(e) for e in res.expressions] == expected


def test_annihilated_is_exact():
    fam = vector_fields(make_model("linear", [2, 2, 2]), "gradient")
    terms = L._Terms.build([g for g in fam.generators if not g.is_zero()], fam.N, 2147483629)
    law = polynomial_laws(make_model("linear", [2, 2, 2]), "gradient").laws[0]
    wrong = law + Polynomial({(0,): Fraction(1)})
    assert L._annihilated([law, wrong], terms) == [True, False]


def test_dense_kernel_matches_flint():
    from flint import nmod_mat

    rng = random.Random(3)
    p = 2147483629
    for ncols in (3, 10, L._NUMPY_DENSE + 6):
        for _ in range(3):
            rows = _random_system(rng, ncols, rng.randint(1, 3 * ncols))
            if not rows:
                continue
            rr = np.array([r for r, row in enumerate(rows) for _ in row], dtype=np.int64)
            cc = np.array([c for row in rows for c in row], dtype=np.int64)
            vv = np.array([v % p for row in rows for v in row.values()], dtype=np.int64)
            K = L._dense_kernel(rr, cc, vv, len(rows), ncols, p, random.Random(1))
            X, nullity = nmod_mat(L._dense_mod_p(rows, ncols, p).tolist(), p).nullspace()
            ref = [[int(X[i, j]) for i in range(ncols)] for j in range(nullity)]
            assert K.tolist() == ref


# --- the minimal basis ------------------------------------------------------------------------------
BASIS_SHAPES = [("nmf", [2, 2, 2], "gradient", 0, False), ("nmf", [2, 3, 2], "gradient", 0, False),
                ("linear", [1, 3, 2], "gradient", 0, False), ("relu", [2, 3, 3, 1], "gradient", 0, True),
                ("linear", [3, 3, 3], "momentum", 1, False), ("product", [4], "gradient", 0, False)]


@pytest.mark.parametrize("model,dims,flow,tau,bias", BASIS_SHAPES)
def test_minimal_basis(model, dims, flow, tau, bias):
    res = polynomial_laws(make_model(model, dims, bias=bias), flow, tau=tau, degree=2)
    N = res.family.N
    assert len(res.basis) == res.independent == res.upper_bound
    assert len(res.basis) + len(res.others) == len(res.laws)
    # at an independent random point: the basis is independent and the others add no gradient direction
    assert independent_count(res.basis, N, seed=17) == res.independent
    assert independent_count(res.laws, N, seed=17) == res.independent
    # least degree: no law outside the basis has a lower degree than a basis member it could replace
    assert max(h.degree() for h in res.basis) <= min((h.degree() for h in res.others), default=99)


def test_nmf_basis_is_the_column_sums_and_the_rest_their_products():
    model = make_model("nmf", [2, 2, 2])
    res = polynomial_laws(model, "gradient", degree=2)
    assert [h.degree() for h in res.basis] == [1, 1]
    h1, h2 = res.in_time("basis")
    assert same_span(res.in_time("others"), [h1**2, h1 * h2, h2**2], model.symbols)
    assert len(res.latex("basis")) == 2 and res.latex("all") == res.latex()
    assert "function of h1, h2" in res.basis_statement() and "certified" in res.basis_statement()


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


def test_coupled_components_match_scipy():
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    for _ in range(20):
        nrows, ncols, nnz = rng.integers(1, 40), rng.integers(1, 60), rng.integers(1, 80)
        rows, cols = rng.integers(0, nrows, nnz), rng.integers(0, ncols, nnz)
        root = L._coupled_components(rows, cols, ncols)
        graph = sparse.coo_matrix((np.ones(nnz), (rows, nrows + cols)), shape=(nrows + ncols, nrows + ncols))
        _, label = connected_components(graph, directed=False)
        lab = label[nrows:]
        # same partition of the columns that appear in some row; the others stay alone
        for i in range(ncols):
            for j in range(ncols):
                if i in cols and j in cols:
                    assert (root[i] == root[j]) == (lab[i] == lab[j])


def test_sparse_left_product_exact():
    rng = np.random.default_rng(1)
    p = 2147483629
    rows, cols = rng.integers(0, 300, 900), rng.integers(0, 40, 900)
    key = np.unique(rows * 40 + cols)
    rows, cols = key // 40, key % 40
    vals = rng.integers(0, p, len(rows))
    R = rng.integers(0, p, size=(48, 300))
    A = np.zeros((300, 40), dtype=object)
    A[rows, cols] = vals
    expected = (R.astype(object) @ A) % p
    assert (L._sparse_left_product(R, rows, cols, vals, 300, 40, p) == expected).all()


def test_cli_laws_json_has_the_basis(capsys):
    from conservation_laws.interfaces import cli

    assert cli.main(["laws", "--model", "nmf", "--dims", "2,2,2", "--json"]) == 0
    import json

    rec = json.loads(capsys.readouterr().out)
    assert len(rec["basis"]) == rec["independent"] == 2 and len(rec["others"]) == 3
    assert len(rec["laws"]) == 5 and len(rec["basis_latex"]) == 2 and "function of h1, h2" in rec["basis_statement"]
    assert cli.main(["laws", "--model", "nmf", "--dims", "2,2,2", "--all"]) == 0
    out = capsys.readouterr().out
    assert [x.split(" =")[0].strip() for x in out.splitlines() if x.strip().startswith("h")] == [
        "h1", "h2", "h3", "h4", "h5"]
