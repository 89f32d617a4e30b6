"""Linear nets φ(θ) = U_1 U_2 ⋯ U_q (the paper's Section 4.1.1) and their momentum charges."""

from __future__ import annotations

from fractions import Fraction

from .._lazy import sympy
from ..algebra.polynomial import Polynomial
from ..errors import invalid
from .base import Block, Model, _matrix_product_entries, check_dims, velocity_blocks


class LinearNet(Model):
    """q-layer linear net φ(θ) = U_1 U_2 ⋯ U_q (two layers: φ = U V^T, U ∈ R^{n×r}, V ∈ R^{m×r})."""

    name = "linear"

    def __init__(self, dims):
        dims = check_dims(dims, 3)
        if len(dims) == 3:
            n, r, m = dims
            blocks = [Block("U", (n, r)), Block("V", (m, r))]
        else:
            blocks = [Block(f"U{i + 1}", (dims[i], dims[i + 1])) for i in range(len(dims) - 1)]
        super().__init__(dims, blocks)

    @property
    def two_layer(self) -> bool:
        return len(self.dims) == 3

    def phi_polynomials(self) -> list[Polynomial]:
        if self.two_layer:
            n, r, m = self.dims
            u, v = self.offsets["U"], self.offsets["V"]  # U[i, k] at u + i r + k, V[j, k] at v + j r + k
            one = Fraction(1)
            return [Polynomial({(u + i * r + k, v + j * r + k): one for k in range(r)})
                    for i in range(n) for j in range(m)]
        return _matrix_product_entries(self, [b.name for b in self.blocks])

    def matrices(self, theta):
        blocks = self.unflatten(theta)
        if self.two_layer:
            return [blocks["U"], blocks["V"].T]
        return [blocks[b.name] for b in self.blocks]

    def predict(self, theta, x):
        out = x.T
        for W in reversed(self.matrices(theta)):
            out = W @ out
        return out.T

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """GF: entries (i ≤ j) of U_i^T U_i − U_{i+1} U_{i+1}^T.

        MF: entries (i < j) of J_i = U_i^T U_i' − U_i'^T U_i + U_{i+1} U_{i+1}'^T − U_{i+1}' U_{i+1}^T
        (two layers, U_2 = V^T: J = U^T U' − U'^T U + V^T V' − V'^T V), without the time factor: the Noether
        charges of θ ↦ (U_i O, O^T U_{i+1}), O ∈ O(n_i).
        """
        M = self.symbolic_blocks()
        if self.two_layer:
            layers = [M["U"], M["V"].T]
        else:
            layers = [M[b.name] for b in self.blocks]
        laws = []
        if flow == "gradient":
            for A, B in zip(layers[:-1], layers[1:]):
                Q = A.T * A - B * B.T
                laws += [sympy.expand(Q[i, j]) for i in range(Q.shape[0]) for j in range(i, Q.shape[1])]
        else:
            laws = linear_charges(self)
        return laws



def linear_charges(model: LinearNet, reversed_sign: bool = False) -> list[sympy.Expr]:
    """Entries (i < j) of the layer charges of a linear net, without the time factor c(t).

    J_i = U_iᵀU_i' − U_i'ᵀU_i + σ (U_{i+1}U_{i+1}'ᵀ − U_{i+1}'U_{i+1}ᵀ), i = 1..q−1 (two layers:
    U_2 = Vᵀ). σ = +1 is the verified form, ``model.paper_laws("momentum")``: c(t)J_i is conserved by
    momentum (claim C7). ``reversed_sign=True`` gives σ = −1, the form with the last two terms
    reversed, which chapter 02 shows is not a law.
    """
    if not isinstance(model, LinearNet):
        raise invalid("model", model, "a linear net (make_model('linear', dims))")
    M, vel = model.symbolic_blocks(), velocity_blocks(model)
    if model.two_layer:
        layers, vlayers = [M["U"], M["V"].T], [vel["U"], vel["V"].T]
    else:
        layers = [M[b.name] for b in model.blocks]
        vlayers = [vel[b.name] for b in model.blocks]
    sign = -1 if reversed_sign else 1
    laws = []
    for A, dA, B, dB in zip(layers[:-1], vlayers[:-1], layers[1:], vlayers[1:]):
        J = A.T * dA - dA.T * A + sign * (B * dB.T - dB * B.T)
        laws += [sympy.expand(J[i, j]) for i in range(J.shape[0]) for j in range(i + 1, J.shape[1])]
    return laws
