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
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
from ._lazy import sympy

from .errors import ConservationLawsError, invalid
from .polynomial import Polynomial, from_sympy, latex_names, product_of_variables, symbols_for

MODEL_NAMES = ("linear", "relu", "nmf", "icnn", "product", "polynomial")
GEOMETRIES = ("euclidean", "mirror", "mixed")


def count_memory_estimate(N: int) -> int:
    """Bytes a count on N coordinates needs at most (an estimate from the engine's dense arrays).

    The construction's echelon basis (N × N int64) and the float64 temporaries of its exact products
    (about six N × N arrays), and the check's K × N matrix handed to FLINT (Python integers on the
    way: about 40 bytes an entry): about 100·N² bytes, plus 200 MiB for the interpreter and the fields.
    Measured peaks (heavy ball [k, k, k], N = 4k² + 1): 93 MB at N = 785, 237 MB at N = 1601.
    """
    return 200 * 2**20 + 100 * N * N


def available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable of /proc/meminfo, else the free physical pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


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
        # row-major, any number of axes (convolution filters have 3 or 4: u[k,j,t])
        return [f"{self.name}[{','.join(map(str, e))}]" for e in itertools.product(*map(range, self.shape))]


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

    def check_countable(self, N: int | None = None) -> None:
        """Refuse up front a count whose estimated memory exceeds what the machine has available.

        ``N``: the coordinates of the count (D for gradient flows, 2D + 1 under momentum; default D).
        The estimate is ``count_memory_estimate(N)``; simulation has no such limit.
        """
        N = self.D if N is None else N
        need, have = count_memory_estimate(N), available_memory()
        if have is not None and need > have:
            raise invalid("dims", list(self.dims), f"counting N={N} coordinates needs about {need / 2**30:.1f} GiB "
                          f"of memory (estimate) and {have / 2**30:.1f} GiB are available")

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
            if len(b.shape) > 2:  # filters: an N-dimensional array, indexed like the block
                out[b.name] = sympy.Array(s, b.shape)
                continue
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

    @classmethod
    def from_spec(cls, source) -> "Model":
        """A model from a model file (path, YAML text or mapping): see :mod:`conservation_laws.spec`."""
        from .spec import load_spec

        return load_spec(source)

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
            laws = linear_charges(self)
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
        from .parsing import parse_polynomials_exact

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


def make_model(name: str, dims=None, bias: bool = False, phi: Sequence[str] | None = None, **options) -> Model:
    """Build a model by name: ``linear``, ``relu``, ``nmf``, ``icnn``, ``product``, ``polynomial``, or
    one of the follow-up paper's blocks (``BLOCK_MODELS``: attention, conv1d, conv2d, softmax,
    residual, transformer) with its keyword ``options`` (``MODEL_OPTIONS``); ``spec=`` a model file."""
    spec = options.pop("spec", None)
    if spec is not None or name == "spec":  # a model file (spec.py): it names its own blocks
        if spec is None:
            raise invalid("spec", spec, "the path of a model file (YAML), e.g. spec='gated.yaml'")
        from .spec import load_spec

        return load_spec(spec)
    if name not in MODEL_NAMES:
        raise invalid("model", name, f"one of {', '.join(MODEL_NAMES)}")
    if name in BLOCK_MODELS and not phi:
        if bias:
            raise bias_error(bias)
        return make_block_model(name, dims, **options)
    if options:
        raise invalid("options", sorted(options), f"{name} takes no options (they exist for {', '.join(BLOCK_MODELS)})")
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



# --------------------------------------------------------------------------------------------
# Helpers of the ReLU and NMF chapters (lecture): random architectures, neuron rescalings,
# the scalar-output NMF laws
# --------------------------------------------------------------------------------------------

def random_architectures(name: str, count: int, seed: int = 0, depths: tuple[int, int] = (2, 4),
                         widths: tuple[int, int] = (1, 4), max_parameters: int | None = None,
                         exclude: Sequence[tuple[Sequence[int], bool]] = ()) -> list[tuple[list[int], bool]]:
    """``count`` distinct random architectures ``(dims, bias)`` of model ``name``.

    Each draw takes a depth q uniform in ``depths`` (inclusive), q + 1 widths uniform in ``widths``
    (inclusive) and a fair bias coin, in that order from ``numpy.random.default_rng(seed)``; a draw is
    kept when it is not in ``exclude`` nor drawn before and its model has D ≤ ``max_parameters``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise invalid("count", count, "a non-negative integer")
    rng = np.random.default_rng(seed)
    seen = [(list(d), bool(b)) for d, b in exclude]
    out: list[tuple[list[int], bool]] = []
    while len(out) < count:
        depth = int(rng.integers(depths[0], depths[1] + 1))
        dims = [int(w) for w in rng.integers(widths[0], widths[1] + 1, size=depth + 1)]
        bias = bool(rng.integers(0, 2))
        if (dims, bias) in seen:
            continue
        if max_parameters is None or make_model(name, dims, bias=bias).D <= max_parameters:
            seen.append((dims, bias))
            out.append((dims, bias))
    return out


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


# =============================================================================================
# Beyond the paper: the building blocks of the follow-up paper (Marcotte, Gribonval, Peyré,
# "Transformative or Conservative? Conservation Laws for ResNets and Transformers", ICML 2025):
# attention, convolutions with weight sharing, a softmax output layer, residual blocks and a
# small transformer block. Each has φ as exact polynomials; where a composite's g does not have
# a polynomial φ, ``functional_span`` computes (numerically, and says so) whether its derivatives
# span as much as the union of its blocks' φ.
# =============================================================================================
def _int_option(name: str, value, minimum: int = 1) -> int:
    """An integer option ≥ ``minimum`` (bool is not an integer here)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise invalid(name, value, f"an integer ≥ {minimum}")
    return int(value)


