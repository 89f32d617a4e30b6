"""A restricted grammar for user-typed polynomials (never ``eval`` or ``sympify`` of raw text).

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*          (division by numbers only)
    factor := ('+' | '-') factor | power
    power  := atom (('^' | '**') INTEGER)?
    atom   := NUMBER | NAME | NAME '[' INT (',' INT)* ']' | '(' expr ')'

Any input ends in a value or in one ``ConservationLawsError`` line: the length, the nesting depth
(parentheses and unary signs), and bounds on the degree and the number of monomials are checked
while parsing, before anything is expanded.

The parser builds the library's exact sparse polynomials (``polynomial.Polynomial``) directly: no
sympy, no symbol objects, sums accumulated in place. Sums and products are loops; only a parenthesis
or a unary sign recurses, at most ``MAX_NESTING`` levels deep, so the length of the input never
deepens the stack. ``parse_polynomial`` / ``parse_polynomials`` still return sympy expressions for
display; ``parse_polynomial_exact`` / ``parse_polynomials_exact`` are what models use.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Sequence

from .._lazy import sympy
from ..errors import ConservationLawsError
from .polynomial import Polynomial, symbols_for

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\[\s*\d+(?:\s*,\s*\d+)*\s*\])?)"
    r"|(?P<op>\*\*|[-+*/^()]))"
)
MAX_EXPONENT = 12
#: Limits that keep every input cheap and every error one line (no RecursionError, no blow-up):
MAX_LENGTH = 100_000  # characters of one polynomial
MAX_NESTING = 100  # nested parentheses and unary signs
MAX_DEGREE = 200  # total degree (a bound computed while parsing)
MAX_TERMS = 5_000  # monomials of the expanded polynomial (a bound computed while parsing)
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _bad_index(text: str, at: int) -> str:
    """What is wrong inside the brackets opened at ``at`` (``U[0,a]``: the index 'a', not the '[')."""
    close = text.find("]", at)
    if close < 0:
        return f"missing ']' for the '[' at position {at}"
    start = at + 1
    for item in text[at + 1:close].split(","):
        stripped = item.strip()
        if not stripped.isdigit():
            where = start + len(item) - len(item.lstrip())
            shown = f"index {stripped!r}" if stripped else "an empty index"
            return f"{shown} at position {where}: indices are integers from 0, e.g. U[0,1]"
        start += len(item) + 1
    return f"unexpected character '[' at position {at}"


class _Size:
    """An upper bound on the degree and the number of monomials of a sub-expression.

    Sum: degree max, terms add; product: degrees add, terms multiply; power k: degree times k, terms
    to the k; all capped by C(n + d, d), the number of monomials of degree ≤ d in its n variables.
    """

    __slots__ = ("degree", "terms", "names")

    def __init__(self, degree: int, terms: int, names: frozenset):
        self.degree, self.names = degree, names
        self.terms = min(terms, math.comb(len(names) + degree, degree)) if degree <= MAX_DEGREE else terms

    def plus(self, other: "_Size") -> "_Size":
        return _Size(max(self.degree, other.degree), self.terms + other.terms, self.names | other.names)

    def times(self, other: "_Size") -> "_Size":
        return _Size(self.degree + other.degree, self.terms * other.terms, self.names | other.names)

    def power(self, k: int) -> "_Size":
        return _Size(self.degree * k, self.terms ** k if self.terms < MAX_TERMS else self.terms, self.names) \
            if k else _Size(0, 1, frozenset())


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        if len(text) > MAX_LENGTH:
            raise self.error(f"it has {len(text)} characters; at most {MAX_LENGTH} are accepted")
        call = _CALL.search(text)
        if call:
            raise self.error(f"{call.group(1)}(...) at position {call.start()} looks like a function call; "
                             "only numbers, variables, +, -, *, /, ^ and parentheses are allowed")
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                at = pos + len(text[pos:]) - len(text[pos:].lstrip())
                if text[at:at + 1] == "[" and self.tokens and self.tokens[-1][0] == "name":
                    raise self.error(_bad_index(text, at))
                raise self.error(f"unexpected character {text[at:at + 1]!r} at position {at}")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.depth = 0
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        for kind, val, _ in self.tokens:
            name = re.sub(r"\s+", "", val) if kind == "name" else None
            if name and name not in self.index:
                self.index[name] = len(self.names)
                self.names.append(name)

    def error(self, why: str) -> ConservationLawsError:
        return ConservationLawsError(f"phi={_shown(self.text)} is not a polynomial: {why}")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None, len(self.text))

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def enter(self, pos: int) -> None:
        """One more level of nesting (a parenthesis or a unary sign): bounded, so no deep recursion."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"it nests deeper than {MAX_NESTING} levels (parentheses or signs) at position {pos}")

    def check(self, size: _Size, pos: int) -> _Size:
        if size.degree > MAX_DEGREE:
            raise self.error(f"its degree may reach {size.degree} (at position {pos}); at most {MAX_DEGREE}")
        if size.terms > MAX_TERMS:
            raise self.error(f"it may expand to {size.terms} monomials (at position {pos}); at most {MAX_TERMS}")
        return size

    def parse(self) -> Polynomial:
        """The polynomial, over the variables ``self.names`` (index i is ``names[i]``)."""
        if not self.tokens:
            raise self.error("it is empty")
        e, _ = self.expr()
        if self.i != len(self.tokens):
            _, val, pos = self.peek()
            raise self.error(f"unexpected {val!r} at position {pos}")
        return e

    def expr(self):
        e, size = self.term()
        e = Polynomial(e)  # accumulated in place: a long sum costs its length, not its length squared
        while self.peek()[1] in ("+", "-"):
            op, pos = self.take()[1:]
            t, s = self.term()
            size = self.check(size.plus(s), pos)
            _accumulate(e, t, 1 if op == "+" else -1)
        return e, size

    def term(self):
        e, size = self.factor()
        while self.peek()[1] in ("*", "/"):
            op, pos = self.take()[1:]
            f, s = self.factor()
            if op == "/":
                if set(f) - {()} or not f:
                    raise self.error("division is allowed by non-zero numbers only")
                e = e * (1 / f[()])
            else:
                size = self.check(size.times(s), pos)  # before the product is computed
                e = e * f
        return e, size

    def factor(self):
        signs, pos = [], self.peek()[2]
        while self.peek()[1] in ("+", "-"):  # a run of unary signs, without recursion
            signs.append(self.take()[1])
            self.enter(pos)
        e, size = self.power()
        self.depth -= len(signs)
        return (-e if signs.count("-") % 2 else e), size

    def power(self):
        base, size = self.atom()
        if self.peek()[1] in ("^", "**"):
            self.take()
            kind, val, pos = self.take()
            if kind != "number" or not val.isdigit() or int(val) > MAX_EXPONENT:
                raise self.error(f"exponents must be integers from 0 to {MAX_EXPONENT} (got {val!r} at position {pos})")
            k = int(val)  # 0^0 = 1, the convention of polynomial algebra
            size = self.check(size.power(k), pos)  # before the power is computed
            out = Polynomial.constant(1)
            for _ in range(k):
                out = out * base
            return out, size
        return base, size

    def atom(self):
        kind, val, pos = self.take()
        if kind == "number":
            return Polynomial.constant(Fraction(val)), _Size(0, 1, frozenset())
        if kind == "name":
            if self.peek()[1] == "(":
                raise self.error(f"{val}(...) looks like a function call; only +, -, *, ^ and parentheses are allowed")
            name = re.sub(r"\s+", "", val)
            return Polynomial.variable(self.index[name]), _Size(1, 1, frozenset([name]))
        if val == "(":
            self.enter(pos)
            e = self.expr()
            if self.take()[1] != ")":
                raise self.error(f"missing ')' for the '(' at position {pos}")
            self.depth -= 1
            return e
        if val is None:
            raise self.error("it ends too early")
        raise self.error(f"unexpected {val!r} at position {pos}")


