"""Reading a sweep of two-layer linear nets: the (k = n + m, r) landscape and its check against the closed forms."""

from __future__ import annotations

from typing import Iterable

from ...closed_forms import linear_crossover
from ...closed_forms import two_layer_linear as linear_closed_form


def linear_landscape(results: Iterable[dict], flow: str, exclude_scalar: bool = True) -> dict:
    """Counts of two-layer linear nets on the (k = n + m, r) grid, with a split-independence check.

    Returns ``ks``, ``rs`` (sorted), ``counts`` (len(ks) × len(rs) list of lists, None where no case),
    ``splits`` ({k: the (n, m) seen}) and ``split_conflicts``: the (k, r) cells where two splits
    n + m = k gave different counts. The scalar case n = m = 1 (the only split of k = 2) is left
    out when ``exclude_scalar``.
    """
    cells: dict[tuple[int, int], set[int]] = {}
    splits: dict[int, set[tuple[int, int]]] = {}
    for rec in results:
        c = rec["case"]
        if c["model"] != "linear" or c["flow"] != flow or len(c["dims"]) != 3 or rec["status"] != "ok":
            continue
        n, r, m = c["dims"]
        if exclude_scalar and n == m == 1:
            continue
        cells.setdefault((n + m, r), set()).add(rec["laws"])
        splits.setdefault(n + m, set()).add((n, m))
    ks = sorted({k for k, _ in cells})
    rs = sorted({r for _, r in cells})
    counts = [[(min(cells[(k, r)]) if (k, r) in cells else None) for r in rs] for k in ks]
    conflicts = sorted(kr for kr, v in cells.items() if len(v) > 1)
    return {"ks": ks, "rs": rs, "counts": counts, "splits": {k: sorted(v) for k, v in sorted(splits.items())},
            "split_conflicts": conflicts}


def check_linear_sweep(results: Iterable[dict], flows: tuple[str, str] = ("gradient", "momentum")) -> dict:
    """Compare a sweep of two-layer linear nets with the closed forms (``linear_closed_form``).

    Returns ``generic_cases`` and ``mismatches`` (the (n, m) ≠ (1, 1) results whose count is not the
    closed form, failed cases included), ``scalar_cases`` and ``scalar_mismatches`` (n = m = 1 against
    2r − 1 and 4r − 6), ``scalar_deviations`` ({flow: how many scalar counts differ from the generic
    formulas at k = 2}), ``split_cells`` / ``split_conflicts`` (the (flow, k, r) cells reached by
    several splits n + m = k, and those where the splits disagree), and ``crossover``
    ({k: (first r of the sweep with N_{flows[1]} > N_{flows[0]} or None, linear_crossover(k))})
    with ``crossover_mismatches`` (the k whose sweep crossover is not the first width of the grid at
    or past the predicted one).
    """
    results = [r for r in results if r["case"]["model"] == "linear" and len(r["case"]["dims"]) == 3]
    generic = [r for r in results if not (r["case"]["dims"][0] == r["case"]["dims"][2] == 1)]
    scalar = [r for r in results if r["case"]["dims"][0] == r["case"]["dims"][2] == 1]

    def closed(r, scalar_case=True):
        return linear_closed_form(r["case"]["flow"], *r["case"]["dims"], scalar_case=scalar_case)

    cells: dict[tuple[str, int, int], dict[tuple[int, int], int]] = {}
    for r in generic:
        n, w, m = r["case"]["dims"]
        cells.setdefault((r["case"]["flow"], n + m, w), {})[(n, m)] = r["laws"]
    several = {c: v for c, v in cells.items() if len(v) > 1}
    lands = [linear_landscape(generic, f) for f in flows]
    crossover: dict[int, tuple[int | None, int]] = {}
    crossover_mismatches = 0
    if lands[0]["ks"] == lands[1]["ks"] and lands[0]["rs"] == lands[1]["rs"]:
        rs = lands[0]["rs"]
        for i, k in enumerate(lands[0]["ks"]):
            first = next((w for j, w in enumerate(rs) if None not in (lands[0]["counts"][i][j], lands[1]["counts"][i][j])
                          and lands[1]["counts"][i][j] > lands[0]["counts"][i][j]), None)
            crossover[k] = (first, linear_crossover(k))
            # the first width of the grid at or past the predicted crossover (None: the grid stops before it)
            crossover_mismatches += first != next((w for w in rs if w >= linear_crossover(k)), None)
    return {
        "generic_cases": len(generic),
        "mismatches": [r for r in generic if r["status"] != "ok" or r["laws"] != closed(r)],
        "scalar_cases": len(scalar),
        "scalar_mismatches": [r for r in scalar if r["status"] != "ok" or r["laws"] != closed(r)],
        "scalar_deviations": {f: sum(r["laws"] != closed(r, False) for r in scalar if r["case"]["flow"] == f) for f in flows},
        "split_cells": len(several),
        "split_conflicts": sum(len(set(v.values())) > 1 for v in several.values()),
        "max_splits": max((len(v) for v in cells.values()), default=0),
        "crossover": crossover,
        "crossover_mismatches": crossover_mismatches,
    }
