"""Exact sparse polynomials and polynomial vector fields.

A monomial is a sorted tuple of variable indices with repetition: ``(0, 0, 3)`` is x0^2 x3.
A :class:`Polynomial` maps monomials to exact rationals. A :class:`VectorField` is one
polynomial per coordinate of the space. Everything here is exact (``fractions.Fraction``);
the Lie engine reduces these fields modulo a prime, the law solver keeps them over Q.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

from .._lazy import sympy

Monomial = tuple[int, ...]


class Polynomial(dict):
    """A sparse polynomial ``{monomial: Fraction}`` with no zero coefficients."""

    @classmethod
    def constant(cls, c) -> "Polynomial":
        c = Fraction(c)
        return cls({(): c}) if c else cls()

    @classmethod
    def variable(cls, index: int) -> "Polynomial":
        return cls({(index,): Fraction(1)})

    def __add__(self, other: "Polynomial") -> "Polynomial":
        out = Polynomial(self)
        for m, c in other.items():
            s = out.get(m, 0) + c
            if s:
                out[m] = s
            else:
                out.pop(m, None)
        return out

    def __neg__(self) -> "Polynomial":
        return Polynomial({m: -c for m, c in self.items()})

    def __sub__(self, other: "Polynomial") -> "Polynomial":
        return self + (-other)

    def __mul__(self, other) -> "Polynomial":
        if not isinstance(other, Polynomial):
            c = Fraction(other)
            return Polynomial({m: v * c for m, v in self.items()}) if c else Polynomial()
        out: dict[Monomial, Fraction] = {}
        for m1, c1 in self.items():
            for m2, c2 in other.items():
                m = tuple(sorted(m1 + m2))
                out[m] = out.get(m, 0) + c1 * c2
        return Polynomial({m: c for m, c in out.items() if c})

    __rmul__ = __mul__

    def derivative(self, index: int) -> "Polynomial":
        """∂/∂x_index."""
        out: dict[Monomial, Fraction] = {}
        for m, c in self.items():
            k = m.count(index)
            if k:
                i = m.index(index)
                r = m[:i] + m[i + 1 :]
                out[r] = out.get(r, 0) + c * k
        return Polynomial({m: c for m, c in out.items() if c})

    def degree(self) -> int:
        return max((len(m) for m in self), default=-1)

    def variables(self) -> set[int]:
        return {i for m in self for i in m}

    def evaluate(self, point: Sequence) -> object:
        total = 0
        for m, c in self.items():
            term = c
            for i in m:
                term = term * point[i]
            total = total + term
        return total

    def to_sympy(self, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
        terms = []
        for m, c in self.items():
            term = sympy.Rational(c.numerator, c.denominator)
            for i in m:
                term = term * symbols[i]
            terms.append(term)
        return sympy.Add(*terms)


def product_of_variables(indices: Iterable[int], coefficient=1) -> Polynomial:
    return Polynomial({tuple(sorted(indices)): Fraction(coefficient)})


class _EmptyPolynomial(Polynomial):
    """The zero polynomial, read-only, so that one instance can stand for every empty entry of a
    gradient (hundreds of thousands in a large model: creating them would cost more than the rest)."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("the shared zero polynomial is read-only; build a new Polynomial")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _read_only


ZERO = _EmptyPolynomial()


def gradient(p: Polynomial, n: int) -> list[Polynomial]:
    """∇p as a list of n polynomials (most of them empty for sparse p: the read-only ``ZERO``)."""
    grads: list[Polynomial] = [ZERO] * n
    # one pass over the terms: each term c·m adds c·k·m/x_i to ∂_i for each variable x_i of m (power k);
    # m is the only monomial giving m/x_i in ∂_i, so nothing cancels
    for m, c in p.items():
        previous = None
        for pos, i in enumerate(m):
            if i == previous:
                continue
            previous = i
            k = m.count(i)
            r = m[:pos] + m[pos + 1 :]
            if grads[i] is ZERO:
                grads[i] = Polynomial()
            grads[i][r] = c * k
    return grads


