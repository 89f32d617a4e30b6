"""The base of every model: parameter blocks, the model map φ and what every model knows.

A model knows its parameters (named blocks, written as the paper writes them), φ as exact
polynomials (and sympy expressions), its forward map for simulation (JAX, imported when used), its
default geometry (the metric of the paper) and the laws the paper states for it, so that a count can
be compared with them. The families live in their own modules (``linear``, ``relu``, ``nmf``,
``icnn``, ``toy``, ``polynomial_model``, ``blocks``, ``model_file``); ``registry`` builds one by name.

Dimension convention (the authors'): ``dims[0]`` is the output width, ``dims[-1]`` the input width.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, latex_names, product_of_variables, symbols_for
from ..errors import invalid

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

    with jax.enable_x64(True):  # float64 here, without changing the caller's global setting
        return _functional_span(model, theta, inputs, seed, x, rtol)


def _functional_span(model: Model, theta, inputs: int, seed: int, x, rtol: float) -> FunctionalSpan:
    import jax

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
