"""Model maps φ: the factorisation g(θ, x) = f(φ(θ), x) behind every conservation law.

Each model knows its parameters (named blocks, written as the paper writes them), φ as exact
polynomials (and sympy expressions), its forward map for simulation (JAX), its default geometry
(the metric of the paper) and the laws the paper states for it, so that the solver's output can be
compared with them.

Dimension convention (the authors'): ``dims[0]`` is the output width, ``dims[-1]`` the input width.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy

from .errors import ConservationLawsError, invalid
from .polynomial import Polynomial, from_sympy, latex_names, product_of_variables, symbols_for

MODEL_NAMES = ("linear", "relu", "nmf", "icnn", "product", "polynomial")
GEOMETRIES = ("euclidean", "mirror", "mixed")
MAX_PARAMETERS = 2000


@dataclass(frozen=True)
class Block:
    """A named parameter block, e.g. ``Block('U', (n, r))``."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def entry_names(self) -> list[str]:
        if len(self.shape) == 1:
            return [f"{self.name}[{i}]" for i in range(self.shape[0])]
        return [f"{self.name}[{i},{j}]" for i in range(self.shape[0]) for j in range(self.shape[1])]


def check_dims(dims, minimum_length: int, exact_length: int | None = None) -> tuple[int, ...]:
    """Validate a width list: positive integers, of the right length."""
    if isinstance(dims, str):
        parts = [p.strip() for p in dims.split(",") if p.strip()]
        try:
            dims = [int(p) for p in parts]
        except ValueError:
            raise invalid("dims", dims, "a comma-separated list of positive integers, e.g. 2,3,2") from None
    try:
        dims = list(dims)
    except TypeError:
        raise invalid("dims", dims, "a list of positive integers") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise invalid("dims", dims, "every width must be a positive integer")
    if exact_length is not None and len(dims) != exact_length:
        raise invalid("dims", dims, f"this model takes exactly {exact_length} widths")
    if len(dims) < minimum_length:
        raise invalid("dims", dims, f"at least {minimum_length} widths are needed")
    return tuple(int(d) for d in dims)


