"""The restricted polynomial grammar (parsing.py): user text is parsed, never evaluated."""

from __future__ import annotations

import pytest
import sympy

from conservation_laws.errors import ConservationLawsError
from conservation_laws.models import make_model
from conservation_laws.algebra.parsing import MAX_EXPONENT, parse_polynomial, parse_polynomials


@pytest.mark.parametrize("text", [
    '__import__("os")', "__import__('os').system('true')", "sin(x)", "exp(x)", "x**y", "x^y", "x^-1", "x/y",
    "1/0", "x/(1-1)", "x..y", "1..2", "", "   ", "x +", "(x", "x)", "x y", "x = 1", "lambda: 0", "x; y", "x[0",
    "x.real", "2**x", "x^1.5", f"x^{MAX_EXPONENT + 1}", "x @ y", "`x`", "x % 2", "{x}",
])
def test_rejected(text):
    with pytest.raises(ConservationLawsError, match="is not a polynomial"):
        parse_polynomial(text)


def test_rejects_non_strings():
    with pytest.raises(ConservationLawsError):
        parse_polynomial(3)


def test_import_is_a_clear_parse_error():
    with pytest.raises(ConservationLawsError) as err:
        parse_polynomial('__import__("os")')
    message = str(err.value)
    assert "is not a polynomial" in message and "position" in message and "\n" not in message


def test_function_call_message():
    with pytest.raises(ConservationLawsError, match="function call"):
        parse_polynomial("sin(x)")


def test_accepted_example():
    expr, names = parse_polynomial("2*u1^2 - 3/2*v[0,1]")
    u1, v = sympy.Symbol("u1", real=True), sympy.Symbol("v[0,1]", real=True)
    assert names == ["u1", "v[0,1]"]
    assert sympy.expand(expr - (2 * u1**2 - sympy.Rational(3, 2) * v)) == 0


@pytest.mark.parametrize("text,expected", [
    ("(x + y)^2", "x**2 + 2*x*y + y**2"),
    ("x**3 - -x", "x**3 + x"),
    ("0.5*x", "x/2"),
    ("x/4 + 3", "x/4 + 3"),
    ("-(x - y)*(x + y)", "y**2 - x**2"),
    ("x^0", "1"),
])
def test_accepted(text, expected):
    expr, names = parse_polynomial(text)
    syms = {n: sympy.Symbol(n, real=True) for n in names}
    assert sympy.expand(expr - sympy.sympify(expected, locals=syms)) == 0


def test_indexed_names():
    expr, names = parse_polynomial("U[0, 1]*V[1,0]")
    assert names == ["U[0,1]", "V[1,0]"]
    assert expr == sympy.Symbol("U[0,1]", real=True) * sympy.Symbol("V[1,0]", real=True)


def test_several_share_variables_in_order_of_appearance():
    exprs, names = parse_polynomials(["u1*v1 + u2*v2", "u1*v2"])
    assert names == ["u1", "v1", "u2", "v2"]
    assert len(exprs) == 2


def test_declared_variables():
    _, names = parse_polynomials(["a*b"], variables=["b", "a", "c"])
    assert names == ["b", "a", "c"]
    with pytest.raises(ConservationLawsError, match="undeclared"):
        parse_polynomials(["a*z"], variables=["a"])


def test_constants_only_is_rejected():
    with pytest.raises(ConservationLawsError, match="no variables"):
        parse_polynomials(["3"])


def test_user_model_from_phi():
    model = make_model("polynomial", phi=["u1*v1 + u2*v2", "u1*v2"])
    assert model.D == 4
    assert model.variable_names == ["u1", "v1", "u2", "v2"]
    with pytest.raises(ConservationLawsError):
        make_model("polynomial", phi=["sin(u1)"])
    with pytest.raises(ConservationLawsError):
        make_model("polynomial", phi=[])


@pytest.mark.parametrize("text", ["(" * 5000 + "x" + ")" * 5000, "-" * 5000 + "x", "x" * 200_000,
                                  "+".join(f"x{i}" for i in range(30_000)), "((x + y + z)^12)^12",
                                  "(" + "+".join(f"x{i}" for i in range(12)) + ")^6", "x^12" * 20])
def test_huge_or_deep_input_is_one_line(text):
    with pytest.raises(ConservationLawsError) as err:
        parse_polynomial(text)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_limits_leave_ordinary_input_alone():
    expr, names = parse_polynomial("(" * 50 + "x" + ")" * 50 + " - " * 1 + "-" * 40 + "y")
    assert names == ["x", "y"]
    expr, _ = parse_polynomial("0^0 * x + (x - x)^0")
    assert sympy.expand(expr - sympy.Symbol("x", real=True) - 1) == 0


def test_large_sums_parse_straight_to_exact_polynomials():
    from fractions import Fraction

    from conservation_laws.algebra.parsing import parse_polynomial_exact, parse_polynomials_exact

    n = 1500  # 3000 variables, far beyond what a recursion on the length could take
    poly, names = parse_polynomial_exact(" + ".join(f"{i + 1}/7*a{i}*b{i}" for i in range(n)))
    assert names == [v for i in range(n) for v in (f"a{i}", f"b{i}")]
    assert poly == {(2 * i, 2 * i + 1): Fraction(i + 1, 7) for i in range(n)}
    polys, shared = parse_polynomials_exact(["x*y - y*x + z", "(z - 1)^3"])
    assert shared == ["x", "y", "z"]
    assert polys[0] == {(2,): 1}
    assert polys[1] == {(2, 2, 2): 1, (2, 2): -3, (2,): 3, (): -1}  # binomial coefficients


def test_user_model_with_a_thousand_products_counts_like_the_built_in():
    from conservation_laws.engine.lie import count_laws

    n = 1000
    user = make_model("polynomial", phi=[" + ".join(f"a{i}*b{i}" for i in range(n))])
    built_in = make_model("linear", [1, n, 1])
    res = count_laws(user, "gradient")
    assert res.laws == 2 * n - 1 == count_laws(built_in, "gradient").laws
    assert len(user.describe()) < 400
