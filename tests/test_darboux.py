"""Logarithmic laws from Darboux polynomials (darboux.py): exact, verified, proved complete."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from conservation_laws.engine import darboux, laws, lie
from conservation_laws.interfaces import cli
from conservation_laws.flows import vector_fields
from conservation_laws.models import make_model
from conservation_laws.algebra.polynomial import Polynomial


@pytest.mark.parametrize("r", [2, 3])
def test_scalar_nmf_is_proved_complete(r):
    model = make_model("nmf", [1, r, 1])
    family = vector_fields(model, "gradient")
    res = darboux.search_laws(family)
    assert res.complete and res.verified
    assert res.independent == res.upper_bound == 2 * r - 1  # D − 1 laws for scalar output
    # one generator (scalar output) proves the count before any law is exhibited
    assert res.lie.certificate == "proved" and res.lie.certificate_how.startswith("one generator")
    assert len(res.log_laws) == r - 1
    for h in res.log_laws:  # an independent symbolic check of every logarithmic law
        assert laws.check_law(h.to_sympy(family.symbols), family, simplify=True)


def test_the_nmf_chapter_law_is_found():
    model = make_model("nmf", [1, 2, 1])
    family = vector_fields(model, "gradient")
    (found,) = darboux.search_laws(family).log_laws
    u0, u1, v0, v1 = (sympy.Symbol(n, real=True) for n in ("U[0,0]", "U[0,1]", "V[0,0]", "V[1,0]"))
    known = (u0 - v0) * sympy.log(v1 / u1) - (u1 - v1) * sympy.log(v0 / u0)
    assert laws.check_law(known, family, simplify=True)
    diff = sympy.expand(sympy.expand_log(found.to_sympy(family.symbols) - known, force=True))
    total = sympy.expand(sympy.expand_log(found.to_sympy(family.symbols) + known, force=True))
    assert diff == 0 or total == 0


def test_darboux_polynomials_of_the_mirror_fields():
    family = vector_fields(make_model("nmf", [1, 2, 1]), "gradient")
    found = darboux.darboux_polynomials(family)
    coords = [Polynomial.variable(j) for j in range(family.N)]
    assert [p for p, _ in found][: family.N] == coords
    # X u_k = v_k u_k: the cofactor of U[0,k] is V[k,0] and conversely
    names = family.variable_names
    cof = {names[j]: found[j][1][0] for j in range(family.N)}
    assert cof["U[0,0]"] == Polynomial.variable(names.index("V[0,0]"))
    assert cof["V[1,0]"] == Polynomial.variable(names.index("U[0,1]"))


def test_verification_rejects_a_wrong_law():
    family = vector_fields(make_model("nmf", [1, 2, 1]), "gradient")
    x0 = Polynomial.variable(0)
    wrong = darboux.LogLaw([(Polynomial.constant(1), x0)], Polynomial())  # log u0 is not conserved
    assert not darboux.verify_log_law(wrong, family)
    good = darboux.search_laws(family).log_laws[0]
    assert darboux.verify_log_law(good, family)
    bent = darboux.LogLaw(good.logs, good.polynomial + x0)
    assert not darboux.verify_log_law(bent, family)


def test_certified_rank_drops_dependent_laws():
    family = vector_fields(make_model("nmf", [1, 2, 1]), "gradient")
    res = darboux.search_laws(family)
    h = res.log_laws[0]
    twice = darboux.LogLaw([(q * Fraction(2), p) for q, p in h.logs], h.polynomial * 2)
    rank, rows = darboux.certified_rank(family, [], [h, twice])
    assert rank == 1 and rows == [0]
    rank, _ = darboux.certified_rank(family, res.polynomial_laws, res.log_laws)
    assert rank == 3


def test_complete_polynomial_result_needs_no_search():
    res = laws.polynomial_laws(make_model("linear", [1, 2, 1]), "gradient")
    assert res.complete and darboux.complete_laws(res) is None


def test_refuses_a_count_of_another_family():
    other = lie.count_laws(make_model("nmf", [1, 3, 1]), "gradient")
    with pytest.raises(Exception):
        darboux.search_laws(make_model("nmf", [1, 2, 1]), "gradient", lie=other)


def test_cli_laws_scalar_nmf_is_complete(capsys):
    assert cli.main(["laws", "--model", "nmf", "--dims", "1,2,1"]) == 0
    out = capsys.readouterr().out
    assert "log(" in out and out.strip().splitlines()[-1].startswith("complete: 3 independent laws")


def test_prove_count_cheapest_route_first():
    """Degree-1 column sums prove (2, 3, 2) (n2 = 3 laws); the scalar output (1, 3, 1) is proved by
    its single generator before any law is sought (2·3 − 1 = 5 laws; its logarithmic laws are
    exhibited by search_laws, test_scalar_nmf_is_proved_complete)."""
    square = darboux.prove_count(make_model("nmf", (2, 3, 2)))
    assert (square.laws, square.certificate) == (3, "proved")
    assert "polynomial laws of degree ≤ 1" in square.certificate_how
    scalar = darboux.prove_count(make_model("nmf", (1, 3, 1)))
    assert (scalar.laws, scalar.certificate) == (5, "proved")
    assert scalar.certificate_how.startswith("one generator")
