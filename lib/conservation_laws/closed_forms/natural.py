"""Closed forms for the natural gradient flow and for the position-only mirror metrics.

Both are this book's statements except where a docstring says otherwise. They reduce to the
formulas of ``closed_forms`` (no formula is retyped here).
"""

from __future__ import annotations

from typing import Mapping

from . import closed_form_count


def natural_gradient_count(case: Mapping) -> int | None:
    """N of the natural gradient flow θ' = −M Jᵀ(J M Jᵀ)⁺∇f(φ(θ)) = N of gradient flow θ' = −M∇E.

    Claim ``natural-same-laws`` (this book's): the fields M Jᵀ(J M Jᵀ)⁺e_i span, at every θ, the same
    space M·range(Jᵀ) as the gradient-flow fields M∇φ_i, so a function is conserved by one family
    if and only if it is conserved by the other; the count is that of gradient flow in the same
    geometry (``closed_form_count`` with ``flow='gradient'``), None where that one is unknown.
    """
    geometry = case.get("geometry")
    if geometry is not None and geometry.endswith("-position"):
        geometry = geometry[: -len("-position")]
    return closed_form_count(dict(case, flow="gradient", geometry=geometry))


def position_metric_count(case: Mapping) -> int | None:
    """N under the mirror/mixed metric evaluated at θ only (geometries ``*-position``).

    Gradient flow: the metric is the same, so the count is the model's own (``closed_form_count``).
    Momentum: claim ``icnn-authors-metric`` — the ICNN with diag(U, 1, 1) at θ (the metric the
    authors' ``ICNN_momentum`` builds) has no law, like the text's diag(τU + U', 1, 1): the value
    the authors' code asserts (``assert dim_found == 0``), recomputed here; NMF likewise (none).
    """
    geometry = case.get("geometry") or ""
    base = geometry[: -len("-position")] if geometry.endswith("-position") else geometry or None
    return closed_form_count(dict(case, geometry=base))
