"""Every chapter of the book: its glued values and claims, read from the book build's executed notebooks.

``make test`` executes each chapter once, with the parameters of its ``parameters`` cell (the book's full
parameters): ``tools/execute_chapters.py`` fills Jupyter Book's cache, ``jupyter-book build -W`` takes
the chapters from it and writes every executed notebook to ``_build/jupyter_execute/`` (its glued
values to ``<name>.glue.json`` beside it). This file reads them (``test_chapter_built``): every glued ``claim-*-status`` must be ``'pass'`` and every
expectation of ``tests/chapter_params.yaml`` must hold::

    02_linear:
      expect:                                  # glue key -> expected value
        linear-gf-count-2-2-2: 3               #   equality (a value that no parameter changes)
        linear-shape-count: {eval: "n_max * m_max * r_max"}   # a Python expression of the parameters
        linear-mf-drift-max: {max: 1.0e-8}     #   upper bound
        linear-gf-drift-max: {approx: 0.0, abs: 1.0e-9}   # or {approx: x, rel: r}
        relu-gd-steps: {min: 10}               #   lower bound
      override:                                # optional: a papermill run with small parameters
        parameters: {r_max: 3}
        expect: {...}                          # replaces the entries of the same key for that run

``eval`` expressions see the parameters the notebook ran with (its ``parameters`` cell, then
papermill's injected cell), ``closed_forms``, ``math``, ``comb``, ``velocity_energy``, ``notebooks_in_toc`` and the chapter's
glued values as ``glued``; bounds (``max``, ``min``, ``approx``) may be expressions too. Without a build, ``test_chapter_built`` skips with the reason
printed (``pytest -rs``); with ``REQUIRE_BOOK=1`` (``make test``) a missing or stale notebook fails.

The papermill runs (``test_parameter_override``) test what the build cannot: on the few chapters with
an ``override`` entry, run with small parameters, the injected values reach every cell (each
expectation holds with them, claims pass) and the chapter's provenance record holds them. Their claim
and provenance records go to a temporary folder (``CONSERVATION_LAWS_CLAIMS_DIR``,
``CONSERVATION_LAWS_PROVENANCE_DIR``), never to the book's ``_build``.
"""

from __future__ import annotations

import ast
import json
import math
import os
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
PARAMS = Path(__file__).with_name("chapter_params.yaml")
BUILT = ROOT / "_build" / "jupyter_execute"  # myst-nb writes the executed notebooks there
REQUIRE = os.environ.get("REQUIRE_BOOK", "") not in ("", "0")
GLUE_PREFIX = "application/papermill.record/"  # myst_nb.glue(..., display=False) prefixes the mime types


def toc_documents() -> list[str]:
    """The documents of ``_toc.yml`` in reading order, without suffix (``chapters/02_linear``)."""
    from companion.provenance import toc_documents as documents

    return documents(ROOT)


def toc_notebooks() -> list[Path]:
    return [ROOT / f"{d}.ipynb" for d in toc_documents() if (ROOT / f"{d}.ipynb").exists()]


CHAPTERS = toc_notebooks()


def chapter_params() -> dict:
    return (yaml.safe_load(PARAMS.read_text()) or {}) if PARAMS.exists() else {}


SPECS = chapter_params()
OVERRIDES = [p for p in CHAPTERS if isinstance(SPECS.get(p.stem), dict) and "override" in SPECS[p.stem]]


def spec_of(path: Path) -> dict:
    spec = SPECS.get(path.stem)
    assert spec is not None, (f"{path.stem} is listed in _toc.yml but has no entry in {PARAMS.name}: every chapter "
                              "declares the glued values expected of it")
    assert isinstance(spec, dict) and set(spec) <= {"expect", "override"}, \
        f"{PARAMS.name}: {path.stem} must map to {{expect: {{...}}, override: {{...}}}}, got {spec!r}"
    return spec


