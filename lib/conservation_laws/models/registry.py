"""The registry of model names: ``make_model(name, dims, …)`` and what each name accepts."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConservationLawsError, invalid
from .base import Model
from .blocks import BLOCK_MODELS, MODEL_OPTIONS, make_block_model  # noqa: F401 (MODEL_OPTIONS: API)
from .icnn import ICNN
from .linear import LinearNet
from .nmf import NMF
from .polynomial_model import PolynomialModel
from .relu import ReLUNet
from .toy import ProductToy


#: Every model name: the paper's models, a polynomial φ, the follow-up paper's blocks, and "spec" (a
#: model file, read by ``model_file.load_model_file``).
MODEL_NAMES = ("linear", "relu", "nmf", "icnn", "product", "polynomial") + tuple(BLOCK_MODELS) + ("spec",)


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
    residual, transformer) with its keyword ``options`` (``MODEL_OPTIONS``).

    A model file (name ``"spec"``) is read by ``model_file.load_model_file``, which builds the
    blocks it composes with this function.
    """
    if name == "spec" or "spec" in options:
        raise invalid("spec", options.get("spec"), "a model file, read with models.load_model_file(path)")
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
