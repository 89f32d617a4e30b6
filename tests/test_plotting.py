"""Plotting: the book's style applies and every helper draws without error (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from companion import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_palette_is_okabe_ito():
    assert len(plotting.COLORS) == 8 == len(set(plotting.COLORS))
    assert {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"} == set(plotting.COLORS)


def test_use_style_sets_rcparams():
    plotting.use_style()
    assert tuple(matplotlib.rcParams["figure.figsize"]) == plotting.FIGSIZE
    assert matplotlib.rcParams["figure.dpi"] == 120
    assert matplotlib.rcParams["axes.grid"]
    assert [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]] == plotting.COLORS


def test_drift_plot_log_scale_and_floor(tmp_path):
    fig, ax = plotting.figure()
    t = np.linspace(0, 1, 50)
    drifts = {"$Q$ (GF)": np.zeros(50), "$e^{\\tau t}J$ (MF)": 1e-12 * t, "$J$": np.abs(np.sin(t))}
    assert plotting.drift_plot(ax, t, drifts) is ax
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 3
    assert ax.get_lines()[0].get_ydata().min() == plotting.DRIFT_FLOOR  # zeros drawn at the floor
    assert ax.get_xlabel() and ax.get_ylabel()
    assert [text.get_text() for text in ax.get_legend().get_texts()] == list(drifts)
    fig.savefig(tmp_path / "drift.png")
    assert (tmp_path / "drift.png").stat().st_size > 0
    with pytest.raises(ValueError, match="drifts"):
        plotting.drift_plot(ax, t, {"bad": np.ones(3)})


def test_counts_vs_width(tmp_path):
    fig, ax = plotting.figure(width=4.0, height=3.0)
    r = np.arange(1, 8)
    plotting.counts_vs_width(ax, r, {"GF": r * (r + 1) / 2, "MF": r * (r - 1) / 2})
    assert list(ax.get_xticks()) == list(r)
    assert len(ax.get_lines()) == 2
    plotting.label_axes(ax, "hidden width $r$", "laws", title="two-layer linear")
    assert ax.get_title() == "two-layer linear"
    fig.savefig(tmp_path / "counts.svg")
    with pytest.raises(ValueError, match="series"):
        plotting.counts_vs_width(ax, r, {"bad": [1, 2]})


def test_multi_panel_figure():
    fig, axes = plotting.figure(1, 2)
    assert len(axes) == 2
    w, h = fig.get_size_inches()
    assert w == pytest.approx(6.5)


def test_image_row_draws_one_image_per_axis():
    fig, axes = plotting.figure(1, 3, height=1.2)
    images = np.abs(np.random.default_rng(0).normal(size=(3, 64)))
    out = plotting.image_row(axes, images, label="factors", titles=["a", "b", "c"])
    assert len(out) == 3
    assert all(len(ax.get_images()) == 1 for ax in axes)
    assert axes[0].get_images()[0].get_array().shape == (8, 8)
    assert axes[0].get_ylabel() == "factors" and axes[2].get_title() == "c"
    with pytest.raises(ValueError):
        plotting.image_row(axes, images[:2])
    with pytest.raises(ValueError):
        plotting.image_row(axes, np.ones((3, 10)))
