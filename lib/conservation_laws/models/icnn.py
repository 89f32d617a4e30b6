"""Two-layer input-convex nets (ICNN, the paper's Section 4.2.2).

φ = (U_ik V_kj, U_ik b_k), with the mixed metric diag(U, 1, 1).
"""

from __future__ import annotations

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, product_of_variables
from ..errors import invalid
from .base import Block, Model, check_dims


class ICNN(Model):
    """Two-layer input-convex net x ↦ U σ(V x + b), U ≥ 0; φ = (U_ik V_kj, U_ik b_k); metric diag(U, 1, 1)."""

    name = "icnn"
    has_bias = True
    default_geometry = "mixed"

    def __init__(self, dims, bias: bool = False):
        dims = check_dims(dims, 3, exact_length=3)
        n1, n2, n3 = dims
        blocks = [Block("U", (n1, n2)), Block("V", (n2, n3))] + ([Block("b", (n2,))] if bias else [])
        super().__init__(dims, blocks, bias=bias)

    def _mixed_mask(self) -> tuple[bool, ...]:
        return tuple(name.startswith("U[") for name in self.variable_names)

    def phi_polynomials(self) -> list[Polynomial]:
        n1, n2, n3 = self.dims
        out = [
            product_of_variables([self.index("U", i, k), self.index("V", k, j)])
            for i in range(n1)
            for k in range(n2)
            for j in range(n3)
        ]
        if self.bias:
            out += [product_of_variables([self.index("U", i, k), self.index("b", k)]) for i in range(n1) for k in range(n2)]
        return out

    def predict(self, theta, x):
        import jax.numpy as jnp

        b = self.unflatten(theta)
        h = b["V"] @ x.T
        if self.bias:
            h = h + b["b"][:, None]
        return (b["U"] @ jnp.maximum(h, 0.0)).T

    def random_parameters(self, seed: int = 0, scale: float = 1.0, positive: bool = False) -> np.ndarray:
        theta = super().random_parameters(seed, scale)
        u = slice(self.offsets["U"], self.offsets["U"] + self.dims[0] * self.dims[1])
        theta[u] = np.abs(theta[u]) + 0.1 * scale
        return theta

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """Mixed-metric GF: h_k = Σ_i U_ik − (||v_k||² + b_k²)/2, one per hidden neuron."""
        if flow != "gradient":
            return []
        M = self.symbolic_blocks()
        n1, n2, n3 = self.dims
        laws = []
        for k in range(n2):
            sq = sum(M["V"][k, j] ** 2 for j in range(n3)) + (M["b"][k] ** 2 if self.bias else 0)
            laws.append(sum(M["U"][i, k] for i in range(n1)) - sympy.Rational(1, 2) * sq)
        return laws



def icnn_pre_activations(model: "ICNN", theta, x) -> np.ndarray:
    """The hidden pre-activations p_{kn} = v_k · x_n + b_k of an ICNN, numerically.

    ``theta`` is one flat vector (D,) or a trajectory (n, D); ``x`` has shape (n_samples, n3).
    Returns shape (n2, n_samples), or (n, n2, n_samples) along a trajectory (no bias: b = 0).
    """
    if not isinstance(model, ICNN):
        raise invalid("model", type(model).__name__, "an ICNN (make_model('icnn', ...))")
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim not in (1, 2) or th.shape[-1] != model.D:
        raise invalid("theta", f"array of shape {th.shape}", f"shape ({model.D},) or (n, {model.D})")
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 2 or xs.shape[1] != model.dims[2]:
        raise invalid("x", f"array of shape {xs.shape}", f"shape (n_samples, {model.dims[2]})")
    out = []
    for row in th.reshape(-1, model.D):
        blocks = model.unflatten(row)
        pre = np.asarray(blocks["V"]) @ xs.T
        out.append(pre + np.asarray(blocks["b"])[:, None] if model.bias else pre)
    res = np.array(out)
    return res[0] if th.ndim == 1 else res
