"""One figure style for every chapter: Okabe–Ito colours, book-column sizes, log scales for drifts.

Call :func:`use_style` once at the top of a chapter; then the helpers draw on a given ``Axes``.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib as mpl
import numpy as np
from cycler import cycler

__all__ = ["PALETTE", "FIGSIZE", "DRIFT_FLOOR", "use_style", "figure", "label_axes", "drift_plot", "counts_vs_width",
           "annotated_heatmap", "image_row"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies; ordered so that the first few series contrast best. Black comes last.
PALETTE: dict[str, str] = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish green": "#009E73",
    "reddish purple": "#CC79A7",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
COLORS: list[str] = list(PALETTE.values())
FIGSIZE = (6.5, 3.5)  # inches: the width of the book's text column
DRIFT_FLOOR = 1e-17  # below double precision: exact zeros still show on a log axis
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

STYLE: dict[str, object] = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": 120,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=COLORS),
    "axes.grid": True,
    "grid.color": "#b0b0b0",
    "grid.alpha": 0.35,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "image.cmap": "viridis",
    "mathtext.fontset": "cm",
}


def use_style() -> None:
    """Set matplotlib's rcParams to the book's style (idempotent)."""
    mpl.rcParams.update(STYLE)


def figure(nrows: int = 1, ncols: int = 1, width: float | None = None, height: float | None = None, **kwargs):
    """``plt.subplots`` in the book's style; the default size is one text column (6.5 × 3.5 in)."""
    import matplotlib.pyplot as plt

    use_style()
    w = width if width is not None else FIGSIZE[0]
    h = height if height is not None else FIGSIZE[1] * (1 if nrows == 1 else 0.8 * nrows)
    return plt.subplots(nrows, ncols, figsize=(w, h), **kwargs)


def label_axes(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Label both axes (with their units) and optionally title the panel."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def drift_plot(
    ax,
    t,
    drifts: Mapping[str, Sequence[float]],
    ylabel: str = r"relative drift $|h(t)-h(0)|/|h(0)|$",
    xlabel: str = "time $t$",
    floor: float = DRIFT_FLOOR,
    legend: bool = True,
):
    """One line per law family on a log y-axis; values below ``floor`` are drawn at ``floor``.

    ``drifts`` maps a label to an array over ``t`` (e.g. ``simulate.drift_history`` values, or the max
    over a family of laws). Returns ``ax``.
    """
    t = np.asarray(t, dtype=float)
    _plot_series(ax, t, "t", drifts, "drifts", lambda d: np.maximum(np.abs(d), floor), markers=False)
    ax.set_yscale("log")
    return _finish_axes(ax, xlabel, ylabel, legend and bool(drifts))


def counts_vs_width(
    ax,
    widths: Sequence[int],
    series: Mapping[str, Sequence[float]],
    xlabel: str = "hidden width $r$",
    ylabel: str = "number of independent laws",
    legend: bool = True,
):
    """Law counts against the hidden width, one marked line per series (e.g. GF, MF, a formula)."""
    widths = np.asarray(widths)
    _plot_series(ax, widths, "widths", series, "series", lambda c: c, markers=True)
    ax.set_xticks(widths)
    return _finish_axes(ax, xlabel, ylabel, legend and bool(series))


def _plot_series(ax, x, x_name: str, series: Mapping, series_name: str, transform, markers: bool) -> None:
    """One line per entry of ``series`` against ``x``, in the palette's order, shapes checked."""
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != x.shape:
            raise ValueError(f"{series_name}[{label!r}] has shape {values.shape}; it must match {x_name} {x.shape}")
        marker = MARKERS[i % len(MARKERS)] if markers else None
        ax.plot(x, transform(values), marker=marker, label=label, color=COLORS[i % len(COLORS)])


def _finish_axes(ax, xlabel: str, ylabel: str, legend: bool):
    label_axes(ax, xlabel, ylabel)
    if legend:
        ax.legend()
    return ax


