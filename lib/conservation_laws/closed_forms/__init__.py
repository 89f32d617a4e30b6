"""Every closed-form count of conservation laws the book states, in one place.

Each function's docstring names the claim it belongs to (see the claims registry) and says whether
the formula is *the paper's* (stated by Marcotte, Gribonval and Peyré) or *this book's* (derived
and checked here). Chapters, sweep checks, the validation set and the tests import these; no
formula is typed anywhere else. Submodules added by other topics are imported by their full path
(``conservation_laws.closed_forms.weight_decay``, ``.blocks``, ``.natural``).

Notation: a two-layer linear net has dims ``[n, r, m]`` (output, hidden, input), ``k = n + m``;
``N_GF`` / ``N_MF`` are the numbers of independent laws under gradient flow and under momentum
(heavy ball with any friction τ, or Nesterov).
"""

from __future__ import annotations

from math import isqrt
from typing import Mapping, Sequence

from ..errors import invalid

MOMENTUM_FLOWS = ("momentum", "nesterov")
FLOWS = ("gradient",) + MOMENTUM_FLOWS


def _width(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(name, value, "a positive integer width")
    return value


def _flow(flow: str) -> bool:
    """True for a momentum flow, False for gradient flow."""
    if flow not in FLOWS:
        raise invalid("flow", flow, "gradient, momentum or nesterov")
    return flow != "gradient"


# --------------------------------------------------------------------------------------------
# Two-layer linear nets φ(U, V) = U Vᵀ
# --------------------------------------------------------------------------------------------

def two_layer_linear_gf(n: int, r: int, m: int) -> int:
    """N_GF of a two-layer linear net: r(r+1)/2 for r ≤ k, k r − k(k−1)/2 beyond (k = n + m).

    Claim C1 (r ≤ k, the paper's: the entries of UᵀU − VᵀV) and claim ``linear-gf-large-r``
    (r ≥ k, this book's: the dimension of the symmetric r×r matrices of rank ≤ k). For a scalar
    output (n = m = 1) both give 2r − 1 (``scalar_output_gf``).
    """
    n, r, m = _width("n", n), _width("r", r), _width("m", m)
    k = n + m
    return r * (r + 1) // 2 if r <= k else k * r - k * (k - 1) // 2


def two_layer_linear_mf_generic(n: int, r: int, m: int) -> int:
    """The generic N_MF of a two-layer linear net: r(r−1)/2 for r ≤ 2k+1, 2k r − k(2k+1) beyond.

    Claim C5 (r ≤ 2k + 1, the paper's: the entries of e^{τt}(UᵀU' − U'ᵀU + VᵀV' − V'ᵀV)) and claim
    ``linear-mf-large-r`` (r ≥ 2k + 1, this book's: the dimension of the antisymmetric r×r matrices
    of rank ≤ 2k). It does not hold for a scalar output (n = m = 1): see ``scalar_output_mf``.
    """
    n, r, m = _width("n", n), _width("r", r), _width("m", m)
    k = n + m
    return r * (r - 1) // 2 if r <= 2 * k + 1 else 2 * k * r - k * (2 * k + 1)


def scalar_output_gf(r: int) -> int:
    """N_GF = 2r − 1 of the scalar-output net (1, r, 1): the entries of (u+v)(u−v)ᵀ.

    Claim ``linear-scalar-output`` (this book's); it equals ``two_layer_linear_gf(1, r, 1)``.
    """
    return 2 * _width("r", r) - 1


def scalar_output_mf(r: int) -> int:
    """N_MF of the scalar-output net (1, r, 1): 4r − 6 for r ≥ 2 (two angular momenta), 0 for r = 1.

    Claim ``linear-scalar-output`` (this book's); the generic formula does not apply to n = m = 1.
    """
    r = _width("r", r)
    return 0 if r == 1 else 4 * r - 6


def two_layer_linear(flow: str, n: int, r: int, m: int, scalar_case: bool = True) -> int:
    """N of the two-layer linear net [n, r, m] under ``flow`` (gradient, momentum or nesterov).

    Gradient flow: ``two_layer_linear_gf``; momentum (any τ) and Nesterov: ``scalar_output_mf`` for
    n = m = 1 when ``scalar_case`` (otherwise the generic formula at k = 2),
    ``two_layer_linear_mf_generic`` else. Claims C1, C5 (the paper's), ``linear-gf-large-r``,
    ``linear-mf-large-r``, ``linear-scalar-output``, ``linear-tau-independence`` (this book's).
    """
    if not _flow(flow):
        return two_layer_linear_gf(n, r, m)
    if scalar_case and n == m == 1:
        return scalar_output_mf(r)
    return two_layer_linear_mf_generic(n, r, m)


def conservation_loss(n: int, r: int, m: int) -> int:
    """N_GF − N_MF = r for r ≤ k = n + m, (n, m) ≠ (1, 1): claim C6 (the paper's)."""
    return two_layer_linear_gf(n, r, m) - two_layer_linear_mf_generic(n, r, m)


def linear_crossover(k: int) -> int:
    """r*(k): the least hidden width at which momentum keeps more laws than gradient flow.

    Claim ``linear-overparam-threshold`` (this book's). From N_MF − N_GF = ((r − k)² − (r + k))/2 for
    k < r ≤ 2k + 1 (−r below, k(r − 3(k+1)/2) above), N_MF > N_GF iff
    r > k + 1/2 + √(8k+1)/2, i.e. 2r − 2k − 1 > √(8k+1): r* = (o + 2k + 1)/2 with o the least odd
    integer above √(8k+1). (As many laws at equality, which happens when 8k + 1 is a square.)
    """
    k = _width("k", k)
    a = isqrt(8 * k + 1)
    odd_above = a + 1 if a % 2 == 0 else a + 2  # a odd: a ≤ √(8k+1) < a + 1, so a + 2 is the next odd
    return (odd_above + 2 * k + 1) // 2


def linear_threshold(k: int) -> float:
    """k + 1/2 + √(8k+1)/2, the real threshold of ``linear_crossover`` (claim
    ``linear-overparam-threshold``, this book's)."""
    return _width("k", k) + 0.5 + (8 * k + 1) ** 0.5 / 2


# --------------------------------------------------------------------------------------------
# Deep linear nets, ReLU nets, NMF, ICNN, the product toy
# --------------------------------------------------------------------------------------------

def _hidden(dims: Sequence[int]) -> list[int]:
    dims = [_width("dims", d) for d in dims]
    if len(dims) < 3:
        raise invalid("dims", dims, "output, hidden..., input widths (at least one hidden layer)")
    return dims[1:-1]


def scalar_output(D: int) -> int:
    """N_GF = D − 1 for any model with a scalar output φ (one field ∇φ, so K = 1): the book's.

    Used by claims C2 (deep linear with scalar output), C4 (the product toy, the paper's) and
    ``nmf-scalar-output`` (this book's).
    """
    return _width("D", D) - 1


def deep_linear_gf(dims: Sequence[int]) -> int:
    """N_GF of a deep linear net: Σ_i n_i(n_i+1)/2 over the hidden widths n_i (claim C2, the paper's:
    the entries of U_iᵀU_i − U_{i+1}U_{i+1}ᵀ); D − 1 for a scalar output (dims[0] = dims[-1] = 1).

    The sum holds for the narrow hidden layers the book checks (each n_i at most the sum of its
    neighbours' widths, as r ≤ k for two layers); it is not claimed beyond.
    """
    hidden = _hidden(dims)
    if dims[0] == dims[-1] == 1:
        return scalar_output(sum(a * b for a, b in zip(dims[:-1], dims[1:])))
    return sum(h * (h + 1) // 2 for h in hidden)


def deep_linear_mf(dims: Sequence[int]) -> int:
    """N_MF of a deep linear net: Σ_i n_i(n_i−1)/2, one antisymmetric charge J_i per hidden layer
    (claim C7, the paper's), for every friction and Nesterov, in the same narrow regime as
    ``deep_linear_gf``."""
    return sum(h * (h - 1) // 2 for h in _hidden(dims))


def relu_gf(dims: Sequence[int]) -> int:
    """N_GF of a ReLU net = Σ hidden widths, one neuron balance each, with or without biases
    (claim C3, the paper's)."""
    return sum(_hidden(dims))


def relu_mf(dims: Sequence[int]) -> int:
    """N_MF = 0 for ReLU nets under momentum (any τ, Nesterov, biases or not): claim C8, the paper's."""
    _hidden(dims)
    return 0


def nmf_gf(dims: Sequence[int]) -> int:
    """N_GF of NMF φ = UV under the mirror (entropic) gradient flow: n2, the column sums
    h_k = Σ_i U_ik − Σ_j V_kj (claim C9, the paper's); for a scalar output n1 = n3 = 1 it is the
    exception D − 1 = 2 n2 − 1 (claim ``nmf-scalar-output``, this book's)."""
    n1, n2, n3 = (_width("dims", d) for d in dims)
    if n1 * n3 == 1:
        return scalar_output(n1 * n2 + n2 * n3)
    return n2


def nmf_mf(dims: Sequence[int]) -> int:
    """N_MF = 0 for NMF under mirror momentum (any τ, Nesterov): claim C10, the paper's."""
    _hidden(dims)
    return 0


def icnn_gf(dims: Sequence[int]) -> int:
    """N_GF of the ICNN under the mixed metric diag(U, 1, 1): n2, the laws
    h_k = Σ_i U_ik − (‖v_k‖² + b_k²)/2, with or without bias (claim C11, the paper's)."""
    return _hidden(dims)[0]


def icnn_mf(dims: Sequence[int]) -> int:
    """N_MF = 0 for the ICNN under mixed mirror momentum: claim C12, the paper's."""
    _hidden(dims)
    return 0


def product_gf(D: int) -> int:
    """N_GF = D − 1 of the toy φ = x1⋯xD, the laws x_j² − x_1² (claim C4, the paper's)."""
    return scalar_output(D)


# --------------------------------------------------------------------------------------------
# One case → its known count
# --------------------------------------------------------------------------------------------

#: The geometry each model's closed forms are stated for (None = the model's own metric).
OWN_GEOMETRY = {"nmf": "mirror", "icnn": "mixed"}


def closed_form_count(case: Mapping) -> int | None:
    """The known number of independent laws of a case, or None when no closed form is known.

    ``case`` has ``model``, ``dims`` and optionally ``flow`` (default gradient) and ``geometry``
    (only each model's own metric is covered). Two-layer linear: ``two_layer_linear``; ReLU:
    ``relu_gf`` / ``relu_mf``; NMF: ``nmf_gf`` / ``nmf_mf``; ICNN: ``icnn_gf`` / ``icnn_mf``; product:
    ``product_gf`` (None under momentum). Deep linear nets return None (their closed forms are
    stated only in a narrow regime, see ``deep_linear_gf``).
    """
    model, dims = case["model"], list(case["dims"])
    if case.get("flow", "gradient") not in FLOWS:
        return None  # e.g. a natural-gradient flow: see conservation_laws.closed_forms.natural
    momentum = _flow(case.get("flow", "gradient"))
    if case.get("geometry") not in (None, OWN_GEOMETRY.get(model, "euclidean")):
        return None
    if model == "linear":
        return two_layer_linear("momentum" if momentum else "gradient", *dims) if len(dims) == 3 else None
    if model == "relu":
        return relu_mf(dims) if momentum else relu_gf(dims)
    if model == "nmf":
        return nmf_mf(dims) if momentum else nmf_gf(dims)
    if model == "icnn":
        return icnn_mf(dims) if momentum else icnn_gf(dims)
    if model == "product":
        return None if momentum else product_gf(dims[0])
    return None