def _axes_option(name: str, value, axes: int, minimum: int) -> tuple[int, ...]:
    """An integer per spatial axis: one integer (the same on every axis) or a list of ``axes`` integers."""
    if isinstance(value, str):
        value = [p for p in value.replace("x", ",").split(",") if p.strip()]
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            value = value[0]
        elif len(value) != axes:
            raise invalid(name, list(value), f"one integer or {axes} integers (one per spatial axis)")
        else:
            return tuple(_int_option(name, v, minimum) for v in value)
    return (_int_option(name, value, minimum),) * axes


def _sum_of_products(model: Model, left: str, right: str, i: int, j: int) -> Polynomial:
    """(Aᵀ B)[i, j] = Σ_a A[a, i] B[a, j] for blocks A = ``left``, B = ``right`` of equal row count."""
    rows = next(b for b in model.blocks if b.name == left).shape[0]
    return sum((product_of_variables([model.index(left, a, i), model.index(right, a, j)]) for a in range(rows)),
               Polynomial())


def _gram_difference_laws(model: Model, left: str, right: str) -> list[sympy.Expr]:
    """Entries (a ≤ b) of A Aᵀ − B Bᵀ: the laws of a factor Aᵀ B (the linear net's, transposed)."""
    M = model.symbolic_blocks()
    G = M[left] * M[left].T - M[right] * M[right].T
    return [sympy.expand(G[a, b]) for a in range(G.shape[0]) for b in range(a, G.shape[1])]