class Model:
    """Base class: subclasses define ``blocks`` and ``phi_polynomials``."""

    name: str = "model"
    default_geometry: str = "euclidean"
    #: whether the model takes hidden biases (``bias=True``); ``bias_models()`` lists those that do
    has_bias: bool = False

    def __init__(self, dims: tuple[int, ...], blocks: list[Block], bias: bool = False):
        self.dims = dims
        self.blocks = blocks
        self.bias = bias
        offsets = itertools.accumulate([0] + [b.size for b in blocks])
        self.offsets = dict(zip([b.name for b in blocks], offsets))

    def check_countable(self) -> None:
        """The symbolic engine's size limit (simulation has none): D ≤ MAX_PARAMETERS."""
        if self.D > MAX_PARAMETERS:
            raise invalid("dims", list(self.dims), f"counting supports at most {MAX_PARAMETERS} parameters (got D={self.D})")

    # --- layout -------------------------------------------------------------------------
    @property
    def D(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def variable_names(self) -> list[str]:
        return [n for b in self.blocks for n in b.entry_names()]

    @property
    def symbols(self) -> list[sympy.Symbol]:
        return symbols_for(self.variable_names)

    def index(self, block: str, *entry: int) -> int:
        """Flat index of ``block[entry]``."""
        b = next(b for b in self.blocks if b.name == block)
        return self.offsets[block] + int(np.ravel_multi_index(entry, b.shape))

    def unflatten(self, theta):
        """Split a flat parameter vector (numpy or JAX) into named blocks."""
        return {b.name: theta[self.offsets[b.name] : self.offsets[b.name] + b.size].reshape(b.shape) for b in self.blocks}

    def flatten(self, blocks: dict):
        import jax.numpy as jnp

        return jnp.concatenate([jnp.ravel(blocks[b.name]) for b in self.blocks])

    def symbolic_blocks(self, symbols: Sequence[sympy.Symbol] | None = None) -> dict[str, sympy.Matrix]:
        """The parameter blocks as sympy matrices (of ``symbols``, default the parameters' own)."""
        syms = self.symbols if symbols is None else list(symbols)
        out = {}
        for b in self.blocks:
            s = syms[self.offsets[b.name] : self.offsets[b.name] + b.size]
            out[b.name] = sympy.Matrix(b.shape[0], b.shape[1] if len(b.shape) > 1 else 1, s)
        return out

    def latex_names(self):
        return latex_names(self.variable_names)

    # --- the model map --------------------------------------------------------------------
    def phi_polynomials(self) -> list[Polynomial]:  # pragma: no cover - abstract
        raise NotImplementedError

    def phi_sympy(self) -> list[sympy.Expr]:
        syms = self.symbols
        return [p.to_sympy(syms) for p in self.phi_polynomials()]

    def mirror_mask(self, geometry: str | None = None) -> tuple[bool, ...]:
        """Which coordinates carry the mirror metric M(θ)_jj = θ_j (the others are Euclidean)."""
        geometry = geometry or self.default_geometry
        if geometry not in GEOMETRIES:
            raise invalid("geometry", geometry, f"one of {', '.join(GEOMETRIES)}")
        if geometry == "euclidean":
            return (False,) * self.D
        if geometry == "mirror":
            return (True,) * self.D
        return self._mixed_mask()

    def _mixed_mask(self) -> tuple[bool, ...]:
        raise invalid("geometry", "mixed", f"'mixed' is defined for icnn only, not {self.name}")

    # --- simulation (JAX) -----------------------------------------------------------------
    def predict(self, theta, x):  # pragma: no cover - abstract
        """g(θ, x) for a batch x of shape (n_samples, input width)."""
        raise NotImplementedError

    def loss(self, theta, x, y):
        """Mean squared error ½·mean ||g(θ, x_i) − y_i||²."""
        import jax.numpy as jnp

        r = self.predict(theta, x) - y
        return 0.5 * jnp.mean(jnp.sum(r**2, axis=-1))

    def cross_entropy(self, theta, x, y):
        """Softmax cross-entropy −(1/n) Σ_i Σ_j y_ij log softmax(g(θ, x_i))_j, for classification.

        ``y`` holds one-hot (or probability) rows of the output width. The loss depends on θ through
        g(θ, x) only, so it factorises through φ like the squared error and has the same laws.
        """
        import jax
        import jax.numpy as jnp

        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(self.predict(theta, x), axis=-1), axis=-1))

    def random_parameters(self, seed: int = 0, scale: float = 1.0, positive: bool = False) -> np.ndarray:
        rng = np.random.default_rng(seed)
        theta = rng.normal(scale=scale, size=self.D)
        if positive:
            theta = np.abs(theta) + 0.1 * scale
        return theta

    # --- the paper's laws -------------------------------------------------------------------
    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """The laws the paper (or these notes) state for this model and flow; [] when none are known."""
        return []

    def describe(self) -> str:
        return f"{self.name} {list(self.dims)}" + (" + bias" if self.bias else "")

    def __repr__(self) -> str:
        return f"<{self.describe()} D={self.D}>"


