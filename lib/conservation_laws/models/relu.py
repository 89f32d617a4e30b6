"""ReLU nets (the paper's Section 4.1.2): φ the path products, the neuron rescalings and their charges."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, product_of_variables
from ..errors import invalid
from .base import Block, Model, check_dims, velocity_blocks


class ReLUNet(Model):
    """q-layer ReLU net x ↦ U1 σ(U2 σ(⋯ σ(Uq x + b_{q-1}) ⋯) + b1), hidden biases optional.

    On an activation region the output is linear in the path products, so φ(θ) is the vector of
    products of weights along every input→output path, plus (with biases) every path starting at a
    hidden bias b_l[k]: b_l[k]·U_l[·,k]·⋯·U_1.
    """

    name = "relu"
    has_bias = True

    def __init__(self, dims, bias: bool = False):
        dims = check_dims(dims, 3)
        q = len(dims) - 1
        blocks = [Block(f"U{i + 1}", (dims[i], dims[i + 1])) for i in range(q)]
        if bias:
            blocks += [Block(f"b{l}", (dims[l],)) for l in range(1, q)]
        super().__init__(dims, blocks, bias=bias)

    @property
    def depth(self) -> int:
        return len(self.dims) - 1

    def phi_polynomials(self) -> list[Polynomial]:
        q = self.depth
        out = []
        for path in itertools.product(*[range(d) for d in self.dims]):
            out.append(product_of_variables([self.index(f"U{l + 1}", path[l], path[l + 1]) for l in range(q)]))
        if self.bias:
            for l in range(1, q):
                for path in itertools.product(*[range(d) for d in self.dims[: l + 1]]):
                    idx = [self.index(f"U{m + 1}", path[m], path[m + 1]) for m in range(l)]
                    out.append(product_of_variables(idx + [self.index(f"b{l}", path[l])]))
        return out

    def predict(self, theta, x):
        import jax.numpy as jnp

        blocks = self.unflatten(theta)
        h = x.T
        for l in range(self.depth, 0, -1):
            h = blocks[f"U{l}"] @ h
            if l > 1:
                if self.bias:
                    h = h + blocks[f"b{l - 1}"][:, None]
                h = jnp.maximum(h, 0.0)
        return h.T

    def random_parameters(self, seed: int = 0, scale: float = 1.0, positive: bool = False, init: str = "normal") -> np.ndarray:
        """Random θ: ``init='normal'`` draws every entry from N(0, scale²) (the base class);
        ``init='he'`` draws U_l from N(0, scale²·2/n_l) with n_l = dims[l] its fan-in (He et al.),
        and a hidden bias b_l from N(0, scale²·2/n_{l+1}), the fan-in of the layer producing it."""
        if init == "normal":
            return super().random_parameters(seed, scale, positive)
        if init != "he":
            raise invalid("init", init, "'normal' or 'he'")
        rng = np.random.default_rng(seed)
        parts = []
        for b in self.blocks:
            fan_in = b.shape[1] if len(b.shape) == 2 else self.dims[int(b.name[1:]) + 1]
            parts.append(rng.normal(scale=scale * math.sqrt(2.0 / fan_in), size=b.size))
        theta = np.concatenate(parts)
        return np.abs(theta) if positive else theta

    def pre_activations(self, theta, x) -> np.ndarray:
        """The hidden neurons' pre-activations (U_{l+1} h_{l+1} + b_l, before σ) for every sample, numerically.

        ``theta`` is one flat vector (D,) or a trajectory (n, D); ``x`` has shape (n_samples, dims[-1]).
        Returns shape (n_samples, n_neurons) or (n, n_samples, n_neurons), the neurons in the order of
        :meth:`neuron_laws` (layer 1 first). ``> 0`` gives the activation pattern; along a trajectory a
        change of sign between saved states is an activation switch, and a pre-activation that stays
        near 0 means the trajectory runs along a kink, where θ ↦ g(θ, x) is not differentiable.
        """
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim not in (1, 2) or th.shape[-1] != self.D:
            raise invalid("theta", f"array of shape {th.shape}", f"shape ({self.D},) or (n, {self.D})")
        xs = np.asarray(x, dtype=np.float64)
        if xs.ndim != 2 or xs.shape[1] != self.dims[-1]:
            raise invalid("x", f"array of shape {xs.shape}", f"shape (n_samples, {self.dims[-1]})")
        T = th.reshape(-1, self.D)
        h = np.broadcast_to(xs, (T.shape[0],) + xs.shape)  # (n, samples, width)
        patterns = []
        for l in range(self.depth, 1, -1):
            o = self.offsets[f"U{l}"]
            W = T[:, o : o + self.dims[l - 1] * self.dims[l]].reshape(-1, self.dims[l - 1], self.dims[l])
            pre = np.einsum("nsj,nij->nsi", h, W)
            if self.bias:
                ob = self.offsets[f"b{l - 1}"]
                pre = pre + T[:, None, ob : ob + self.dims[l - 1]]
            patterns.append(pre)
            h = np.maximum(pre, 0.0)
        res = np.concatenate(patterns[::-1], axis=2)
        return res[0] if th.ndim == 1 else res

    def neuron_laws(self, theta, layer: int | None = None, bias: bool = True) -> np.ndarray:
        """h_{l,k}(θ) = ||U_{l+1}[k, :]||² (+ b_l[k]²) − ||U_l[:, k]||² for the hidden neurons, numerically.

        ``theta`` is one flat vector (D,) or a trajectory (n, D); the result has shape (n_neurons,) or
        (n, n_neurons). ``layer`` (1..depth−1, counted from the output as the blocks are: the layer fed
        by the input is depth−1) keeps one hidden layer, otherwise all, in order l = 1, 2, …
        ``bias=False`` leaves the bias term out even when the net has biases (the law without it is
        not conserved: for comparison only). Same values as :meth:`paper_laws` evaluated at θ.
        """
        th = np.asarray(theta, dtype=np.float64)
        if th.ndim not in (1, 2) or th.shape[-1] != self.D:
            raise invalid("theta", f"array of shape {th.shape}", f"shape ({self.D},) or (n, {self.D})")
        layers = range(1, self.depth)
        if layer is not None:
            if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer not in layers:
                raise invalid("layer", layer, f"a hidden layer from 1 to {self.depth - 1}")
            layers = [int(layer)]
        T = th.reshape(-1, self.D)
        out = []
        for l in layers:
            o, n_l, n_in = self.offsets[f"U{l + 1}"], self.dims[l], self.dims[l + 1]
            incoming = (T[:, o : o + n_l * n_in].reshape(-1, n_l, n_in) ** 2).sum(axis=2)
            if self.bias and bias:
                ob = self.offsets[f"b{l}"]
                incoming = incoming + T[:, ob : ob + n_l] ** 2
            o, n_out = self.offsets[f"U{l}"], self.dims[l - 1]
            outgoing = (T[:, o : o + n_out * n_l].reshape(-1, n_out, n_l) ** 2).sum(axis=1)
            out.append(incoming - outgoing)
        res = np.concatenate(out, axis=1)
        return res[0] if th.ndim == 1 else res

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """One law per hidden neuron: ||incoming weights||² (+ b²) − ||outgoing weights||²."""
        if flow != "gradient":
            return []
        M = self.symbolic_blocks()
        laws = []
        for l in range(1, self.depth):
            for k in range(self.dims[l]):
                incoming = sum(M[f"U{l + 1}"][k, j] ** 2 for j in range(self.dims[l + 1]))
                if self.bias:
                    incoming += M[f"b{l}"][k] ** 2
                outgoing = sum(M[f"U{l}"][i, k] ** 2 for i in range(self.dims[l - 1]))
                laws.append(sympy.expand(incoming - outgoing))
        return laws



def neuron_rescalings(model: "ReLUNet", factor: sympy.Expr) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """One substitution per hidden neuron (l, k) of a ReLU net: the rescaling that leaves φ unchanged.

    U_{l+1}[k, :] ↦ λ U_{l+1}[k, :], b_l[k] ↦ λ b_l[k], U_l[:, k] ↦ U_l[:, k] / λ, with λ = ``factor``;
    neurons in the order of :meth:`ReLUNet.paper_laws` (layer 1 first).
    """
    if not isinstance(model, ReLUNet):
        raise invalid("model", type(model).__name__, "a ReLU net (make_model('relu', ...))")
    M = model.symbolic_blocks()
    out = []
    for l in range(1, model.depth):
        for k in range(model.dims[l]):
            sub = {s: factor * s for s in M[f"U{l + 1}"][k, :]}
            sub.update({s: s / factor for s in M[f"U{l}"][:, k]})
            if model.bias:
                sub[M[f"b{l}"][k]] = factor * M[f"b{l}"][k]
            out.append(sub)
    return out


def phi_invariant(model: Model, substitution: dict[sympy.Symbol, sympy.Expr]) -> bool:
    """Whether φ(θ) is unchanged, as exact polynomials, by the change of variables ``substitution``."""
    return all(sympy.expand(e.xreplace(substitution) - e) == 0 for e in model.phi_sympy())


def rescaling_charge(model: "ReLUNet", layer: int = 1, neuron: int = 0) -> sympy.Expr:
    """The Noether charge p = ⟨θ', ξ_{l,k}(θ)⟩ of the rescaling of hidden neuron (l, k).

    ξ_{l,k} = (U_{l+1}[k, :], b_l[k], −U_l[:, k]) on those coordinates, so p = ½ d/dt h_{l,k};
    written in the parameters and their velocities (``velocity_blocks``).
    """
    if not isinstance(model, ReLUNet):
        raise invalid("model", type(model).__name__, "a ReLU net (make_model('relu', ...))")
    if not (1 <= layer < model.depth) or not (0 <= neuron < model.dims[layer]):
        raise invalid("layer, neuron", (layer, neuron), "a hidden neuron of the net")
    M, V = model.symbolic_blocks(), velocity_blocks(model)
    incoming = list(M[f"U{layer + 1}"][neuron, :]), list(V[f"U{layer + 1}"][neuron, :])
    if model.bias:
        incoming[0].append(M[f"b{layer}"][neuron])
        incoming[1].append(V[f"b{layer}"][neuron])
    out_x, out_v = list(M[f"U{layer}"][:, neuron]), list(V[f"U{layer}"][:, neuron])
    return sympy.expand(sum(a * b for a, b in zip(*incoming)) - sum(a * b for a, b in zip(out_x, out_v)))