def _accumulate(acc: Polynomial, other: Polynomial, sign: int) -> None:
    """acc += sign·other, in place (zero coefficients dropped)."""
    for m, c in other.items():
        v = acc.get(m, 0) + (c if sign > 0 else -c)
        if v:
            acc[m] = v
        else:
            acc.pop(m, None)


def parse_polynomial_exact(text: str) -> tuple[Polynomial, list[str]]:
    """Parse one polynomial into an exact :class:`Polynomial`; variable i is ``names[i]``, in order of appearance.

    >>> parse_polynomial_exact("2*u1^2 - 3/2*v[0, 1]")
    ({(0, 0): Fraction(2, 1), (1,): Fraction(-3, 2)}, ['u1', 'v[0,1]'])
    """
    if not isinstance(text, str):
        raise ConservationLawsError(f"phi={_shown(repr(text))} is not a polynomial: expected a string")
    p = _Parser(text)
    return p.parse(), p.names


def parse_polynomials_exact(texts: Sequence[str], variables: Sequence[str] | None = None) -> tuple[list[Polynomial], list[str]]:
    """Parse several polynomials sharing their variables (in order of first appearance unless given),
    as exact :class:`Polynomial` over the shared variable list (no sympy)."""
    parsed, names, index = [], [], {}
    for t in texts:
        poly, ns = parse_polynomial_exact(t)
        for n in ns:
            if n not in index:
                index[n] = len(names)
                names.append(n)
        parsed.append((poly, ns))
    if variables is not None:
        missing = [n for n in names if n not in variables]
        if missing:
            raise ConservationLawsError(f"phi uses undeclared variables {missing}; declared: {list(variables)}")
        names = list(variables)
        index = {n: i for i, n in enumerate(names)}
    if not names:
        raise ConservationLawsError(f"phi={list(texts)!r} is invalid: it has no variables")
    out = []
    for poly, ns in parsed:
        where = [index[n] for n in ns]
        out.append(Polynomial({tuple(sorted(where[i] for i in m)): c for m, c in poly.items()}))
    return out, names


def parse_polynomial(text: str) -> tuple[sympy.Expr, list[str]]:
    """Parse one polynomial; return it as a sympy expression and its variable names in order of appearance."""
    poly, names = parse_polynomial_exact(text)
    if not names:
        c = poly.get((), Fraction(0))
        return sympy.Rational(c.numerator, c.denominator), names
    return poly.to_sympy(symbols_for(names)), names


def parse_polynomials(texts: Sequence[str], variables: Sequence[str] | None = None) -> tuple[list[sympy.Expr], list[str]]:
    """Parse several polynomials sharing their variables (in order of first appearance unless given)."""
    polys, names = parse_polynomials_exact(texts, variables)
    syms = symbols_for(names)
    return [p.to_sympy(syms) for p in polys], names
