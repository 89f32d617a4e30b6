"""The expected values of chapter 02 in ``tests/chapter_params.yaml``, derived independently.

``tests/test_chapters.py`` compares the glued numbers of the book build (the chapter's own, full
parameters) with ``chapter_params.yaml``; this file checks that the literal expected numbers there are
what the closed forms (``conservation_laws.closed_forms``) and plain counting of the chapter's shapes
give at those parameters, so that none of them is a value copied from a previous run. The entries
written as ``eval`` expressions carry their formula themselves; the values marked ``pinned`` have none.
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
import yaml

from conservation_laws import closed_forms

ROOT = Path(__file__).resolve().parents[1]
ENTRY = yaml.safe_load(Path(__file__).with_name("chapter_params.yaml").read_text())["02_linear"]
EXPECT = ENTRY["expect"]


@pytest.fixture(scope="module")
def params() -> dict:
    """The chapter's parameters cell (what the book build runs)."""
    nb = nbformat.read(ROOT / "chapters" / "02_linear.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)  # plain assignments of literals
    return values


def shapes_of(p: dict) -> list[tuple[int, int, int]]:
    """Every (n, r, m) the chapter counts, enumerated as its prose describes them."""
    shapes = {(n, r, m) for n in range(1, p["n_max"] + 1) for m in range(1, p["m_max"] + 1)
              for r in range(1, p["r_max"] + 1)}
    shapes |= {(n, r, m) for n, m in p["plot_pairs"] for r in range(1, p["plot_r_max"] + 1)}
    shapes |= {(1, r, 1) for r in range(1, p["scalar_r_max"] + 1)}
    shapes |= {tuple(d) for d in p["crossover_dims"]}
    return sorted(shapes)


def test_shape_and_count_totals(params):
    shapes = shapes_of(params)
    flows = 1 + len(params["taus"]) + 1  # gradient, every heavy-ball friction, Nesterov
    generic = [(n, r, m) for n, r, m in shapes if (n, m) != (1, 1)]
    assert EXPECT["linear-shape-count"] == EXPECT["linear-tau-shapes"] == len(shapes)
    assert EXPECT["linear-count-total"] == len(shapes) * flows
    assert EXPECT["linear-count-proved"] == EXPECT["linear-count-total"]  # every count is proved
    assert EXPECT["linear-tau-flows"] == flows - 1
    assert EXPECT["linear-count-largest-n"] == max(2 * (n + m) * r + 1 for n, r, m in shapes)
    assert EXPECT["linear-threshold-cases"] == len(generic)
    assert EXPECT["linear-loss-cases"] == EXPECT["linear-gf-small-cases"] == sum(
        r <= n + m for n, r, m in generic)
    assert EXPECT["linear-gf-large-cases"] == sum(r >= n + m for n, r, m in generic)
    momentum = flows - 1
    assert EXPECT["linear-mf-small-cases"] == momentum * sum(r <= 2 * (n + m) + 1 for n, r, m in generic)
    assert EXPECT["linear-mf-large-cases"] == momentum * sum(r >= 2 * (n + m) + 1 for n, r, m in generic)
    grid_pairs = [(n, m) for n in range(1, params["n_max"] + 1) for m in range(1, params["m_max"] + 1)
                  if (n, m) != (1, 1)]
    assert EXPECT["linear-gf-table-cells"] == len(grid_pairs) * params["r_max"]


def test_solver_case(params):
    n, r, m = params["solver_dims"]
    D = (n + m) * r
    assert EXPECT["linear-gf-solver-unknowns"] == math.comb(D + 2, 2) - 1  # degrees 1 and 2
    gf, mf = closed_forms.two_layer_linear_gf(n, r, m), closed_forms.two_layer_linear_mf_generic(n, r, m)
    for key in ("laws", "independent", "bound"):
        assert EXPECT[f"linear-gf-solver-{key}"] == gf
    assert EXPECT["linear-mf-solver-laws"] == EXPECT["linear-mf-solver-bound"] == mf
    assert EXPECT["linear-mf-solver-phase-dim"] == 2 * D + 1


def test_deep_counts(params):
    dims = params["deep_dims"]
    gf = [closed_forms.deep_linear_gf(d) for d in dims]
    mf = [closed_forms.deep_linear_mf(d) for d in dims]
    assert EXPECT["linear-deep-gf-counts"] == ", ".join(f"{d}: {c}" for d, c in zip(dims, gf))
    assert EXPECT["linear-deep-mf-counts"] == ", ".join(f"{d}: {c}" for d, c in zip(dims, mf))
    assert EXPECT["claim-C7-value"] == mf
    scalar = params["deep_scalar_dims"]
    D = sum(a * b for a, b in zip(scalar[:-1], scalar[1:]))
    assert EXPECT["linear-deep-scalar-d"] == D
    assert EXPECT["linear-deep-scalar-count"] == closed_forms.scalar_output(D)
    assert EXPECT["claim-C2-value"] == gf + [closed_forms.scalar_output(D)]
    hidden = scalar[1:-1]
    assert EXPECT["linear-deep-scalar-balance"] == sum(h * (h + 1) // 2 for h in hidden)


def test_crossover_and_scalar_counts(params):
    for dims in params["crossover_dims"]:
        name = "-".join(map(str, dims))
        assert EXPECT[f"linear-gf-count-{name}"] == closed_forms.two_layer_linear_gf(*dims)
        assert EXPECT[f"linear-mf-count-{name}"] == closed_forms.two_layer_linear_mf_generic(*dims)
    n, m = params["plot_pairs"][0]
    assert EXPECT["linear-plot-rstar"] == f"{closed_forms.linear_threshold(n + m):g}"
    widths = range(1, params["scalar_r_max"] + 1)
    gf = [closed_forms.scalar_output_gf(r) for r in widths]
    mf = [closed_forms.scalar_output_mf(r) for r in widths]
    generic = [closed_forms.two_layer_linear_mf_generic(1, r, 1) for r in widths]
    assert EXPECT["linear-scalar-gf-counts"] == ", ".join(map(str, gf))
    assert EXPECT["linear-scalar-mf-counts"] == ", ".join(map(str, mf))
    assert EXPECT["linear-scalar-generic-mf"] == ", ".join(map(str, generic))
    assert EXPECT["claim-linear-scalar-output-value"] == [gf, mf]
