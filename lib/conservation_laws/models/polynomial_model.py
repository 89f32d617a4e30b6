"""A model map φ given as polynomials in named variables (``--phi``), parsed, never evaluated as code."""

from __future__ import annotations

from typing import Sequence

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, symbols_for
from .base import Block, Model


class PolynomialModel(Model):
    """A user-supplied polynomial model map φ in named variables (parsed, never evaluated as code)."""

    name = "polynomial"

    def __init__(self, phi: Sequence[str], variables: Sequence[str] | None = None):
        from ..algebra.parsing import parse_polynomials_exact

        # straight to exact sparse polynomials (no sympy): a user model costs what a built-in one does
        polys, names = parse_polynomials_exact(phi, variables)
        self._names = names
        super().__init__((len(names),), [Block("theta", (len(names),))])
        self._polys = polys

    @property
    def _exprs(self) -> list:
        """φ as sympy expressions (built on demand: for display and the JAX forward map only)."""
        syms = symbols_for(self._names)
        return [p.to_sympy(syms) for p in self._polys]

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
        shown = [polynomial_text(p, self._names) for p in self._polys[:4]]
        more = f", … ({len(self._polys)} entries)" if len(self._polys) > 4 else ""
        return "polynomial φ = (" + ", ".join(shown) + more + ")"


def polynomial_text(p: Polynomial, names: Sequence[str], limit: int = 200) -> str:
    """``p`` as text in the grammar of ``--phi`` (e.g. ``2*u1^2 - 3/2*v1``), cut after ``limit`` characters."""
    parts = []
    for m, c in sorted(p.items(), key=lambda mc: (-len(mc[0]), mc[0])):
        powers = []
        for i in sorted(set(m)):
            k = m.count(i)
            powers.append(names[i] + (f"^{k}" if k > 1 else ""))
        mag = abs(c)
        coef = "" if mag == 1 and powers else str(mag)
        body = "*".join(([coef] if coef else []) + powers)
        parts.append(("-" if c < 0 else "+", body))
    if not parts:
        return "0"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        text += f" {sign} {body}"
    return text if len(text) <= limit else text[:limit] + "…"