def _matrix_product_entries(model: Model, names: Sequence[str]) -> list[Polynomial]:
    """Entries of the product of the named blocks (exact, summed over hidden indices)."""
    shapes = [next(b for b in model.blocks if b.name == n).shape for n in names]
    out = []
    for i in range(shapes[0][0]):
        for j in range(shapes[-1][1]):
            p = Polynomial()
            for hidden in itertools.product(*[range(s[1]) for s in shapes[:-1]]):
                path = (i,) + hidden + (j,)
                idx = [model.index(n, path[l], path[l + 1]) for l, n in enumerate(names)]
                p = p + product_of_variables(idx)
            out.append(p)
    return out


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
            return [
                sum((product_of_variables([self.index("U", i, k), self.index("V", j, k)]) for k in range(r)), Polynomial())
                for i in range(n)
                for j in range(m)
            ]
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
            vel = velocity_blocks(self)
            vlayers = [vel["U"], vel["V"].T] if self.two_layer else [vel[b.name] for b in self.blocks]
            for (A, dA), (B, dB) in zip(zip(layers[:-1], vlayers[:-1]), zip(layers[1:], vlayers[1:])):
                J = A.T * dA - dA.T * A + B * dB.T - dB * B.T
                laws += [sympy.expand(J[i, j]) for i in range(J.shape[0]) for j in range(i + 1, J.shape[1])]
        return laws


def velocity_names(model: Model) -> list[str]:
    """Names of the velocity coordinates v = θ': ``U'[0,1]`` for ``U[0,1]``."""
    out = []
    for n in model.variable_names:
        base, bracket, rest = n.partition("[")
        out.append(f"{base}'{bracket}{rest}")
    return out


def velocity_blocks(model: Model) -> dict[str, sympy.Matrix]:
    """The velocity blocks U', V', … as sympy matrices."""
    return model.symbolic_blocks(symbols_for(velocity_names(model)))


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


class PolynomialModel(Model):
    """A user-supplied polynomial model map φ in named variables (parsed, never evaluated as code)."""

    name = "polynomial"

    def __init__(self, phi: Sequence[str], variables: Sequence[str] | None = None):
        from .parsing import parse_polynomials

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


def _model_classes(base=None) -> dict[str, type]:
    """Every model class by its ``name`` (subclasses of ``Model``, found at call time)."""
    out = {}
    for cls in (base or Model).__subclasses__():
        out.setdefault(cls.name, cls)
        out.update({k: v for k, v in _model_classes(cls).items() if k not in out})
    return out


def bias_models() -> tuple[str, ...]:
    """The models that take hidden biases (``has_bias``), in ``MODEL_NAMES`` order: relu, icnn."""
    classes = _model_classes()
    return tuple(n for n in MODEL_NAMES if n in classes and classes[n].has_bias)


def bias_error(bias) -> ConservationLawsError:
    """The one error for ``bias=True`` on a model without biases."""
    return invalid("bias", bias, f"biases exist for {' and '.join(bias_models())} only")


def make_model(name: str, dims=None, bias: bool = False, phi: Sequence[str] | None = None) -> Model:
    """Build a model by name: ``linear``, ``relu``, ``nmf``, ``icnn``, ``product`` or ``polynomial``."""
    if name not in MODEL_NAMES:
        raise invalid("model", name, f"one of {', '.join(MODEL_NAMES)}")
    if name == "polynomial" or phi:
        if not phi:
            raise invalid("phi", phi, "at least one polynomial, e.g. --phi 'u1*v1 + u2*v2'")
        return PolynomialModel(phi)
    if dims is None:
        raise invalid("dims", dims, "a list of positive integers, e.g. 2,3,2")
    if bias and name not in bias_models():
        raise bias_error(bias)
    if name == "linear":
        return LinearNet(dims)
    if name == "relu":
        return ReLUNet(dims, bias=bias)
    if name == "nmf":
        return NMF(dims)
    if name == "icnn":
        return ICNN(dims, bias=bias)
    return ProductToy(dims)


def phi_jax(model: Model) -> Callable:
    """φ as a JAX function of the flat parameter vector (for gradients and tests)."""
    import jax.numpy as jnp

    polys = model.phi_polynomials()
    terms = [(list(p.keys()), [float(c) for c in p.values()]) for p in polys]

    def phi(theta):
        vals = []
        for monos, coeffs in terms:
            s = 0.0
            for m, c in zip(monos, coeffs):
                s = s + c * (jnp.prod(theta[jnp.array(m, dtype=int)]) if m else 1.0)
            vals.append(s)
        return jnp.stack(vals)

    return phi