class Attention(Model):
    """Multi-head attention g(θ, X) = Σ_h softmax(X Q_hᵀ K_h Xᵀ) X V_hᵀ O_h (no scaling, no bias).

    Tokens X ∈ R^{N×dim} (rows), Q_h, K_h ∈ R^{d×dim} (``head_width`` d), V_h ∈ R^{d_v×dim},
    O_h ∈ R^{d_v×d_out} (``value_width`` d_v); ``dims`` = [d_out, dim] (or [dim]: d_out = dim).
    g depends on θ only through φ = (Q_hᵀ K_h, V_hᵀ O_h)_h: the scores X Q_hᵀ K_h Xᵀ through the
    first, the values X V_hᵀ O_h through the second, whatever X; so φ is the d·(dim² + dim·d_out)-
    entry vector of these products. One head is named Q, K, V, O as the follow-up paper writes
    them; several heads Q1, K1, V1, O1, Q2, … ``tokens`` N is the number of rows of X in
    :meth:`predict` (inputs are flattened rows of N·dim numbers).
    """

    name = "attention"

    def __init__(self, dims, heads=1, head_width=None, value_width=None, tokens=2):
        dims = check_dims(dims, 1)
        if len(dims) > 2:
            raise invalid("dims", list(dims), "[d_out, dim] or [dim] for attention (output width first)")
        self.d_out, self.dim = dims[0], dims[-1]
        self.heads = _int_option("heads", heads)
        self.head_width = _int_option("head_width", head_width if head_width is not None else self.dim)
        self.value_width = _int_option("value_width", value_width if value_width is not None else self.head_width)
        self.tokens = _int_option("tokens", tokens)
        blocks = []
        for h in self.head_names:
            blocks += [Block(f"Q{h}", (self.head_width, self.dim)), Block(f"K{h}", (self.head_width, self.dim)),
                       Block(f"V{h}", (self.value_width, self.dim)), Block(f"O{h}", (self.value_width, self.d_out))]
        super().__init__(dims, blocks)

    @property
    def input_width(self) -> int:
        """N·dim: one input is the N token rows, flattened."""
        return self.tokens * self.dim

    @property
    def output_width(self) -> int:
        return self.tokens * self.d_out

    @property
    def head_names(self) -> list[str]:
        """Block suffixes: '' for one head, '1', '2', … for several."""
        return [""] if self.heads == 1 else [str(h + 1) for h in range(self.heads)]

    def phi_polynomials(self) -> list[Polynomial]:
        out = []
        for h in self.head_names:
            out += [_sum_of_products(self, f"Q{h}", f"K{h}", i, j) for i in range(self.dim) for j in range(self.dim)]
            out += [_sum_of_products(self, f"V{h}", f"O{h}", i, j) for i in range(self.dim) for j in range(self.d_out)]
        return out

    def predict(self, theta, x):
        import jax
        import jax.numpy as jnp

        b = self.unflatten(theta)
        X = x.reshape(x.shape[0], self.tokens, self.dim)
        out = 0.0
        for h in self.head_names:
            scores = jnp.einsum("nti,ai,aj,nsj->nts", X, b[f"Q{h}"], b[f"K{h}"], X)
            out = out + jnp.einsum("nts,nsi,ai,aj->ntj", jax.nn.softmax(scores, axis=-1), X, b[f"V{h}"], b[f"O{h}"])
        return out.reshape(x.shape[0], self.tokens * self.d_out)

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """Entries (a ≤ b) of Q_h Q_hᵀ − K_h K_hᵀ and V_h V_hᵀ − O_h O_hᵀ, every head (Cor. 3.9, 3.10)."""
        if flow != "gradient":
            return []
        laws = []
        for h in self.head_names:
            laws += _gram_difference_laws(self, f"Q{h}", f"K{h}") + _gram_difference_laws(self, f"V{h}", f"O{h}")
        return laws

    def rank_conditions(self, theta) -> dict[str, bool]:
        """Whether [Q_h, K_h] and [V_h, O_h] have full rank min(rows, columns) at θ (numerically).

        The follow-up paper's Cor. 3.9 holds where both have full rank.
        """
        b = self.unflatten(np.asarray(theta, dtype=float))
        out = {}
        for h in self.head_names:
            for left, right in ((f"Q{h}", f"K{h}"), (f"V{h}", f"O{h}")):
                M = np.concatenate([b[left], b[right]], axis=1)
                out[f"[{left}, {right}]"] = int(np.linalg.matrix_rank(M)) == min(M.shape)
        return out

    def gram_differences(self, theta) -> np.ndarray:
        """Q_h Q_hᵀ − K_h K_hᵀ and V_h V_hᵀ − O_h O_hᵀ, flattened, for θ of shape (D,) or (n, D)."""
        T = np.asarray(theta, dtype=float)
        rows = []
        for th in T.reshape(-1, self.D):
            b = self.unflatten(th)
            rows.append(np.concatenate([(b[f"{a}{h}"] @ b[f"{a}{h}"].T - b[f"{c}{h}"] @ b[f"{c}{h}"].T).ravel()
                                        for h in self.head_names for a, c in (("Q", "K"), ("V", "O"))]))
        res = np.array(rows)
        return res[0] if T.ndim == 1 else res

    def momentum_charges(self, theta, velocity, t, tau: float) -> np.ndarray:
        """e^{τt}(A A'ᵀ − A' Aᵀ + B B'ᵀ − B' Bᵀ) above the diagonal for (A, B) = (Q_h, K_h), (V_h, O_h).

        The linear net's momentum laws (the paper's J) written for the factors Q_hᵀK_h and V_hᵀO_h;
        for θ, θ' of shape (n, D) and times t of shape (n,). τ = 0 gives the charges without factor.
        """
        T = np.asarray(theta, dtype=float).reshape(-1, self.D)
        Vel = np.asarray(velocity, dtype=float).reshape(-1, self.D)
        rows = []
        for th, v, time in zip(T, Vel, np.ravel(np.asarray(t, dtype=float))):
            b, d = self.unflatten(th), self.unflatten(v)
            row = []
            for h in self.head_names:
                for A, B in (("Q", "K"), ("V", "O")):
                    a, da, c, dc = b[A + h], d[A + h], b[B + h], d[B + h]
                    J = a @ da.T - da @ a.T + c @ dc.T - dc @ c.T
                    row += list(np.exp(tau * time) * J[np.triu_indices(J.shape[0], 1)])
            rows.append(row)
        return np.array(rows)

    def describe(self) -> str:
        return (f"attention [{self.d_out}, {self.dim}], {self.heads} head(s) of width {self.head_width}, "
                f"value width {self.value_width}")


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution as common libraries compute it: ⌊(L + 2p − k)/s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_cooccurring_taps(size: int, kernel: int, stride: int, padding: int, out_kernel: int, out_stride: int,
                          out_padding: int, circular: bool = False) -> set[tuple[int, int]]:
    """The pairs (t_u, t_v) of filter taps that multiply one input entry on one output position (one axis).

    Hidden position p = q·s_u + t_u − p_u feeds output q through tap t_u of u; input position
    i = p·s_v + t_v − p_v feeds hidden p through tap t_v of v. Zero padding: the pair counts when both
    positions exist (0 ≤ p < L_1, 0 ≤ i < L_0); circular padding wraps them. Only such pairs appear in
    the output, as products u[·,·,t_u]·v[·,·,t_v].
    """
    hidden = conv_output_size(size, kernel, stride, padding)
    out = conv_output_size(hidden, out_kernel, out_stride, out_padding)
    pairs = set()
    for q in range(out):
        for tu in range(out_kernel):
            p = q * out_stride + tu - out_padding
            if circular:
                p %= hidden
            elif not 0 <= p < hidden:
                continue
            for tv in range(kernel):
                i = p * stride + tv - padding
                if circular or 0 <= i < size:
                    pairs.add((tu, tv))
    return pairs


