"""Closed-form law counts of the follow-up paper's building blocks (gradient flow, Euclidean).

Each function names the claim it backs and whose statement it is: "the follow-up paper's"
(Marcotte, Gribonval, Peyré, ICML 2025) or "this book's" (found here and checked against the Lie
engine on every case the book shows).
"""

from __future__ import annotations

from typing import Iterable


def attention_count(flow: str, dim: int, d_out: int, heads: int, head_width: int, value_width: int) -> int:
    """Laws of multi-head attention under ``flow`` (claims blocks-attention-gram and blocks-momentum;
    this book's closed form): each head's φ is (Q_hᵀK_h, V_hᵀO_h), two two-layer linear
    factorisations [dim, d, dim] and [dim, d_v, d_out] with disjoint parameters, so the count is the
    sum over heads and factors of the paper's linear count under that flow (gradient flow: the
    entries of Q_hQ_hᵀ − K_hK_hᵀ and V_hV_hᵀ − O_hO_hᵀ; momentum: the antisymmetric charges
    e^{τt}(Q_hQ_h'ᵀ − Q_h'Q_hᵀ + K_hK_h'ᵀ − K_h'K_hᵀ) and their V, O analogue).
    """
    from . import two_layer_linear

    return heads * (two_layer_linear(flow, dim, head_width, dim) + two_layer_linear(flow, dim, value_width, d_out))


def momentum_count(name: str, **sizes) -> int:
    """Laws of a block under heavy ball (any τ) or Nesterov (claim blocks-momentum; this book's):
    attention as in ``attention_count``; convolutions and residual ReLU blocks none (the ReLU
    rescalings are not isometries, as for the paper's ReLU nets); the softmax layer 2m (the column
    sums of θ' and of θ, with their time factors: φ is linear, so every translation is an isometry)."""
    if name == "attention":
        return attention_count("momentum", **sizes)
    if name == "softmax":
        return 2 * sizes["m"]
    if name in ("conv1d", "conv2d", "residual"):
        return 0
    raise ValueError(f"no momentum closed form for {name}")


def attention_gradient_count(dim: int, d_out: int, heads: int, head_width: int, value_width: int) -> int:
    """Laws of multi-head attention under gradient flow (claim B2/B3; the follow-up paper's Cor. 3.9
    and 3.10 with the paper's two-layer linear count, summed over heads: this book's closed form).

    Each head's φ is (Q_hᵀK_h, V_hᵀO_h), two linear factorisations with disjoint parameters, so
    N = Σ_h [N_lin(dim, d, dim) + N_lin(dim, d_v, d_out)], N_lin(n, r, m) = r(r+1)/2 for r ≤ n + m.
    """
    return attention_count("gradient", dim, d_out, heads, head_width, value_width)


def conv_gradient_count(channels: tuple[int, int, int], tap_pairs: Iterable[tuple], u_taps: Iterable[tuple],
                        v_taps: Iterable[tuple]) -> int:
    """Laws of a convolutional ReLU layer [c2, c1, c0] under gradient flow (claim B1).

    The follow-up paper's Thm. 3.6: exactly c1 when every pair of taps meets (circulant filters).
    This book's generalisation to zero padding and strides: per hidden channel, one law per
    connected component of the bipartite graph joining the u taps and v taps that meet, where a
    u tap that meets none counts c2 times (each of its entries is itself a law) and a v tap that
    meets none c0 times.
    """
    c2, c1, c0 = channels
    u_taps, v_taps, pairs = list(u_taps), list(v_taps), list(tap_pairs)
    parent = {("u", t): ("u", t) for t in u_taps} | {("v", t): ("v", t) for t in v_taps}

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for tu, tv in pairs:
        parent[root(("u", tu))] = root(("v", tv))
    met_u, met_v = {tu for tu, _ in pairs}, {tv for _, tv in pairs}
    components = len({root(("u", t)) for t in met_u})
    isolated = c2 * sum(t not in met_u for t in u_taps) + c0 * sum(t not in met_v for t in v_taps)
    return c1 * (components + isolated)


def softmax_gradient_count(n: int, m: int) -> int:
    """Laws of softmax(θx), θ ∈ R^{n×m}, under gradient flow: m, the column sums (claim B4; the
    follow-up paper's Prop. 3.11, for n ≥ 2: with n = 1 softmax is constant and every θ_j is a law)."""
    return m


def residual_blocks_count(hidden: Iterable[int]) -> int:
    """Laws of the union of residual ReLU blocks' φ: one balance per hidden neuron (claim B5; the
    follow-up paper's Prop. 3.2 and Thm. 4.6 with the paper's ReLU count)."""
    return sum(hidden)


def example_4_8_count() -> int:
    """Example 4.8 of the follow-up paper: two scalar residual ReLU blocks on the region
    sgn t = sgn v = sgn u have 3 laws (one field uv + st + stuv in R^4), one more than the
    blocks' 2 (claim B6)."""
    return 3


def block_count(model, flow: str = "gradient") -> int:
    """The closed-form count of a built block model (``models.BLOCK_MODELS``) under ``flow``,
    from its sizes: attention (``attention_count``), a convolution (``conv_gradient_count``,
    ``momentum_count``), softmax, residual (blocks' φ) and transformer blocks (attention's count
    plus one balance per MLP neuron under gradient flow, attention's alone under momentum)."""
    import itertools

    from . import _flow

    momentum = _flow(flow)
    name = model.name
    if name == "attention":
        return attention_count(flow, model.dim, model.d_out, model.heads, model.head_width, model.value_width)
    if name == "transformer":
        return block_count(model.attention, flow) + (0 if momentum else model.mlp_width)
    if momentum:
        return momentum_count(name, m=model.dims[-1])
    if name in ("conv1d", "conv2d"):
        return conv_gradient_count(model.channels, model.tap_pairs(), itertools.product(*map(range, model.out_kernel)),
                                   itertools.product(*map(range, model.kernel)))
    if name == "softmax":
        return softmax_gradient_count(*model.dims)
    if name == "residual":
        if model.pattern == "all-active" and model.dims == (1, 1, 1):
            return example_4_8_count()
        return residual_blocks_count(model.hidden)
    raise ValueError(f"no closed form for the model {name!r}")


def gated_bilinear_count(flow: str, gates: int) -> int:
    """Laws of the gated bilinear layer g_k = w_k (Ax)_k (Bx)_k, φ = (w_k A[k,i] B[k,j]) (claims
    yours-gated-laws, yours-gated-momentum; this book's): under gradient flow two per gate, from the
    rescalings (A_k, B_k, w_k) ↦ (a A_k, b B_k, w_k/(ab)), whatever the input width; none under
    momentum (rescalings are not isometries)."""
    from . import _flow

    return 0 if _flow(flow) else 2 * gates
