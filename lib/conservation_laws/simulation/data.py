"""Data for the simulations: random regression problems, and scikit-learn's bundled digits.

The digits (1797 images of 8×8 pixels, grey levels 0..16) ship inside scikit-learn, so nothing is
downloaded; they stand in for MNIST in the paper's discrete experiments (section 5 of the notes).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import invalid
from ..models import Model

__all__ = ["regression_problem", "Digits", "digits", "digit_images", "input_width", "output_width"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(name, value, "a positive integer")
    return int(value)


def input_width(model: Model) -> int:
    """Width of one input x: ``dims[-1]`` for layered models (the authors' convention), 1 for φ-only models."""
    if hasattr(model, "input_width"):  # the follow-up paper's blocks (flattened tokens, channels)
        return model.input_width
    if model.name in ("linear", "relu", "nmf", "icnn"):
        return model.dims[-1]
    return 1


def output_width(model: Model) -> int:
    """Width of g(θ, x): ``dims[0]`` for layered models, the number of φ's for a polynomial model, 1 for the toy."""
    if hasattr(model, "output_width"):
        return model.output_width
    if model.name in ("linear", "relu", "nmf", "icnn"):
        return model.dims[0]
    if model.name == "polynomial":
        return len(model.phi_polynomials())
    return 1


def regression_problem(model: Model, n_samples: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Random data (x, y) for ``model.loss(θ, x, y)``: x ~ N(0, 1) of shape (n_samples, input width),
    y ~ N(0, 1) of shape (n_samples, output width).

    NMF is the exception: its loss ½||X − UV||² takes a data matrix, so this returns
    (X, None) with X of shape (n1, n3) = (dims[0], dims[2]) and entries uniform in [0.1, 1.1]
    (``n_samples`` is then unused).
    """
    if not isinstance(model, Model):
        raise invalid("model", model, "a conservation_laws Model (see models.make_model)")
    n_samples = _positive_int("n_samples", n_samples)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    rng = np.random.default_rng(int(seed))
    if model.name == "nmf":
        return rng.uniform(0.1, 1.1, size=(model.dims[0], model.dims[2])), None
    x = rng.normal(size=(n_samples, input_width(model)))
    y = rng.normal(size=(n_samples, output_width(model)))
    return x, y


class Digits(NamedTuple):
    """``images`` (n, 64) in [0, 1] (row-major 8×8), ``labels`` (n,) in 0..9, ``one_hot`` (n, 10)."""

    images: np.ndarray
    labels: np.ndarray
    one_hot: np.ndarray


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is in the book's requirements
        raise ImportError("the digits data set needs scikit-learn (pip install scikit-learn); it is bundled, nothing is downloaded") from None
    d = load_digits()
    return np.asarray(d.data, dtype=np.float64) / 16.0, np.asarray(d.target, dtype=np.int64)


def _classes(classes) -> list[int]:
    try:
        cs = [classes] if isinstance(classes, numbers.Integral) else list(classes)
    except TypeError:
        raise invalid("classes", classes, "digits from 0 to 9") from None
    for c in cs:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c <= 9:
            raise invalid("classes", classes, "digits from 0 to 9")
    if not cs:
        raise invalid("classes", classes, "at least one digit from 0 to 9")
    return [int(c) for c in cs]


def digits(classes: Sequence[int] | None = None, n_samples: int | None = None, seed: int = 0) -> Digits:
    """scikit-learn's bundled digits, pixels scaled to [0, 1] (grey level / 16), labels and one-hot labels.

    ``classes`` keeps only those digits (one-hot stays 10 wide); ``n_samples`` keeps a random subset
    of that size (drawn with ``seed``, without replacement), otherwise all images in their order.
    """
    images, labels = _load_digits()
    if classes is not None:
        keep = np.isin(labels, _classes(classes))
        images, labels = images[keep], labels[keep]
    if n_samples is not None:
        n_samples = _positive_int("n_samples", n_samples)
        if n_samples > len(labels):
            raise invalid("n_samples", n_samples, f"at most {len(labels)} (the number of images available)")
        idx = np.sort(np.random.default_rng(seed).choice(len(labels), size=n_samples, replace=False))
        images, labels = images[idx], labels[idx]
    one_hot = np.eye(10)[labels]
    return Digits(images, labels, one_hot)


def digit_images(digit: int = 0, shift: float = 1e-2, n_images: int | None = None) -> np.ndarray:
    """The non-negative data matrix X for NMF: the images of one digit, one per row, shape (n, 64),
    pixels in [0, 1] plus ``shift`` > 0 so that X > 0 entrywise (a mirror/multiplicative method then
    never meets a zero). Factor it as X ≈ UV with dims [n, rank, 64]. ``n_images`` keeps the first n.
    """
    (d,) = _classes([digit])
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not shift > 0 or not np.isfinite(shift):
        raise invalid("shift", shift, "a small positive number, e.g. 1e-2")
    images, labels = _load_digits()
    X = images[labels == d]
    if n_images is not None:
        n_images = _positive_int("n_images", n_images)
        if n_images > len(X):
            raise invalid("n_images", n_images, f"at most {len(X)} (images of digit {d})")
        X = X[:n_images]
    return X + float(shift)
