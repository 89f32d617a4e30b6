"""Grid specification: a spec (dict or YAML/JSON file) → the canonical cases of a sweep, and their keys.

See the package doc (``conservation_laws.interfaces.sweep``) for the spec keys. Each case is validated by
``cases.make_case`` (one validator, one size guard) and written in canonical form
(``Case.canonical``); ``case_key`` is the sha256 of that form and the library version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

from ...errors import ConservationLawsError, invalid

SWEEP_MODELS = ("linear", "relu", "nmf", "icnn", "product",  # the models with widths, and the
                "attention", "conv1d", "conv2d", "softmax", "residual", "transformer")  # blocks (options)
SPEC_KEYS = ("name", "model", "dims", "depth", "widths", "hidden", "bias", "flow", "flows", "tau", "taus",
             "geometry", "geometries", "seed", "repeats", "grids", "description", "weight_decay", "weight_decays",
             "options", "model_file")


#: Largest number of cases of one spec, and of integers in one range: a grid past these is a typo
#: (1..100000 for a width), refused before anything is expanded.
MAX_CASES = 100_000


def _version() -> str:
    from ..._version import __version__

    return __version__


def certificate_policy() -> dict:
    """What a stored count's certificate was computed under (part of every key): the failure bound
    the count is checked to, the bracket depth and the number of attempts of ``lie.count_laws``."""
    from ...engine.lie import MAX_ATTEMPTS, TARGET_BOUND

    return {"target_failure_bound": TARGET_BOUND, "max_depth": 64, "max_attempts": MAX_ATTEMPTS}


def file_sha256(path: str) -> str:
    """The sha256 of a model file's bytes (a case's key changes when the file does)."""
    from ...errors import read_text

    return hashlib.sha256(read_text(path, "model_file", "a readable UTF-8 model file").encode()).hexdigest()


def _int_values(value, name: str) -> list[int]:
    """An int, 'a..b' (inclusive), {'from','to','step'} or a list of these → list of ints."""
    if isinstance(value, bool):
        raise invalid(name, value, "an integer, a range 'a..b', {from, to, step} or a list of them")
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        parts = value.split("..")
        try:
            if len(parts) == 2:
                a, b = int(parts[0]), int(parts[1])
            else:
                return [int(value)]
        except ValueError:
            raise invalid(name, value, "an integer or an inclusive range such as '1..12'") from None
        _check_range(name, value, a, b, 1)
        return list(range(a, b + 1))
    if isinstance(value, dict):
        extra = set(value) - {"from", "to", "step"}
        if extra or "from" not in value or "to" not in value:
            raise invalid(name, value, "a range {from: a, to: b, step: s} (step optional)")
        a, b, s = value["from"], value["to"], value.get("step", 1)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b, s)) or s < 1:
            raise invalid(name, value, "integer from/to and a step ≥ 1")
        _check_range(name, value, a, b, s)
        return list(range(a, b + 1, s))
    if isinstance(value, (list, tuple)):
        out: list[int] = []
        for v in value:
            out.extend(_int_values(v, name))
        return out
    raise invalid(name, value, "an integer, a range 'a..b', {from, to, step} or a list of them")


def _check_range(name: str, value, a: int, b: int, step: int) -> None:
    if max(0, (b - a) // step + 1) > MAX_CASES or max(abs(a), abs(b)) > 10**9:
        raise invalid(name, value, f"a range of at most {MAX_CASES} integers below 10^9")


def _check_total(sizes) -> None:
    total = 1
    for n in sizes:
        total *= max(1, n)
        if total > MAX_CASES:
            raise invalid("spec", f"{total}+ cases", f"a grid of at most {MAX_CASES} cases (narrow a range)")


def _listify(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _dims_choices(grid: dict) -> list[list[int]]:
    """Every width list of a grid, from ``dims`` or from ``depth`` + ``widths``."""
    if "dims" in grid and ("widths" in grid or "depth" in grid):
        raise invalid("dims", grid["dims"], "give either dims or depth + widths, not both")
    if "dims" in grid:
        positions = grid["dims"]
        if not isinstance(positions, (list, tuple)) or not positions:
            raise invalid("dims", positions, "a list with one width (or range of widths) per layer, e.g. [1..4, 1..12, 1..4]")
        if len(positions) > 64:
            raise invalid("dims", f"{len(positions)} positions", "at most 64 layers")
        values = [_int_values(p, "dims") for p in positions]
        _check_total(len(v) for v in values)
        choices = [list(c) for c in itertools.product(*values)]
    elif "widths" in grid:
        widths = grid["widths"]
        if not isinstance(widths, dict) or set(widths) - {"output", "hidden", "input"} or not {"output", "input"} <= set(widths):
            raise invalid("widths", widths, "a mapping {output: ..., hidden: ..., input: ...}")
        depths = _int_values(grid.get("depth", 2), "depth")
        hidden_mode = grid.get("hidden", "uniform")
        if hidden_mode not in ("uniform", "all"):
            raise invalid("hidden", hidden_mode, "'uniform' (one width for every hidden layer) or 'all' (every combination)")
        out_w = _int_values(widths["output"], "widths.output")
        in_w = _int_values(widths["input"], "widths.input")
        hid_w = _int_values(widths.get("hidden", []), "widths.hidden")
        choices = []
        for q in depths:
            if not 1 <= q <= 64:
                raise invalid("depth", q, "a number of weight layers from 1 to 64")
            if q > 1 and not hid_w:
                raise invalid("widths.hidden", widths.get("hidden"), "hidden widths are needed for depth ≥ 2")
            if q == 1:
                hidden_choices = [[]]
            elif hidden_mode == "uniform":
                hidden_choices = [[h] * (q - 1) for h in hid_w]
            else:
                _check_total([len(hid_w)] * (q - 1) + [len(out_w), len(in_w)])
                hidden_choices = [list(c) for c in itertools.product(hid_w, repeat=q - 1)]
            _check_total([len(out_w), len(hidden_choices), len(in_w), len(choices) + 1])
            for o, hid, i in itertools.product(out_w, hidden_choices, in_w):
                choices.append([o, *hid, i])
    else:
        raise invalid("dims", None, "a spec needs dims (one range per layer) or depth + widths")
    for c in choices:
        if any(d < 1 for d in c):
            raise invalid("dims", c, "every width must be a positive integer")
    return choices


def canonical_case(model: str, dims, flow: str = "gradient", tau=0, geometry: str | None = None,
                   bias: bool = False, seed: int = 0, repeats: int = 1, weight_decay=0,
                   options: dict | None = None, model_file: str | None = None) -> dict:
    """The canonical parameters of one case (what its key is computed from): ``Case.canonical()``.

    Validated by ``cases.make_case`` (the size guard included). τ is written exactly as a string
    (``'0'``, ``'1/2'``); it is set to ``'0'`` for the gradient and Nesterov flows, and ``bias`` to
    false for models without biases, so that equivalent cases share one key. ``weight_decay`` λ (exact,
    a string in the canonical form, present only when λ > 0) is validated by ``flows.Flow``.
    """
    from ..cases import _fraction, make_case
    from ...models import bias_models

    if model_file is not None:  # a model file (models: spec.py); it names its own blocks
        if not isinstance(model_file, str) or not model_file.strip():
            raise invalid("model_file", model_file, "the path of a model file (relative to the spec's folder)")
        digest = file_sha256(model_file)
        try:
            out = make_case(spec=model_file, flow=flow, tau=_fraction("tau", tau) if flow == "momentum" else 0,
                            geometry=geometry, seed=seed, repeats=repeats,
                            weight_decay=_fraction("weight_decay", weight_decay)).canonical()
        except ConservationLawsError as exc:
            text = str(exc)
            raise ConservationLawsError(text if text.startswith("model file") else f"model_file {model_file!r}: {text}") from None
        out["model_file_sha256"] = digest  # the key follows the file's content, not its path
        return out
    if model not in SWEEP_MODELS:
        raise invalid("model", model, f"one of {', '.join(SWEEP_MODELS)} (models with widths)")
    if not isinstance(bias, bool):
        raise invalid("bias", bias, "true or false")
    tau = _fraction("tau", tau)
    case = make_case(model=model, dims=dims, flow=flow, tau=tau if flow == "momentum" else 0, geometry=geometry,
                     bias=bias and model in bias_models(), seed=seed, repeats=repeats,
                     weight_decay=_fraction("weight_decay", weight_decay), options=options or {})
    return case.canonical()


def case_key(case: dict, version: str | None = None) -> str:
    """sha256 of the canonical JSON of the case (a model file's content hash included), the library
    version and the certificate policy (``certificate_policy``): a change to any of them is a new key."""
    payload = json.dumps({"case": case, "version": version or _version(), "policy": certificate_policy()},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def expand_spec(spec: dict) -> list[dict]:
    """The cases of a spec (see the module doc), in grid order, without duplicates.

    Each case is a canonical dict: model, dims, bias, flow, tau (exact string), geometry, seed,
    repeats. ``case_key(case)`` is its content key.
    """
    if not isinstance(spec, dict):
        raise invalid("spec", type(spec).__name__, "a mapping of grid keys (model, dims, flow, ...)")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise invalid("spec", unknown[0], f"a spec key, one of {', '.join(SPEC_KEYS)}")
    base = {k: v for k, v in spec.items() if k != "grids"}
    grids = spec.get("grids") or [{}]
    if not isinstance(grids, list):
        raise invalid("grids", grids, "a list of grids (mappings overriding the top-level keys)")
    seen: set[str] = set()
    cases: list[dict] = []
    for g in grids:
        if not isinstance(g, dict):
            raise invalid("grids", g, "each grid is a mapping")
        unknown = sorted(set(g) - set(SPEC_KEYS) - {"grids"})
        if unknown or "grids" in g:
            raise invalid("grids", (unknown or ["grids"])[0], f"a grid key, one of {', '.join(k for k in SPEC_KEYS if k != 'grids')}")
        grid = dict(base)
        if any(k in g for k in ("dims", "widths", "depth")):  # a grid's own shape replaces the top-level one
            for k in ("dims", "widths", "depth", "hidden"):
                grid.pop(k, None)
        grid.update(g)
        model_file = grid.get("model_file")
        if model_file is not None:
            grid.setdefault("model", "spec")
            grid.setdefault("dims", [])
        if "model" not in grid:
            raise invalid("model", None, f"a spec needs a model: one of {', '.join(SWEEP_MODELS)}")
        models = _listify(grid["model"])
        option_sets = _listify(grid.get("options", {}))  # one mapping, or a list of them to sweep
        flows = _listify(grid.get("flows", grid.get("flow", "gradient")))
        taus = _listify(grid.get("taus", grid.get("tau", 0)))
        decays = _listify(grid.get("weight_decays", grid.get("weight_decay", 0)))
        geometries = _listify(grid.get("geometries", grid.get("geometry", None)))
        biases = _listify(grid.get("bias", False))
        seeds = _int_values(grid.get("seed", 0), "seed")
        repeats = grid.get("repeats", 1)
        dims_list = [None] if model_file is not None else _dims_choices(grid)
        _check_total(len(x) for x in (models, dims_list, biases, flows, taus, geometries, seeds, decays,
                                      option_sets))
        for model, dims, bias, flow, tau, geometry, seed, decay, options in itertools.product(
                models, dims_list, biases, flows, taus, geometries, seeds, decays, option_sets):
            case = canonical_case(model, dims, flow, tau, geometry, bias, seed, repeats, weight_decay=decay,
                                  options=options, model_file=model_file)
            key = case_key(case)
            if key not in seen:
                seen.add(key)
                cases.append(case)
    return cases


def load_spec(path: str | Path) -> dict:
    """Read a spec from a .json, .yaml or .yml file (one-line errors). A relative ``model_file``
    (top level or in a grid) is read from the spec's folder, as a user writing the spec means it."""
    import yaml

    from ...errors import read_text
    from ...models.model_file import yaml_problem

    path = Path(path)
    text = read_text(path, "spec", "a readable UTF-8 YAML or JSON sweep spec")
    try:
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise invalid("spec", str(path), f"valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except yaml.YAMLError as e:
        raise invalid("spec", str(path), yaml_problem(e)) from None
    except RecursionError:
        raise invalid("spec", str(path), "a spec that does not nest so deeply") from None
    if not isinstance(spec, dict):
        raise invalid("spec", str(path), "a mapping of grid keys (model, dims, flow, ...)")
    grids = spec.get("grids")
    for grid in [spec, *(g for g in grids if isinstance(g, dict))] if isinstance(grids, list) else [spec]:
        mf = grid.get("model_file")
        if isinstance(mf, str) and mf.strip() and not Path(mf).is_absolute():
            grid["model_file"] = os.path.abspath(path.parent / mf)
    return spec
