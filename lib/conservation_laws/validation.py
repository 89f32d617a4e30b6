"""The authors' validation set, regenerated, and the closed-form counts it is checked against.

The authors validated their counting code on random architectures: 20 configurations per block for
linear nets under momentum (MF), ReLU nets under MF, NMF under mirror gradient flow (GF) and mirror
momentum, ICNN under mixed-metric GF and MF. ``authors_validation_set`` draws the same kind of set
from a fixed seed (it does not copy the authors' draws, which came from an unseeded generator):

* widths uniform in 1..5 (NMF GF: 1..7); two-layer nets, except ReLU, whose depth is 2 or 3;
* friction τ uniform in {0, 1/2, 1, 2} for every momentum case (the authors' code always drew 0);
* biases on or off at random for ReLU and ICNN (the authors' ReLU test never switched them on).

Each case is a dict in the format of ``conservation-laws count --batch`` (keys ``model``, ``dims``,
``flow``, ``tau``, ``bias``, ``geometry``, ``seed``, plus ``id`` and ``block``), so the same list
feeds ``lie.count_laws(**count_arguments(case))``, the command line and the benchmark.

``closed_form_count`` (from ``closed_forms``) gives the number of laws where a closed form is known
(the paper's counts and this book's derived branches), and None elsewhere.
"""

from __future__ import annotations

import random
from .closed_forms import closed_form_count  # re-exported: the formulas live in closed_forms
from .errors import invalid
from .models import bias_models

TAUS = (0, 0.5, 1, 2)

#: (block id, label, model, flow, largest width)
BLOCKS = (
    ("linear-mf", "linear MF", "linear", "momentum", 5),
    ("relu-mf", "ReLU MF", "relu", "momentum", 5),
    ("nmf-gf", "NMF GF", "nmf", "gradient", 7),
    ("nmf-mf", "NMF MF", "nmf", "momentum", 5),
    ("icnn-gf", "ICNN GF", "icnn", "gradient", 5),
    ("icnn-mf", "ICNN MF", "icnn", "momentum", 5),
)

CASE_KEYS = ("model", "dims", "flow", "tau", "bias", "geometry", "seed")


def authors_validation_set(seed: int = 0, per_block: int = 20) -> list[dict]:
    """``per_block`` random configurations for each of the six blocks (120 by default), reproducibly."""
    if isinstance(per_block, bool) or not isinstance(per_block, int) or per_block < 1:
        raise invalid("per_block", per_block, "a positive integer")
    rng = random.Random(seed)
    cases = []
    for block, label, model, flow, wmax in BLOCKS:
        for i in range(per_block):
            layers = rng.choice((2, 3)) if model == "relu" else 2
            dims = [rng.randint(1, wmax) for _ in range(layers + 1)]
            bias = rng.random() < 0.5 if model in bias_models() else False
            tau = rng.choice(TAUS) if flow == "momentum" else 0
            cases.append({
                "id": f"{block}-{i:02d}", "block": label, "model": model, "dims": dims, "flow": flow,
                "tau": tau, "bias": bias, "geometry": None, "seed": rng.randrange(2**31),
            })
    return cases


def count_arguments(case: dict) -> dict:
    """The keyword arguments of ``lie.count_laws`` for a case dict."""
    out = {k: case[k] for k in CASE_KEYS if k in case and case[k] is not None}
    model = out.pop("model")
    flow = out.pop("flow", "gradient")
    return {"model": model, "flow": flow, **out}
