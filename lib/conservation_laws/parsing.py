"""A restricted grammar for user-typed polynomials (never ``eval`` or ``sympify`` of raw text).

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*          (division by numbers only)
    factor := ('+' | '-') factor | power
    power  := atom (('^' | '**') INTEGER)?
    atom   := NUMBER | NAME | NAME '[' INT (',' INT)* ']' | '(' expr ')'
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Sequence

import sympy

from .errors import ConservationLawsError

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\[\s*\d+(?:\s*,\s*\d+)*\s*\])?)"
    r"|(?P<op>\*\*|[-+*/^()]))"
)
MAX_EXPONENT = 12
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        call = _CALL.search(text)
        if call:
            raise self.error(f"{call.group(1)}(...) at position {call.start()} looks like a function call; "
                             "only numbers, variables, +, -, *, /, ^ and parentheses are allowed")
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise self.error(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.names: list[str] = []

    def error(self, why: str) -> ConservationLawsError:
        return ConservationLawsError(f"phi={self.text!r} is not a polynomial: {why}")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None, len(self.text))

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> sympy.Expr:
        if not self.tokens:
            raise self.error("it is empty")
        e = self.expr()
        if self.i != len(self.tokens):
            _, val, pos = self.peek()
            raise self.error(f"unexpected {val!r} at position {pos}")
        return e

    def expr(self):
        e = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            t = self.term()
            e = e + t if op == "+" else e - t
        return e

    def term(self):
        e = self.factor()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            f = self.factor()
            if op == "/":
                if not f.is_number or f == 0:
                    raise self.error("division is allowed by non-zero numbers only")
                e = e / f
            else:
                e = e * f
        return e

    def factor(self):
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            f = self.factor()
            return f if op == "+" else -f
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[1] in ("^", "**"):
            self.take()
            kind, val, pos = self.take()
            if kind != "number" or not val.isdigit() or int(val) > MAX_EXPONENT:
                raise self.error(f"exponents must be integers from 0 to {MAX_EXPONENT} (got {val!r} at position {pos})")
            return base ** int(val)
        return base

    def atom(self):
        kind, val, pos = self.take()
        if kind == "number":
            return sympy.Rational(Fraction(val).numerator, Fraction(val).denominator)
        if kind == "name":
            if self.peek()[1] == "(":
                raise self.error(f"{val}(...) looks like a function call; only +, -, *, ^ and parentheses are allowed")
            name = re.sub(r"\s+", "", val)
            if name not in self.names:
                self.names.append(name)
            return sympy.Symbol(name, real=True)
        if val == "(":
            e = self.expr()
            if self.take()[1] != ")":
                raise self.error(f"missing ')' for the '(' at position {pos}")
            return e
        if val is None:
            raise self.error("it ends too early")
        raise self.error(f"unexpected {val!r} at position {pos}")


def parse_polynomial(text: str) -> tuple[sympy.Expr, list[str]]:
    """Parse one polynomial; return it and its variable names in order of appearance."""
    if not isinstance(text, str):
        raise ConservationLawsError(f"phi={text!r} is not a polynomial: expected a string")
    p = _Parser(text)
    return sympy.expand(p.parse()), p.names


def parse_polynomials(texts: Sequence[str], variables: Sequence[str] | None = None) -> tuple[list[sympy.Expr], list[str]]:
    """Parse several polynomials sharing their variables (in order of first appearance unless given)."""
    exprs, names = [], []
    for t in texts:
        e, ns = parse_polynomial(t)
        exprs.append(e)
        names += [n for n in ns if n not in names]
    if variables is not None:
        missing = [n for n in names if n not in variables]
        if missing:
            raise ConservationLawsError(f"phi uses undeclared variables {missing}; declared: {list(variables)}")
        names = list(variables)
    if not names:
        raise ConservationLawsError(f"phi={list(texts)!r} is invalid: it has no variables")
    return exprs, names
