"""Non-negative matrix factorisation φ(θ) = U V with the mirror metric (the paper's Section 4.2.1)."""

from __future__ import annotations

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial
from ..errors import invalid
from .base import Block, Model, _matrix_product_entries, check_dims


class NMF(Model):
    """Non-negative matrix factorisation φ(θ) = U V, U ∈ R^{n1×n2}, V ∈ R^{n2×n3}, with the mirror metric."""

    name = "nmf"
    default_geometry = "mirror"

    def __init__(self, dims):
        dims = check_dims(dims, 3, exact_length=3)
        n1, n2, n3 = dims
        super().__init__(dims, [Block("U", (n1, n2)), Block("V", (n2, n3))])

    def phi_polynomials(self) -> list[Polynomial]:
        return _matrix_product_entries(self, ["U", "V"])

    def reconstruction(self, theta):
        b = self.unflatten(theta)
        return b["U"] @ b["V"]

    def predict(self, theta, x):
        return (self.reconstruction(theta) @ x.T).T

    def loss(self, theta, x, y=None):
        """½||X − UV||² (x is the data matrix; y is ignored)."""
        import jax.numpy as jnp

        return 0.5 * jnp.sum((x - self.reconstruction(theta)) ** 2)

    def random_parameters(self, seed: int = 0, scale: float = 1.0, positive: bool = True) -> np.ndarray:
        return super().random_parameters(seed, scale, positive=positive)

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """Mirror GF: h_k = Σ_i U_ik − Σ_j V_kj, one per latent factor."""
        if flow != "gradient":
            return []
        M = self.symbolic_blocks()
        n1, n2, n3 = self.dims
        return [sum(M["U"][i, k] for i in range(n1)) - sum(M["V"][k, j] for j in range(n3)) for k in range(n2)]



def nmf_scalar_log_laws(model: "NMF") -> list[sympy.Expr]:
    """The n2 − 1 logarithmic laws of scalar-output NMF (n1 = n3 = 1), this book's finding.

    ℓ_k = log(V_1/U_1)/(U_1 − V_1) − log(V_k/U_k)/(U_k − V_k), k = 2, …, n2: along the single field
    X = diag(θ)∇φ, U_k' = V_k' = −a U_k V_k, so d/dt log(V_k/U_k) = −a (U_k − V_k) with U_k − V_k conserved.
    """
    if not isinstance(model, NMF) or model.dims[0] * model.dims[2] != 1:
        raise invalid("model", getattr(model, "dims", model), "a scalar-output NMF (1, n2, 1)")
    B = model.symbolic_blocks()
    U, V = B["U"], B["V"]
    terms = [sympy.log(V[k, 0] / U[0, k]) / (U[0, k] - V[k, 0]) for k in range(model.dims[1])]
    return [terms[0] - t for t in terms[1:]]
