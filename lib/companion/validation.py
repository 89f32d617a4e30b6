"""The authors' validation set, drawn as their code draws it, and the book's additions.

The authors validated their counting code (``formal_calculus/main_ICML.ipynb``) on six blocks of
20 random configurations, each block starting with ``np.random.seed(0)``:

=========  ==========================================================================================
block      what the published cell draws and passes to the field builder
=========  ==========================================================================================
linear MF  ``depth = np.random.randint(2, 4)`` (2 or 3 layers), each width ``np.random.randint(1, 4)``
           (1–3), ``tau_value = np.random.randint(0, 1)`` (always 0)
ReLU MF    the same depth and widths, ``tau_value = randint(0, 1)`` (0) and a coin ``bias``; the call
           ``vector_fields_ReLU_q_layers_momentum(list_dim, bias, tau_value)`` meets the signature
           ``(list_dim, tau, bias=False)``: the coin becomes τ (τ = 1 when it is True), bias is 0
NMF GF     three widths ``np.random.randint(1, 8)`` (1–7)
NMF MF     three widths ``randint(1, 6)`` (1–5), τ = ``randint(0, 1)`` = 0
ICNN GF    three widths ``randint(1, 6)``, bias when ``np.random.random() < 0.5``
ICNN MF    the same, τ = 0, metric diag(U, 1, 1) at θ (``ICNN_momentum``; geometry ``mixed-position``)
=========  ==========================================================================================

``authors_validation_set`` replays exactly these rules with numpy's legacy generator seeded as
theirs, so the first configuration of each block is the authors' own. Later ones are drawn from the
same distributions but need not coincide with theirs: inside the loop their counting routines
(``dim_trace_lie_algebra``, ``solve``) also call ``np.random.rand`` a case-dependent number of times.
``book_additions`` adds what the published code never ran: τ > 0 for every momentum block, biases in
the ReLU block, Nesterov's τ = 3/t, and the ICNN momentum metric of the authors' text,
diag(τU + U', 1, 1) (geometry ``mixed``).

Each case is a dict in the format of ``conservation-laws count --batch`` (``model``, ``dims``,
``flow``, ``tau``, ``bias``, ``geometry``, ``seed``) plus ``id``, ``block``, ``origin`` and
``addition`` (what the book changed, '' for the authors' own), so the same list feeds
``lie.count_laws(**count_arguments(case))``, the command line and the benchmark. ``expected_count``
gives the closed form of a case (``closed_forms``), or None where none is known (deep linear nets:
the report certifies those with the polynomial solver, the check the authors' cell makes).
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np

from conservation_laws.closed_forms import closed_form_count  # noqa: F401 (re-exported: the formulas live in closed_forms)
from conservation_laws.errors import invalid

#: Frictions the book adds (the authors' code ran τ = 0, and τ = 1 in the ReLU block only).
BOOK_TAUS = (Fraction(1, 2), Fraction(1), Fraction(2))
AUTHORS = "authors' code"
BOOK = "this book"

#: (block id, label, model, flow, width range of randint (high exclusive), layer range or None)
BLOCKS = (
    ("linear-mf", "linear MF", "linear", "momentum", (1, 4), (2, 4)),
    ("relu-mf", "ReLU MF", "relu", "momentum", (1, 4), (2, 4)),
    ("nmf-gf", "NMF GF", "nmf", "gradient", (1, 8), None),
    ("nmf-mf", "NMF MF", "nmf", "momentum", (1, 6), None),
    ("icnn-gf", "ICNN GF", "icnn", "gradient", (1, 6), None),
    ("icnn-mf", "ICNN MF", "icnn", "momentum", (1, 6), None),
)

CASE_KEYS = ("model", "dims", "flow", "tau", "bias", "geometry", "seed")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(name, value, "a positive integer")
    return value


def _draw_block(block: tuple, per_block: int, seed: int) -> list[dict]:
    """One block, drawn with the call sequence of the authors' cell (legacy numpy generator)."""
    block_id, label, model, flow, (low, high), layers = block
    rng = np.random.RandomState(seed)  # their cell: np.random.seed(0)
    cases = []
    for i in range(per_block):
        depth = int(rng.randint(*layers)) if layers else 2
        dims = [int(rng.randint(low, high)) for _ in range(depth + 1)]
        tau_value = int(rng.randint(0, 1)) if flow == "momentum" else 0  # always 0, consumes nothing
        coin = bool(rng.random_sample() < 0.5) if model in ("relu", "icnn") else False
        tau, bias = tau_value, coin
        if model == "relu":  # (list_dim, bias, tau_value) passed to (list_dim, tau, bias)
            tau, bias = int(coin), bool(tau_value)
        geometry = "mixed-position" if (model, flow) == ("icnn", "momentum") else None
        cases.append({"id": f"{block_id}-{i:02d}", "block": label, "origin": AUTHORS, "addition": "",
                      "model": model, "dims": dims, "flow": flow, "tau": Fraction(tau), "bias": bias,
                      "geometry": geometry, "seed": i})
    return cases


def authors_validation_set(seed: int = 0, per_block: int = 20) -> list[dict]:
    """The six blocks of the authors' validation, ``per_block`` cases each, drawn as their cells draw.

    Depth 2–3 and widths 1–3 (linear, ReLU MF), widths 1–7 (NMF GF) or 1–5 (NMF MF, ICNN), the ICNN
    bias coin, τ as actually passed (0, except τ = coin ∈ {0, 1} in the ReLU block, whose bias is
    never on) and the ICNN momentum metric diag(U, 1, 1) at θ. ``seed`` is the value given to
    ``np.random.seed`` at the start of each block (theirs: 0).
    """
    _positive("per_block", per_block)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    return [case for block in BLOCKS for case in _draw_block(block, per_block, seed)]