def glue_outputs(nb) -> list[dict]:
    """The glue outputs of an executed notebook (papermill's: they stay in the cells' outputs)."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("metadata", {}).get("scrapbook")]


def glued_values(outputs: list[dict]) -> dict:
    """``{glue key: value}`` from glue outputs (the ``text/plain`` repr, literal-evaluated)."""
    out = {}
    for output in outputs:
        name = output["metadata"]["scrapbook"]["name"]
        data = {k.removeprefix(GLUE_PREFIX): v for k, v in output.get("data", {}).items()}
        text = data.get("text/plain")
        if text is None:
            out[name] = None
            continue
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


def notebook_parameters(nb) -> dict:
    """The parameters a notebook ran with: its ``parameters`` cell, then papermill's injected cell."""
    values: dict = {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and ("parameters" in tags or "injected-parameters" in tags):
            exec(cell.source, {}, values)  # plain assignments of literals
    return values


def velocity_energy(seed: int, scale: float, dims: list[int]) -> float:
    """``|v0|² / 2`` of the initial velocity the chapters draw for a net of widths ``dims``:
    ``numpy.random.default_rng(seed).normal(scale=scale, size=D)``, ``D = Σ dims[i] dims[i+1]``."""
    import numpy as np

    size = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return float(np.sum(np.random.default_rng(seed).normal(scale=scale, size=size) ** 2) / 2)


def stored_ladder() -> dict:
    """The stored size ladder the report draws (benchmarks/results/count_ladder.json): its date and the
    records with a count, in order of k."""
    path = ROOT / "benchmarks" / "results" / "count_ladder.json"
    if not path.exists():
        return {"date": "—", "records": []}
    data = json.loads(path.read_text())
    return {"date": data["machine"]["date"][:10], "records": [e for e in data["ladder"] if "laws" in e]}


def evaluate(expr, params: dict, glued: dict | None = None):
    """The value of the expression ``expr`` with the parameters in scope, the glued values as ``glued``."""
    from conservation_laws import closed_forms

    scope = {"closed_forms": closed_forms, "math": math, "comb": math.comb, "glued": glued or {},
             "velocity_energy": velocity_energy, "notebooks_in_toc": len(CHAPTERS),
             "stored_ladder": stored_ladder(), **params}
    builtins = {f.__name__: f for f in (len, range, sum, min, max, sorted, set, list, tuple, str, abs, round,
                                         any, all, zip, float, int, map)}
    return eval(str(expr), {"__builtins__": builtins, **scope})  # one namespace: comprehensions see it


def check_expectation(key: str, value, expected, params: dict | None = None, glued: dict | None = None) -> str | None:
    """``None`` when ``value`` meets ``expected`` (see the module docstring), else why not."""
    params = params or {}
    if isinstance(expected, dict) and set(expected) == {"eval"}:
        try:
            target = evaluate(expected["eval"], params, glued)
        except Exception as e:  # noqa: BLE001 - reported as the test's failure
            return f"{key}: cannot evaluate {expected['eval']!r}: {type(e).__name__}: {e}"
        return None if value == target else f"{key} = {value!r}, expected {target!r} ({expected['eval']})"
    if isinstance(expected, dict) and expected.keys() & {"approx", "max", "min"}:
        try:
            bounds = {k: v if isinstance(v, (int, float)) else evaluate(v, params, glued) for k, v in expected.items()}
        except Exception as e:  # noqa: BLE001 - reported as the test's failure
            return f"{key}: cannot evaluate the bounds {expected}: {type(e).__name__}: {e}"
        try:
            x = float(value)
        except (TypeError, ValueError):
            return f"{key} = {value!r} is not a number (expected {expected})"
        if math.isnan(x):
            return f"{key} is NaN (expected {expected})"
        if "max" in bounds and not x <= float(bounds["max"]):
            return f"{key} = {x!r} > max {bounds['max']} ({expected['max']})"
        if "min" in bounds and not x >= float(bounds["min"]):
            return f"{key} = {x!r} < min {bounds['min']} ({expected['min']})"
        if "approx" in bounds:
            target = float(bounds["approx"])
            rel, abs_ = float(bounds.get("rel", 0.0)), float(bounds.get("abs", 0.0))
            if rel == abs_ == 0.0:
                rel = 1e-9
            if not math.isclose(x, target, rel_tol=rel, abs_tol=abs_):
                return f"{key} = {x!r} is not within rel {rel} / abs {abs_} of {target} ({expected['approx']})"
        return None
    return None if value == expected else f"{key} = {value!r}, expected {expected!r}"


def problems_of(values: dict, params: dict, expect: dict) -> list[str]:
    """Claims not passing and expectations not met by a notebook's glued ``values`` (run with ``params``)."""
    problems = [f"claim {k} = {v!r}" for k, v in values.items()
                if k.startswith("claim-") and k.endswith("-status") and v != "pass"]
    for key, expected in expect.items():
        if key not in values:
            problems.append(f"{key} was not glued (glued: {sorted(values)})")
        elif why := check_expectation(key, values[key], expected, params, values):
            problems.append(why)
    return problems


def code_sources(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in
            c.metadata.get("tags", [])]


def test_expectation_language():
    """Each form of chapter_params.yaml can fail: equality, eval, bounds (also as expressions)."""
    params, glued = {"r_max": 3, "dims": [2, 3, 2]}, {"start": 2.0}
    assert check_expectation("k", 6, {"eval": "r_max * (r_max + 1) // 2"}, params) is None
    assert "expected 6" in check_expectation("k", 5, {"eval": "r_max * (r_max + 1) // 2"}, params)
    assert check_expectation("k", 3, {"eval": "closed_forms.two_layer_linear_gf(*dims)"}, params) is not None
    assert check_expectation("k", 6, {"eval": "closed_forms.two_layer_linear_gf(*dims)"}, params) is None
    assert "cannot evaluate" in check_expectation("k", 1, {"eval": "no_such_name"}, params)
    assert check_expectation("k", 1.5, {"max": "glued['start']", "min": 0.0}, params, glued) is None
    assert "> max" in check_expectation("k", 2.5, {"max": "glued['start']"}, params, glued)
    assert "< min" in check_expectation("k", -1, {"min": 0.0}, params)
    assert check_expectation("k", math.exp(-6), {"approx": "math.exp(-2 * r_max)", "rel": 1e-9}, params) is None
    assert "not within" in check_expectation("k", 0.1, {"approx": "math.exp(-2 * r_max)", "rel": 1e-9}, params)
    assert "NaN" in check_expectation("k", float("nan"), {"max": 1.0})
    assert check_expectation("k", "holds", "holds") is None and check_expectation("k", "fails", "holds")


def test_toc_lists_chapters():
    assert CHAPTERS, f"no notebook listed in {TOC}"


def test_every_chapter_has_expectations():
    for path in CHAPTERS:
        spec_of(path)
    assert OVERRIDES, f"no chapter of {PARAMS.name} has an 'override' entry: nothing tests a parameter override"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_stored_clean(path: Path):
    """Stored without outputs, with exactly one ``parameters`` cell, the first code cell."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name}: code cells {dirty} are stored with outputs or execution counts; clear them"
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} code cells tagged 'parameters' (indices {tagged}); need exactly one"
    assert tagged == [0], f"{path.name}: the 'parameters' cell must be the first code cell, it is code cell {tagged[0]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_built(path: Path):
    """The chapter as the book build executed it (full parameters): claims pass, expectations hold."""
    spec = spec_of(path)
    built = BUILT / path.relative_to(ROOT)
    if not built.exists():
        why = f"{built} not built (jupyter-book build; make test builds it and sets REQUIRE_BOOK=1)"
        if REQUIRE:
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    nb = nbformat.read(built, as_version=4)
    assert code_sources(nb) == code_sources(nbformat.read(path, as_version=4)), \
        f"{built} is stale: its code differs from {path.name}; build the book again"
    # myst-nb moves the glue outputs of the executed notebook to <name>.glue.json, {key: output}
    glue = built.with_suffix(".glue.json")
    assert glue.exists(), f"{glue} is missing: the build glued nothing for {path.stem}"
    outputs = json.loads(glue.read_text()).values()
    problems = problems_of(glued_values(list(outputs)), notebook_parameters(nb), spec.get("expect") or {})
    assert not problems, f"{path.stem} (book build):\n" + "\n".join(problems)


@pytest.mark.parametrize("path", OVERRIDES, ids=[p.stem for p in OVERRIDES])
def test_parameter_override(path: Path, tmp_path: Path, monkeypatch):
    """A papermill run with small parameters: every expectation follows them, and the run records them."""
    import papermill

    spec = spec_of(path)
    override = spec["override"]
    parameters = override.get("parameters") or {}
    assert parameters, f"{PARAMS.name}: {path.stem}'s override sets no parameter"
    monkeypatch.setenv("CONSERVATION_LAWS_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("CONSERVATION_LAWS_PROVENANCE_DIR", str(tmp_path / "provenance"))
    monkeypatch.delenv("CONSERVATION_LAWS_BOOK_BUILD", raising=False)
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               cwd=str(path.parent), progress_bar=False, log_output=False,
                               request_save_on_cell_execute=False, execution_timeout=900)
    nb = nbformat.read(out, as_version=4)
    ran_with = notebook_parameters(nb)
    full = notebook_parameters(nbformat.read(path, as_version=4))
    assert {k: ran_with.get(k) for k in parameters} == parameters
    assert any(full[k] != v for k, v in parameters.items()), \
        f"{PARAMS.name}: {path.stem}'s override equals the chapter's own parameters: it tests nothing"
    problems = problems_of(glued_values(glue_outputs(nb)), ran_with,
                           {**(spec.get("expect") or {}), **(override.get("expect") or {})})
    assert not problems, f"{path.stem} (papermill, {parameters}):\n" + "\n".join(problems)
    record = json.loads((tmp_path / "provenance" / f"{path.stem}.json").read_text())
    assert record["run"].startswith("by hand"), record
    assert record["parameters"] == json.loads(json.dumps(ran_with)), \
        f"{path.stem}: the provenance record does not hold the parameters of the run: {record['parameters']}"