class ConvNet(Model):
    """One hidden layer of multi-channel convolutions with ReLU, weight sharing, no bias (Thm. 3.6):

        g(θ, x)_k = Σ_j u_{k,j} ⋆ σ(Σ_i v_{j,i} ⋆ x_i),   k < c2, j < c1, i < c0,

    ``dims`` = [c2, c1, c0] (output channels first), filters v_{j,i} with ``kernel`` taps per axis,
    ``stride``, ``padding`` (zeros, or ``padding_mode='circular'``), then u_{k,j} with ``out_kernel``
    (default ``kernel``), ``out_stride`` (1) and ``out_padding`` (default ``padding``), on inputs of
    ``input_size`` per axis; ⋆ is cross-correlation, as in common libraries. On an activation region
    σ is a fixed 0/1 mask, so g is linear in the products u[k,j,t_u]·v[j,i,t_v] of taps that meet on
    some output position (``conv_cooccurring_taps``; per axis, and in 2D the pairs of both axes):
    φ is the vector of those products.
    """

    name = "conv"
    axes = 1

    def __init__(self, dims, kernel=3, input_size=None, stride=1, padding=0, out_kernel=None, out_stride=1,
                 out_padding=None, padding_mode="zeros"):
        c2, c1, c0 = check_dims(dims, 3, exact_length=3)
        A = self.axes
        self.kernel = _axes_option("kernel", kernel, A, 1)
        self.stride = _axes_option("stride", stride, A, 1)
        self.padding = _axes_option("padding", padding, A, 0)
        self.out_kernel = _axes_option("out_kernel", out_kernel if out_kernel is not None else self.kernel, A, 1)
        self.out_stride = _axes_option("out_stride", out_stride, A, 1)
        self.out_padding = _axes_option("out_padding", out_padding if out_padding is not None else self.padding, A, 0)
        if padding_mode not in ("zeros", "circular"):
            raise invalid("padding_mode", padding_mode, "'zeros' or 'circular'")
        self.circular = padding_mode == "circular"
        if input_size is None:
            raise invalid("input_size", input_size, f"the input length per axis ({A} integer(s)), e.g. input_size=8")
        self.input_size = _axes_option("input_size", input_size, A, 1)
        self.hidden_size, self.output_size, self.pairs = [], [], []
        for a in range(A):
            L1 = conv_output_size(self.input_size[a], self.kernel[a], self.stride[a], self.padding[a])
            L2 = conv_output_size(L1, self.out_kernel[a], self.out_stride[a], self.out_padding[a]) if L1 > 0 else 0
            if L1 < 1 or L2 < 1:
                raise invalid("input_size", list(self.input_size), "large enough for both convolutions (the kernel "
                              "exceeds the padded input on some axis)")
            if self.circular and (self.padding[a] > self.input_size[a] or self.out_padding[a] > L1):
                raise invalid("padding", list(self.padding), "at most the size it wraps around (circular padding)")
            self.hidden_size.append(L1)
            self.output_size.append(L2)
            self.pairs.append(sorted(conv_cooccurring_taps(self.input_size[a], self.kernel[a], self.stride[a],
                                                           self.padding[a], self.out_kernel[a], self.out_stride[a],
                                                           self.out_padding[a], self.circular)))
        self.channels = (c2, c1, c0)
        super().__init__(dims, [Block("u", (c2, c1) + self.out_kernel), Block("v", (c1, c0) + self.kernel)])

    @property
    def input_width(self) -> int:
        """c0 · (input size): one input is every channel's signal, flattened."""
        return self.channels[2] * math.prod(self.input_size)

    @property
    def output_width(self) -> int:
        return self.channels[0] * math.prod(self.output_size)

    def tap_pairs(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Co-occurring (u tap, v tap) pairs over all axes: the product of the per-axis pair sets."""
        return [(tuple(p[0] for p in combo), tuple(p[1] for p in combo)) for combo in itertools.product(*self.pairs)]

    def all_pairs_cooccur(self) -> bool:
        """Whether every pair of taps meets (then φ has every product, as for circulant convolutions)."""
        return len(self.tap_pairs()) == math.prod(self.kernel) * math.prod(self.out_kernel)

    def phi_polynomials(self) -> list[Polynomial]:
        c2, c1, c0 = self.channels
        return [product_of_variables([self.index("u", k, j, *tu), self.index("v", j, i, *tv)])
                for k in range(c2) for j in range(c1) for i in range(c0) for tu, tv in self.tap_pairs()]

    def predict(self, theta, x):
        import jax
        import jax.numpy as jnp

        b = self.unflatten(theta)
        c2, c1, c0 = self.channels
        spec = ("NCH", "OIH", "NCH") if self.axes == 1 else ("NCHW", "OIHW", "NCHW")

        def conv(h, w, stride, padding):
            if self.circular:
                h = jnp.pad(h, [(0, 0), (0, 0)] + [(p, p) for p in padding], mode="wrap")
                padding = (0,) * self.axes
            return jax.lax.conv_general_dilated(h, w, stride, [(p, p) for p in padding], dimension_numbers=spec)

        h = x.reshape((x.shape[0], c0) + self.input_size)
        h = jnp.maximum(conv(h, b["v"], self.stride, self.padding), 0.0)
        out = conv(h, b["u"], self.out_stride, self.out_padding)
        return out.reshape(x.shape[0], -1)

    def channel_laws(self, theta) -> np.ndarray:
        """h_j = Σ_k ||u_{k,j}||² − Σ_i ||v_{j,i}||² for each hidden channel j, for θ (D,) or (n, D)."""
        T = np.asarray(theta, dtype=float)
        res = []
        for th in T.reshape(-1, self.D):
            b = self.unflatten(th)
            u2 = (b["u"] ** 2).sum(axis=tuple(i for i in range(b["u"].ndim) if i != 1))
            v2 = (b["v"] ** 2).sum(axis=tuple(range(1, b["v"].ndim)))
            res.append(u2 - v2)
        res = np.array(res)
        return res[0] if T.ndim == 1 else res

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """h_j = Σ_k ||u_{k,j}||² − Σ_i ||v_{j,i}||², one per hidden channel (Thm. 3.6)."""
        if flow != "gradient":
            return []
        c2, c1, c0 = self.channels
        s = self.symbols
        laws = []
        for j in range(c1):
            u = sum(s[self.index("u", k, j, *t)] ** 2 for k in range(c2) for t in itertools.product(*map(range, self.out_kernel)))
            v = sum(s[self.index("v", j, i, *t)] ** 2 for i in range(c0) for t in itertools.product(*map(range, self.kernel)))
            laws.append(sympy.expand(u - v))
        return laws

    def describe(self) -> str:
        return (f"{self.name} {list(self.dims)} (c2, c1, c0), kernel {list(self.kernel)}, stride {list(self.stride)}, "
                f"padding {list(self.padding)}{' circular' if self.circular else ''}, input {list(self.input_size)}")


class Conv1d(ConvNet):
    """:class:`ConvNet` on sequences (one spatial axis)."""

    name = "conv1d"
    axes = 1


class Conv2d(ConvNet):
    """:class:`ConvNet` on images (two spatial axes; kernel, stride, padding, input_size per axis)."""

    name = "conv2d"
    axes = 2


class SoftmaxLayer(Model):
    """A linear layer read through softmax: g(θ, x) = softmax(θ x), θ ∈ R^{n×m}, ``dims`` = [n, m].

    softmax(z + c·1) = softmax(z), so g depends on θ only through the centred logits'
    matrix φ(θ) = (I − 11ᵀ/n) θ, entries θ_ij − (1/n) Σ_l θ_lj (exact, linear). Its gradients span
    everything orthogonal to the m directions 1 ⊗ e_j, so the laws are the column sums
    h_j = Σ_i θ_ij (Prop. 3.11 of the follow-up paper, where the loss's gradients span R^n).
    :meth:`loss` is the cross-entropy of the probabilities :meth:`predict` returns.
    """

    name = "softmax"

    def __init__(self, dims):
        dims = check_dims(dims, 2, exact_length=2)
        super().__init__(dims, [Block("theta", dims)])

    input_width = property(lambda self: self.dims[1])
    output_width = property(lambda self: self.dims[0])

    def latex_names(self):
        return {sympy.Symbol(n, real=True): n.replace("theta[", r"\theta_{").replace("]", "}") for n in self.variable_names}

    def phi_polynomials(self) -> list[Polynomial]:
        n, m = self.dims
        out = []
        for i in range(n):
            for j in range(m):
                p = Polynomial.variable(self.index("theta", i, j))
                for l in range(n):
                    p = p - Polynomial.variable(self.index("theta", l, j)) * Fraction(1, n)
                out.append(p)
        return out

    def predict(self, theta, x):
        import jax

        return jax.nn.softmax(x @ self.unflatten(theta)["theta"].T, axis=-1)

    def loss(self, theta, x, y):
        """Cross-entropy −(1/n_samples) Σ y log softmax(θ x) (``y``: one-hot or probability rows)."""
        import jax
        import jax.numpy as jnp

        logits = x @ self.unflatten(theta)["theta"].T
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits, axis=-1), axis=-1))

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """The column sums h_j = Σ_i θ_ij (Prop. 3.11); under momentum Σ_i θ'_ij e^{τt} (and friends)."""
        if flow != "gradient":
            return []
        M = self.symbolic_blocks()["theta"]
        return [sum(M[i, j] for i in range(self.dims[0])) for j in range(self.dims[1])]


def _mlp_path_products(model: Model, out_block: str, in_block: str) -> list[Polynomial]:
    """Entries out[i,k]·in[k,j] of a two-layer ReLU block x ↦ out σ(in x) (its path products)."""
    n_out, h = next(b for b in model.blocks if b.name == out_block).shape
    n_in = next(b for b in model.blocks if b.name == in_block).shape[1]
    return [product_of_variables([model.index(out_block, i, k), model.index(in_block, k, j)])
            for i in range(n_out) for k in range(h) for j in range(n_in)]


def _mlp_balances(model: Model, out_block: str, in_block: str) -> list[sympy.Expr]:
    """||in[k, :]||² − ||out[:, k]||² per hidden neuron k of a two-layer ReLU block."""
    M = model.symbolic_blocks()
    A, B = M[out_block], M[in_block]
    return [sympy.expand(sum(B[k, j] ** 2 for j in range(B.shape[1])) - sum(A[i, k] ** 2 for i in range(A.shape[0])))
            for k in range(A.shape[1])]


RESIDUAL_PATTERNS = ("blocks", "all-active")


class ResidualReLU(Model):
    """q residual ReLU blocks x_{l+1} = x_l + U_l σ(V_l x_l), U_l ∈ R^{n×h_l}, V_l ∈ R^{h_l×n}.

    ``dims`` = [n, h_1, …, h_q]. Two model maps:

    * ``pattern='blocks'`` (default): the union of the blocks' path products U_l[i,k] V_l[k,j].
      On each activation region the output is Π_l (I + U_l D_l V_l) x with 0/1 diagonals D_l, a
      polynomial in these products, so g factors through them and every law of this φ (the
      blocks' balances) is a law of g (Prop. 3.2 and Thm. 4.6 of the follow-up paper). Whether g
      has *more* laws depends on which patterns the inputs reach: ``functional_span`` tells.
    * ``pattern='all-active'``: the entries of Π_l (I + U_l V_l) − I, the exact φ on the region
      where every hidden unit is active for x > 0 and none for x < 0 (reached for n = 1 when every
      V_l > 0 and U_l V_l > −1): Example 4.8 of the follow-up paper (n = 1, h = (1, 1)) gives
      g = x + (uv + st + stuv) x there, with u, v, s, t = U1, V1, U2, V2.
    """

    name = "residual"

    def __init__(self, dims, pattern="blocks"):
        dims = check_dims(dims, 2)
        if pattern not in RESIDUAL_PATTERNS:
            raise invalid("pattern", pattern, f"one of {', '.join(RESIDUAL_PATTERNS)}")
        self.pattern = pattern
        self.width, self.hidden = dims[0], dims[1:]
        blocks = []
        for l, h in enumerate(self.hidden, 1):
            blocks += [Block(f"U{l}", (self.width, h)), Block(f"V{l}", (h, self.width))]
        super().__init__(dims, blocks)

    input_width = property(lambda self: self.width)
    output_width = property(lambda self: self.width)

    def phi_polynomials(self) -> list[Polynomial]:
        q = len(self.hidden)
        if self.pattern == "blocks":
            return [p for l in range(1, q + 1) for p in _mlp_path_products(self, f"U{l}", f"V{l}")]
        n = self.width
        identity = [[Polynomial.constant(int(i == j)) for j in range(n)] for i in range(n)]
        total = identity
        for l in range(1, q + 1):  # total ← (I + U_l V_l) · total
            step = [[identity[i][j] + sum((product_of_variables([self.index(f"U{l}", i, k), self.index(f"V{l}", k, j)])
                                           for k in range(self.hidden[l - 1])), Polynomial())
                     for j in range(n)] for i in range(n)]
            total = [[sum((step[i][a] * total[a][j] for a in range(n)), Polynomial()) for j in range(n)] for i in range(n)]
        return [total[i][j] - identity[i][j] for i in range(n) for j in range(n)]

    def predict(self, theta, x):
        import jax.numpy as jnp

        b = self.unflatten(theta)
        h = x
        for l in range(1, len(self.hidden) + 1):
            h = h + jnp.maximum(h @ b[f"V{l}"].T, 0.0) @ b[f"U{l}"].T
        return h

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """The blocks' balances ||V_l[k, :]||² − ||U_l[:, k]||² (also laws of the all-active φ)."""
        if flow != "gradient":
            return []
        return [h for l in range(1, len(self.hidden) + 1) for h in _mlp_balances(self, f"U{l}", f"V{l}")]

    def describe(self) -> str:
        return f"residual ReLU {list(self.dims)} (width, hidden widths), {self.pattern} φ"


class TransformerBlock(Model):
    """One transformer block without normalisation: y = X + A(X), z = y + U σ(W y) token by token.

    A is :class:`Attention` (Q, K, V, O per head, output width = ``dims[0]`` = model width d), the
    MLP has U ∈ R^{d×m}, W ∈ R^{m×d} (``mlp_width`` m). On each activation region the MLP acts on
    each token as the matrix U D W, a polynomial in its path products, so g factors through
    φ = (Q_hᵀ K_h, V_hᵀ O_h, U[i,k] W[k,j]): the union of the blocks' φ. Its laws (the blocks' laws)
    are laws of the block (Thm. 4.6 of the follow-up paper); ``functional_span`` checks numerically
    that g has no more.
    """

    name = "transformer"

    def __init__(self, dims, heads=1, head_width=None, value_width=None, mlp_width=2, tokens=2):
        dims = check_dims(dims, 1, exact_length=1)
        self.attention = Attention([dims[0], dims[0]], heads=heads, head_width=head_width, value_width=value_width,
                                   tokens=tokens)
        self.mlp_width = _int_option("mlp_width", mlp_width)
        self.tokens = self.attention.tokens
        blocks = list(self.attention.blocks) + [Block("U", (dims[0], self.mlp_width)), Block("W", (self.mlp_width, dims[0]))]
        super().__init__(dims, blocks)

    input_width = property(lambda self: self.tokens * self.dims[0])
    output_width = property(lambda self: self.tokens * self.dims[0])

    def phi_polynomials(self) -> list[Polynomial]:
        # the attention's blocks come first with the same layout, so its φ indexes are ours
        return self.attention.phi_polynomials() + _mlp_path_products(self, "U", "W")

    def predict(self, theta, x):
        import jax.numpy as jnp

        d = self.dims[0]
        y = x + self.attention.predict(theta[: self.attention.D], x)
        b = self.unflatten(theta)
        Y = y.reshape(x.shape[0], self.tokens, d)
        Z = Y + jnp.einsum("ntk,ik->nti", jnp.maximum(jnp.einsum("ntj,kj->ntk", Y, b["W"]), 0.0), b["U"])
        return Z.reshape(x.shape[0], self.tokens * d)

    def paper_laws(self, flow: str = "gradient") -> list[sympy.Expr]:
        """The attention's Gram differences and the MLP's balances ||W[k, :]||² − ||U[:, k]||²."""
        if flow != "gradient":
            return []
        return self.attention.paper_laws(flow) + _mlp_balances(self, "U", "W")

    def describe(self) -> str:
        a = self.attention
        return (f"transformer block, width {self.dims[0]}, {a.heads} head(s) of width {a.head_width}, "
                f"value width {a.value_width}, MLP width {self.mlp_width}")


#: The follow-up paper's blocks, by name, with the keyword options each accepts (CLI: --option KEY=VALUE).
BLOCK_MODELS: dict[str, type] = {
    "attention": Attention, "conv1d": Conv1d, "conv2d": Conv2d, "softmax": SoftmaxLayer,
    "residual": ResidualReLU, "transformer": TransformerBlock,
}
MODEL_OPTIONS: dict[str, dict[str, str]] = {
    "attention": {"heads": "number of heads (1)", "head_width": "rows d of Q_h, K_h (dim)",
                  "value_width": "rows of V_h, O_h (head_width)", "tokens": "tokens N per input, simulation only (2)"},
    "conv1d": {"kernel": "taps of v (3)", "input_size": "input length (required)", "stride": "stride of v (1)",
               "padding": "padding of v (0)", "out_kernel": "taps of u (kernel)", "out_stride": "stride of u (1)",
               "out_padding": "padding of u (padding)", "padding_mode": "zeros or circular (zeros)"},
    "softmax": {},
    "residual": {"pattern": "blocks (union of the blocks' φ) or all-active (Example 4.8's region)"},
    "transformer": {"heads": "number of heads (1)", "head_width": "rows of Q_h, K_h (width)",
                    "value_width": "rows of V_h, O_h (head_width)", "mlp_width": "hidden width of the ReLU MLP (2)",
                    "tokens": "tokens per input, simulation only (2)"},
}
MODEL_OPTIONS["conv2d"] = {
    "kernel": "taps of v, n or h,w (3)", "input_size": "input height,width (required)",
    "stride": "stride of v, n or h,w (1)", "padding": "padding of v, n or h,w (0)",
    "out_kernel": "taps of u (kernel)", "out_stride": "stride of u (1)", "out_padding": "padding of u (padding)",
    "padding_mode": "zeros or circular (zeros)"}
MODEL_NAMES = MODEL_NAMES + tuple(BLOCK_MODELS) + ("spec",)  # "spec": a model file (spec.py)


def make_block_model(name: str, dims, **options) -> Model:
    """A named block of the follow-up paper with its keyword options (unknown options are errors)."""
    allowed = MODEL_OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        what = ", ".join(allowed) if allowed else "none"
        raise invalid("options", unknown, f"options of {name}: {what}")
    if dims is None:
        raise invalid("dims", dims, f"the widths of {name}, e.g. " + {"attention": "2 (or d_out,dim)",
                      "softmax": "3,2 (n classes, m inputs)", "residual": "1,1,1 (width, hidden widths)",
                      "transformer": "2 (model width)"}.get(name, "2,2,1 (c2, c1, c0)"))
    return BLOCK_MODELS[name](dims, **options)


@dataclass
class FunctionalSpan:
    """Numerical ranks at one θ: of the derivatives ∂θ g(θ, x) over random inputs and of ∇φ(θ).

    ``functional_rank`` < ``phi_rank`` means the inputs do not reach every direction of φ: the
    model then has more laws than φ's (if the span is integrable, D − functional_rank of them).
    Numerical (SVD with a relative tolerance), not a certificate.
    """

    functional_rank: int
    phi_rank: int
    D: int
    inputs: int
    singular_gap: float  # σ_rank / σ_(rank+1) of the functional Jacobian (large: a clear rank)

    @property
    def equal(self) -> bool:
        return self.functional_rank == self.phi_rank


def phi_jacobian(model: Model, theta) -> np.ndarray:
    """∂φ(θ) (rows φ_i, columns θ_j) in floating point, from the exact polynomials."""
    th = [float(t) for t in np.asarray(theta, dtype=float)]
    polys = model.phi_polynomials()
    J = np.zeros((len(polys), model.D))
    for r, p in enumerate(polys):
        for j in p.variables():
            J[r, j] = float(p.derivative(j).evaluate(th))
    return J


def functional_span(model: Model, theta=None, inputs: int = 32, seed: int = 0, x=None, rtol: float = 1e-8) -> FunctionalSpan:
    """Rank of {∂θ g(θ, x)} over ``inputs`` random inputs x ~ N(0, 1) (or the given ``x``) at θ.

    Every law h of g satisfies ⟨∇h, ∂θ g_k(θ, x)⟩ = 0 for all x and k, so the laws are those of the
    fields spanned by these rows. When g = f(φ(θ), x) they lie in the span of ∇φ(θ), and equal
    ranks mean g has exactly φ's laws. Computed with JAX in float64; rank = number of singular
    values above ``rtol`` times the largest.
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(seed)
    theta = model.random_parameters(seed=seed) if theta is None else np.asarray(theta, dtype=float)
    if x is None:
        width = _input_width(model)
        x = rng.normal(size=(_int_option("inputs", inputs), width))
    J = np.asarray(jax.jit(jax.jacfwd(model.predict))(jax.numpy.asarray(theta), jax.numpy.asarray(x)))
    J = J.reshape(-1, model.D)
    s = np.linalg.svd(J, compute_uv=False)
    rank = int((s > rtol * s[0]).sum()) if len(s) and s[0] > 0 else 0
    gap = float(s[rank - 1] / s[rank]) if 0 < rank < len(s) and s[rank] > 0 else float("inf")
    Jphi = phi_jacobian(model, theta)
    sp = np.linalg.svd(Jphi, compute_uv=False)
    phi_rank = int((sp > rtol * sp[0]).sum()) if len(sp) and sp[0] > 0 else 0
    return FunctionalSpan(rank, phi_rank, model.D, int(len(x)), gap)


def _input_width(model: Model) -> int:
    """Width of one flattened input of ``predict``."""
    return getattr(model, "input_width", model.dims[-1])


def exhibited_laws(model: Model, seed: int = 0) -> int:
    """How many of ``model.paper_laws()`` are exact gradient-flow laws with independent gradients.

    0 if one of them fails the exact check (``laws.check_law``); otherwise the rank of their
    gradients at a random point mod p (``laws.independent_count``): a certified lower bound on the
    number of laws, which proves a count N − K that it meets.
    """
    from .flows import vector_fields
    from .laws import check_law, independent_count

    family = vector_fields(model, "gradient")
    hs = model.paper_laws("gradient")
    if not all(check_law(h, family) for h in hs):
        return 0
    return independent_count([from_sympy(h, model.symbols) for h in hs], model.D, seed=seed)


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