def book_additions(cases: list[dict], seed: int = 0) -> list[dict]:
    """What this book adds to the authors' momentum cases (same architectures).

    For every momentum case: a copy with τ drawn from BOOK_TAUS (ReLU: with a fair bias coin); for
    linear and ReLU, Nesterov's τ = 3/t (ReLU: with the coin); for ICNN, the text's metric
    diag(τU + U', 1, 1) at the authors' τ = 0 and at the drawn τ > 0.
    """
    rng = random.Random(seed)
    extra = []

    def add(case: dict, suffix: str, what: str, **changes) -> None:
        extra.append(dict(case, id=f"{case['id']}-{suffix}", origin=BOOK, addition=what, **changes))

    for case in cases:
        if case["flow"] != "momentum":
            continue
        tau = rng.choice(BOOK_TAUS)
        bias = rng.random() < 0.5 if case["model"] == "relu" else case["bias"]
        add(case, "tau", "τ > 0" + (", bias coin" if case["model"] == "relu" else ""), tau=tau, bias=bias)
        if case["model"] in ("linear", "relu"):
            add(case, "nesterov", "Nesterov" + (", bias coin" if case["model"] == "relu" else ""),
                flow="nesterov", tau=Fraction(0), bias=bias)
        if case["model"] == "icnn":
            add(case, "text", "text metric diag(τU + U', 1, 1)", geometry="mixed")
            add(case, "text-tau", "text metric, τ > 0", geometry="mixed", tau=tau)
    return extra


def protocol_rows(cases: list[dict]) -> list[tuple]:
    """Per block and origin: the τ values, bias values and metrics the cases exercise (for the report)."""
    rows = {}
    for c in cases:
        key = (c["block"], c["origin"])
        entry = rows.setdefault(key, {"n": 0, "tau": set(), "bias": set(), "flows": set(), "geometry": set()})
        entry["n"] += 1
        entry["tau"].add(c["tau"])
        entry["bias"].add(bool(c["bias"]))
        entry["flows"].add(c["flow"])
        entry["geometry"].add(c["geometry"] or "model's own")
    out = []
    for (block, origin), e in rows.items():
        out.append((block, origin, e["n"], ", ".join(sorted(e["flows"])),
                    ", ".join(str(t) for t in sorted(e["tau"])),
                    ", ".join("on" if b else "off" for b in sorted(e["bias"])),
                    ", ".join(sorted(e["geometry"]))))
    return out


def count_arguments(case: dict) -> dict:
    """The keyword arguments of ``lie.count_laws`` for a case dict."""
    out = {k: case[k] for k in CASE_KEYS if k in case and case[k] is not None}
    model = out.pop("model")
    flow = out.pop("flow", "gradient")
    return {"model": model, "flow": flow, **out}


def expected_count(case: dict) -> int | None:
    """The closed-form count of a case (``closed_forms``), natural flows and position metrics included."""
    from conservation_laws.closed_forms.natural import natural_gradient_count, position_metric_count

    if case.get("flow") == "natural":
        return natural_gradient_count(case)
    if (case.get("geometry") or "").endswith("-position"):
        return position_metric_count(case)
    return closed_form_count(case)


def rerun(cases: list[dict], certify: bool = True) -> list[dict]:
    """Count every case; returns one record per case (the case plus N, K, laws, expected, proof).

    ``expected`` is ``expected_count`` (None where no closed form is known). With ``certify``, the
    authors' gradient-flow and linear-momentum cases, and every case without a closed form, also
    get the check the authors' cells make, the polynomial solver (``solve`` there, ``laws.polynomial_laws`` here, degree 1 for NMF GF and 2
    otherwise), counted against the Lie bound: ``proof`` is "K = N" (no law, proved outright),
    "polynomial laws" (as many exactly verified laws as N − K allows, proved) or the engine's own
    certificate (``LieResult.certificate``).
    """
    from conservation_laws.engine.laws import polynomial_laws
    from conservation_laws.engine.lie import count_laws
    from conservation_laws.models import make_model

    out = []
    for case in cases:
        res = count_laws(**count_arguments(case))
        proof = "K = N" if res.rank == res.dimension else res.certificate
        expected = expected_count(case)
        authors_check = case["origin"] == AUTHORS and (case["flow"] == "gradient" or case["model"] == "linear")
        if certify and (authors_check or expected is None) and res.laws:
            model = make_model(case["model"], case["dims"], bias=case["bias"])
            degree = 1 if case["model"] == "nmf" and case["flow"] == "gradient" else 2
            found = polynomial_laws(model, case["flow"], tau=case["tau"], geometry=case["geometry"],
                                    degree=degree, lie=res)
            proof = "polynomial laws" if found.complete else f"{found.independent} polynomial laws"
        out.append(dict(case, N=res.dimension, K=res.rank, laws=res.laws, expected=expected,
                        proof=proof, bound=res.failure_bound, seconds=res.seconds))
    return out


def summarise(records: list[dict]) -> list[tuple]:
    """Per (block, origin): cases, agreeing with the closed form (or certified where none is
    known), total laws, proved outright ("K = N" or "polynomial laws"), seconds."""
    rows = {}
    for r in records:
        row = rows.setdefault((r["block"], r["origin"]), [0, 0, 0, 0, 0.0])
        proved = r["proof"] in ("K = N", "polynomial laws", "proved")
        row[0] += 1
        row[1] += (r["laws"] == r["expected"]) if r["expected"] is not None else proved
        row[2] += r["laws"]
        row[3] += proved
        row[4] += r["seconds"]
    return [(block, origin, *v[:4], f"{v[4]:.2f}") for (block, origin), v in rows.items()]
