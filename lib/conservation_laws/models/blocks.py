"""The follow-up paper's blocks: attention, convolutions, a softmax layer, residual and transformer blocks.

Marcotte, Gribonval, Peyré, "Transformative or Conservative? Conservation Laws for ResNets and
Transformers" (ICML 2025). ``BLOCK_MODELS`` names them and ``MODEL_OPTIONS`` lists each one's
keyword options; ``make_block_model`` builds one.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, latex_names, product_of_variables
from ..errors import invalid
from .base import Block, Model, _axes_option, _int_option, check_dims


# Beyond the paper: the building blocks of the follow-up paper (Marcotte, Gribonval, Peyré,
# "Transformative or Conservative? Conservation Laws for ResNets and Transformers", ICML 2025):
# attention, convolutions with weight sharing, a softmax output layer, residual blocks and a
# small transformer block. Each has φ as exact polynomials; where a composite's g does not have
# a polynomial φ, ``functional_span`` computes (numerically, and says so) whether its derivatives
# span as much as the union of its blocks' φ.
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
