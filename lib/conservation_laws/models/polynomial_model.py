"""A model map φ given as polynomials in named variables (``--phi``), parsed, never evaluated as code."""

from __future__ import annotations

from typing import Sequence

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, from_sympy, symbols_for
from .base import Block, Model


class PolynomialModel(Model):
    """A user-supplied polynomial model map φ in named variables (parsed, never evaluated as code)."""

    name = "polynomial"

    def __init__(self, phi: Sequence[str], variables: Sequence[str] | None = None):
        from ..algebra.parsing import parse_polynomials

        exprs, names = parse_polynomials(phi, variables)
        self._names = names
        super().__init__((len(names),), [Block("theta", (len(names),))])
        syms = symbols_for(names)
        self._polys = [from_sympy(e, syms) for e in exprs]
        self._exprs = exprs

    @property
    def variable_names(self) -> list[str]:
        return self._names

    def phi_polynomials(self) -> list[Polynomial]:
        return list(self._polys)

    def predict(self, theta, x):
        import jax.numpy as jnp

        f = sympy.lambdify(self.symbols, self._exprs, modules="jax")
        return jnp.stack(f(*theta)) * jnp.ones((x.shape[0], 1))

    def describe(self) -> str:
        return "polynomial φ = (" + ", ".join(str(e) for e in self._exprs) + ")"
