"""Every chapter of the book, run through papermill with small parameters.

The chapters are the notebooks listed in ``_toc.yml``, taken in the table of contents' order (so that
the reproduction report runs after the chapters whose records it reads). Each must have an entry in
``tests/chapter_params.yaml``::

    02_linear:
      parameters: {seed: 0, r_max: 3}          # passed to papermill (-p)
      expect:                                  # glue key -> expected value
        linear-gf-count-2-2-2: 3               #   equality
        linear-mf-drift-max: {max: 1.0e-8}     #   upper bound
        linear-gf-drift-max: {approx: 0.0, abs: 1.0e-9}   # or {approx: x, rel: r}
        relu-gd-steps: {min: 10}               #   lower bound

and, once executed, every glued ``claim-*-status`` must be ``'pass'`` and every expectation must hold.
The claim and seed records go to a folder shared by the session (``CONSERVATION_LAWS_CLAIMS_DIR``,
``CONSERVATION_LAWS_PROVENANCE_DIR``), never to the book's ``_build``.
"""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import nbformat
import pytest
import yaml

from companion.provenance import toc_documents

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"  # read by provenance.toc_documents()
PARAMS = Path(__file__).with_name("chapter_params.yaml")
GLUE_PREFIX = "application/papermill.record/"  # myst_nb.glue(..., display=False) prefixes the mime types


def toc_notebooks() -> list[Path]:
    return [ROOT / f"{d}.ipynb" for d in toc_documents(ROOT) if (ROOT / f"{d}.ipynb").exists()]


CHAPTERS = toc_notebooks()


def chapter_params() -> dict:
    return (yaml.safe_load(PARAMS.read_text()) or {}) if PARAMS.exists() else {}


def glued_values(nb) -> dict:
    """``{glue key: value}`` from an executed notebook (the ``text/plain`` repr, literal-evaluated)."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = {k.removeprefix(GLUE_PREFIX): v for k, v in output.get("data", {}).items()}
            text = data.get("text/plain")
            if text is None:
                out[meta["name"]] = None
                continue
            try:
                out[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[meta["name"]] = text
    return out


def check_expectation(key: str, value, expected) -> str | None:
    """``None`` when ``value`` meets ``expected`` (see the module docstring), else why not."""
    if isinstance(expected, dict) and expected.keys() & {"approx", "max", "min"}:
        try:
            x = float(value)
        except (TypeError, ValueError):
            return f"{key} = {value!r} is not a number (expected {expected})"
        if math.isnan(x):
            return f"{key} is NaN (expected {expected})"
        if "max" in expected and not x <= float(expected["max"]):
            return f"{key} = {x!r} > max {expected['max']}"
        if "min" in expected and not x >= float(expected["min"]):
            return f"{key} = {x!r} < min {expected['min']}"
        if "approx" in expected:
            target = float(expected["approx"])
            rel, abs_ = float(expected.get("rel", 0.0)), float(expected.get("abs", 0.0))
            if rel == abs_ == 0.0:
                rel = 1e-9
            if not math.isclose(x, target, rel_tol=rel, abs_tol=abs_):
                return f"{key} = {x!r} is not within rel {rel} / abs {abs_} of {target}"
        return None
    return None if value == expected else f"{key} = {value!r}, expected {expected!r}"


@pytest.fixture(scope="session")
def records_dir(tmp_path_factory):
    """One folder per session for the chapters' claim and seed records (read back by later chapters)."""
    root = tmp_path_factory.mktemp("records")
    saved = {k: os.environ.get(k) for k in ("CONSERVATION_LAWS_CLAIMS_DIR", "CONSERVATION_LAWS_PROVENANCE_DIR")}
    os.environ["CONSERVATION_LAWS_CLAIMS_DIR"] = str(root / "claims")
    os.environ["CONSERVATION_LAWS_PROVENANCE_DIR"] = str(root / "provenance")
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_toc_lists_chapters():
    assert CHAPTERS, f"no notebook listed in {TOC}"


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
def test_chapter_runs_small(path: Path, records_dir: Path, tmp_path: Path):
    import papermill

    spec = chapter_params().get(path.stem)
    assert spec is not None, (f"{path.stem} is listed in _toc.yml but has no entry in {PARAMS.name}: every chapter "
                              "declares its small parameters and the glued values expected with them")
    assert isinstance(spec, dict) and set(spec) <= {"parameters", "expect"}, \
        f"{PARAMS.name}: {path.stem} must map to {{parameters: {{...}}, expect: {{...}}}}, got {spec!r}"
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters=spec.get("parameters") or {}, kernel_name="python3",
                               cwd=str(path.parent), progress_bar=False, log_output=False,
                               request_save_on_cell_execute=False, execution_timeout=900)
    values = glued_values(nbformat.read(out, as_version=4))

    failed_claims = {k: v for k, v in values.items() if k.startswith("claim-") and k.endswith("-status") and v != "pass"}
    assert not failed_claims, f"{path.stem}: claims not passing: {failed_claims}"

    problems = []
    for key, expected in (spec.get("expect") or {}).items():
        if key not in values:
            problems.append(f"{key} was not glued (glued: {sorted(values)})")
        else:
            why = check_expectation(key, values[key], expected)
            if why:
                problems.append(why)
    assert not problems, f"{path.stem}:\n" + "\n".join(problems)