def annotated_heatmap(
    ax,
    values,
    x: Sequence,
    y: Sequence,
    xlabel: str = "",
    ylabel: str = "",
    cmap: str = "viridis",
    center: float | None = None,
    fmt: str = "{:g}",
    colorbar: str | None = None,
    fontsize: float = 7,
):
    """A grid of numbers as coloured cells with the number written in each (NaN cells left blank).

    ``values[i][j]`` is drawn at column ``x[j]``, row ``y[i]`` (the first row at the bottom).
    With ``center`` the colour scale is symmetric about it (use a diverging ``cmap``, e.g. 'PuOr').
    Returns the image (for a colour bar); ``colorbar`` adds one with that label.
    """
    import matplotlib.pyplot as plt

    v = np.asarray(values, dtype=float)
    if v.shape != (len(y), len(x)):
        raise ValueError(f"values has shape {v.shape}; it must be (len(y), len(x)) = {(len(y), len(x))}")
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if center is not None:
        half = max(abs(lo - center), abs(hi - center)) or 1.0
        lo, hi = center - half, center + half
    im = ax.imshow(np.ma.masked_invalid(v), origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi,
                   extent=(-0.5, len(x) - 0.5, -0.5, len(y) - 0.5), interpolation="nearest")
    norm, cm = im.norm, im.get_cmap()
    for i in range(len(y)):
        for j in range(len(x)):
            if np.isfinite(v[i, j]):
                r, g, b, _ = cm(norm(v[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=fontsize,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(x)), [str(t) for t in x])
    ax.set_yticks(range(len(y)), [str(t) for t in y])
    ax.grid(False)
    label_axes(ax, xlabel, ylabel)
    if colorbar:
        plt.colorbar(im, ax=ax, label=colorbar, pad=0.01)
    return im


def image_row(axes, images, shape: tuple[int, int] = (8, 8), cmap: str = "gray_r", label: str | None = None,
              titles: Sequence[str] | None = None):
    """Draw flat images (e.g. 64 pixels = one 8×8 digit, or a row of an NMF factor V) side by side.

    ``images[k]`` is reshaped to ``shape`` (row-major) and drawn on ``axes[k]`` without ticks or grid,
    each on its own grey scale from 0 (white) to its maximum (black), so that faint factors stay
    readable; ``label`` goes on the left of the first panel, ``titles`` above the panels. Returns ``axes``.
    """
    images = np.asarray(images, dtype=float)
    axes = list(np.ravel(axes))
    size = int(np.prod(shape))
    if images.ndim != 2 or images.shape[1] != size:
        raise ValueError(f"images has shape {images.shape}; it must be (n, {size}) for {shape} images")
    if len(images) != len(axes):
        raise ValueError(f"{len(images)} images for {len(axes)} axes: give one axis per image")
    for k, (ax, img) in enumerate(zip(axes, images)):
        ax.imshow(img.reshape(shape), cmap=cmap, vmin=0.0, vmax=max(float(img.max()), 1e-300), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    if label:
        axes[0].set_ylabel(label, fontsize=8)
    return axes


# --- sweeps: the landscape of two-layer linear nets -----------------------------------------
def plot_linear_landscape(results: Iterable[Mapping], flows: tuple[str, str] = ("gradient", "momentum")):
    """Three stacked heatmaps over (r, k = n + m): N for each flow and their difference.

    The scalar row k = 2 (n = m = 1, where the generic formulas do not hold) is hatched. Staircases
    mark the closed forms' branch points: r = k (GF), r = 2k + 1 (MF) and the crossover
    (``linear_crossover``) where the difference turns positive. Returns the figure.
    """
    from conservation_laws.closed_forms import linear_crossover
    from conservation_laws.errors import invalid
    from conservation_laws.interfaces.sweep.landscape import linear_landscape

    results = list(results)
    lands = [linear_landscape(results, f, exclude_scalar=False) for f in flows]
    ks, rs = lands[0]["ks"], lands[0]["rs"]
    if lands[1]["ks"] != ks or lands[1]["rs"] != rs:
        raise invalid("results", "landscape", f"the same (k, r) grid for both flows {flows}")
    grids = [np.array([[np.nan if v is None else v for v in row] for row in land["counts"]], float) for land in lands]
    short = {"gradient": "GF", "momentum": "MF", "nesterov": "Nesterov"}
    names = [short.get(f, f) for f in flows]
    panels = [(grids[0], rf"$N_{{\mathrm{{{names[0]}}}}}$", "viridis", None, lambda k: k),
              (grids[1], rf"$N_{{\mathrm{{{names[1]}}}}}$", "viridis", None, lambda k: 2 * k + 1),
              (grids[1] - grids[0], rf"$N_{{\mathrm{{{names[1]}}}}} - N_{{\mathrm{{{names[0]}}}}}$", "PuOr", 0.0,
               lambda k: linear_crossover(k) - 1)]
    fig, axes = figure(3, 1, width=FIGSIZE[0], height=2.3 * 3)
    ylabels = [f"{k} (n=m=1)" if k == 2 else str(k) for k in ks]
    for ax, (vals, label, cmap, center, last_r) in zip(axes, panels):
        annotated_heatmap(ax, vals, rs, ylabels, xlabel="hidden width $r$", ylabel="$k = n + m$",
                                   cmap=cmap, center=center, fmt="{:.0f}", colorbar=label)
        if 2 in ks:  # the scalar case: hatched, outside the closed forms
            i = ks.index(2)
            ax.fill_between([-0.5, len(rs) - 0.5], i - 0.5, i + 0.5, facecolor="none", edgecolor="0.55",
                            hatch="//", linewidth=0)
        # staircase at the branch point: the boundary after r = last_r(k), one step per row
        pts = []
        for i, k in enumerate(ks):
            if k == 2:
                continue
            x = rs.index(last_r(k)) + 0.5 if last_r(k) in rs else (len(rs) - 0.5 if last_r(k) > rs[-1] else -0.5)
            pts += [(x, i - 0.5), (x, i + 0.5)]
        if pts:
            ax.plot(*zip(*pts), color="black" if cmap != "viridis" else "white", linewidth=1.6)
        ax.set_xlim(-0.5, len(rs) - 0.5)
        ax.set_ylim(-0.5, len(ks) - 0.5)
    return fig

