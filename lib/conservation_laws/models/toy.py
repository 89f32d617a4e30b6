"""The product toy φ(x) = x1 x2 ⋯ x_D (one output), the smallest model with laws under every flow."""

from __future__ import annotations

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, product_of_variables
from .base import Block, Model, check_dims


class ProductToy(Model):
    """The toy φ(x) = x1 x2 ⋯ x_D (one output)."""

    name = "product"

    def __init__(self, dims):
        dims = check_dims(dims, 1, exact_length=1)
        super().__init__(dims, [Block("x", (dims[0],))])
        # one-based names read like the paper: x1, x2, ...
        self._names = [f"x{i + 1}" for i in range(dims[0])]

    @property
    def variable_names(self) -> list[str]:
        return self._names

    def phi_polynomials(self) -> list[Polynomial]:
        return [product_of_variables(range(self.D))]

    def predict(self, theta, x):
        import jax.numpy as jnp

        return jnp.prod(theta) * x

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        if flow != "gradient":
            return []
        x = self.symbols
        return [x[j] ** 2 - x[0] ** 2 for j in range(1, self.D)]
