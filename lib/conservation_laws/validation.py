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

``closed_form_count`` gives the number of laws where a closed form is known (the paper's counts
and this book's derived branches, see the notes), and None elsewhere.
"""

from __future__ import annotations

import random
from .errors import invalid

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
            bias = rng.random() < 0.5 if model in ("relu", "icnn") else False
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


def _two_layer_linear(n: int, r: int, m: int, momentum: bool) -> int:
    k = n + m
    if not momentum:
        return r * (r + 1) // 2 if r <= k else k * r - k * (k - 1) // 2
    if n == m == 1:
        return 0 if r == 1 else 4 * r - 6
    return r * (r - 1) // 2 if r <= 2 * k + 1 else 2 * k * r - k * (2 * k + 1)


def closed_form_count(case: dict) -> int | None:
    """The known number of independent laws of a case, or None when no closed form is known.

    Two-layer linear: GF r(r+1)/2 (r ≤ n+m), (n+m)r − (n+m)(n+m−1)/2 beyond; MF r(r−1)/2
    (r ≤ 2(n+m)+1), 2(n+m)r − (n+m)(2(n+m)+1) beyond; scalar output (n = m = 1) MF 4r − 6 (r ≥ 2),
    0 (r = 1). ReLU: GF Σ hidden widths, MF 0. NMF (mirror): GF n2 (D − 1 for a scalar output), MF 0.
    ICNN (mixed): GF n2, MF 0. Product: GF D − 1. Only each model's own geometry is covered.
    """
    model, dims = case["model"], list(case["dims"])
    flow = case.get("flow", "gradient")
    momentum = flow != "gradient"
    geometry = case.get("geometry")
    default = {"nmf": "mirror", "icnn": "mixed"}.get(model, "euclidean")
    if geometry not in (None, default):
        return None
    if model == "linear":
        return _two_layer_linear(*dims, momentum) if len(dims) == 3 else None
    if model == "relu":
        return 0 if momentum else sum(dims[1:-1])
    if model == "nmf":
        n1, n2, n3 = dims
        if momentum:
            return 0
        return n1 * n2 + n2 * n3 - 1 if n1 * n3 == 1 else n2
    if model == "icnn":
        return 0 if momentum else dims[1]
    if model == "product":
        return None if momentum else dims[0] - 1
    return None