@dataclass(frozen=True)
class VectorField:
    """A polynomial vector field X = Σ_k X_k(ξ) ∂/∂ξ_k on a space of ``len(components)`` coordinates."""

    components: tuple[Polynomial, ...]

    @property
    def dimension(self) -> int:
        return len(self.components)

    def degree(self) -> int:
        return max((p.degree() for p in self.components), default=-1)

    @cached_property
    def support(self) -> tuple[int, ...]:
        """The indices of the non-zero components (computed once: a large field has mostly zero ones)."""
        return tuple(k for k, poly in enumerate(self.components) if poly)

    def is_zero(self) -> bool:
        return not self.support

    def apply(self, h: Polynomial) -> Polynomial:
        """The Lie derivative X(h) = ⟨∇h, X⟩."""
        out = Polynomial()
        for i in h.variables():
            if self.components[i]:
                out = out + self.components[i] * h.derivative(i)
        return out

    def bracket(self, other: "VectorField") -> "VectorField":
        """[X, Y] = ∂Y·X − ∂X·Y (exact; the Lie engine uses a fast modular version)."""
        return VectorField(tuple(self.apply(y) - other.apply(x) for x, y in zip(self.components, other.components)))

    def to_sympy(self, symbols: Sequence[sympy.Symbol]) -> sympy.Matrix:
        return sympy.Matrix([p.to_sympy(symbols) for p in self.components])

    def scaled(self, factor: Polynomial) -> "VectorField":
        return VectorField(tuple(p * factor if p else Polynomial() for p in self.components))


def from_sympy(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Polynomial:
    """Convert a sympy polynomial in ``symbols`` to a :class:`Polynomial` (raises if it is not one)."""
    from ..errors import ConservationLawsError

    expr = sympy.expand(sympy.sympify(expr))
    try:
        poly = sympy.Poly(expr, *symbols)
    except sympy.PolynomialError as exc:
        raise ConservationLawsError(f"expression {expr} is not a polynomial in the declared variables: {exc}") from None
    if not poly.domain.is_QQ and not poly.domain.is_ZZ:
        raise ConservationLawsError(
            f"expression {expr} is not a polynomial with rational coefficients in the declared variables "
            f"{[str(s) for s in symbols]} (coefficient domain {poly.domain})"
        )
    out = Polynomial()
    for exps, c in poly.terms():
        m = tuple(i for i, e in enumerate(exps) for _ in range(e))
        c = sympy.Rational(c)
        out[m] = Fraction(int(c.p), int(c.q))
    return out


def as_fraction(value) -> Fraction:
    """An exact rational from an int, a Fraction, a sympy Rational or a float (via its decimal repr)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int,)):
        return Fraction(value)
    if isinstance(value, str):  # before the sympy test, which would import sympy (start-up time)
        return Fraction(value)
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(str(value))


def symbols_for(names: Sequence[str]) -> list[sympy.Symbol]:
    return [sympy.Symbol(n, real=True) for n in names]


def latex_names(names: Sequence[str]) -> Mapping[sympy.Symbol, str]:
    """LaTeX for names like ``U[0,1]`` → ``U_{0,1}`` and ``U'[0,1]`` → ``\\dot{U}_{0,1}``."""
    out = {}
    for n in names:
        base, _, idx = n.partition("[")
        idx = idx.rstrip("]")
        dot = base.endswith("'")
        base = base.rstrip("'")
        tex = base if len(base) == 1 else base[0] + "_{" + base[1:] + "}" if base[1:].isdigit() else base
        if base[1:].isdigit() and idx:
            tex = f"{base[0]}^{{({base[1:]})}}"
        if dot:
            tex = f"\\dot{{{tex}}}"
        if idx:
            tex = f"{tex}_{{{idx}}}"
        out[sympy.Symbol(n, real=True)] = tex
    return out
