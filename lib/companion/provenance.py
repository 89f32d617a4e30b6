"""Provenance: what built this book, so that every number can be traced to versions, seeds and code.

Each chapter calls ``book.start(chapter, globals())``, which records every parameter of the chapter's
``parameters`` cell with ``record_parameters`` in ``_build/provenance/<chapter>.json`` (or
``$CONSERVATION_LAWS_PROVENANCE_DIR/<chapter>.json``). The provenance page, the book's last, reads them
back with ``load_parameters`` / ``load_seeds`` and shows them next to ``collect()``'s versions,
revision, date and machine.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from conservation_laws.errors import invalid

from .common import jsonable, project_root
from .tables import RawHTML, table

PACKAGES = ("conservation-laws", "numpy", "sympy", "python-flint", "jax", "jaxlib", "matplotlib", "scikit-learn",
            "jupyter-book", "myst-nb", "papermill", "dask", "distributed")


def git_revision(root: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def machine_summary() -> str:
    """``<OS> <arch>, <CPU model>, <n> logical cores, <RAM> GiB RAM`` (the parts that can be read)."""
    parts = [f"{platform.system()} {platform.machine()}"]
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if cpu:
        parts.append(cpu)
    parts.append(f"{os.cpu_count()} logical cores")
    try:
        parts.append(f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM")
    except (AttributeError, ValueError, OSError):
        pass
    return ", ".join(parts)


def collect(seeds: dict | None = None, root: Path | None = None) -> dict:
    """Versions, git revision, build date, machine summary and the seeds given."""
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(root),
        "python": platform.python_version(),
        "machine": machine_summary(),
        "packages": versions(),
        "seeds": seeds or {},
    }


def write(path: Path, seeds: dict | None = None) -> dict:
    info = collect(seeds, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=1))
    return info


def provenance_dir() -> Path:
    """Where chapters' seed records go: ``$CONSERVATION_LAWS_PROVENANCE_DIR`` or ``<root>/_build/provenance``.

    ``<root>`` is the book's root, found by ``common.project_root()`` (the folder holding ``_config.yml``).
    """
    env = os.environ.get("CONSERVATION_LAWS_PROVENANCE_DIR")
    d = Path(env) if env else project_root() / "_build" / "provenance"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _check_chapter(chapter) -> None:
    if not isinstance(chapter, str) or not chapter or "/" in chapter or chapter.startswith((".", "_")):
        raise invalid("chapter", chapter, "a file stem such as '02_linear' (not empty, no '/', no leading '.' or '_')")


def _json_value(value: Any) -> Any:
    """``value`` as JSON data: numpy scalars and arrays as numbers and lists; anything else JSON cannot hold
    (a Fraction, a set) as its ``str``."""
    value = jsonable(value)
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (set, frozenset)):
            return [_json_value(v) for v in sorted(value, key=str)]
        return str(value)


def _write_record(chapter: str, parameters: dict[str, Any]) -> Path:
    """Write ``provenance_dir()/<chapter>.json``: the chapter, its ``parameters``, their ``seeds``
    (the parameters whose name contains ``seed``), the date and how it ran.

    ``run`` says whether the chapter ran in a book build (the book's Sphinx extension sets
    ``CONSERVATION_LAWS_BOOK_BUILD``) or by hand, so the provenance page can flag a record that a
    manual rerun wrote over the one of the build.
    """
    values = {str(k): _json_value(v) for k, v in parameters.items()}
    entry = {"chapter": chapter,
             "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "run": "book build" if os.environ.get("CONSERVATION_LAWS_BOOK_BUILD") else "by hand (papermill, tests)",
             "parameters": values, "seeds": {k: v for k, v in values.items() if is_seed(k)}}
    path = provenance_dir() / f"{chapter}.json"
    path.write_text(json.dumps(entry, indent=1))
    return path


def is_seed(name: str) -> bool:
    """Whether a parameter is a seed: its name contains ``seed`` (``seed``, ``data_seed``, ``seeds``)."""
    return "seed" in name.lower()


def record_parameters(chapter: str, parameters: dict[str, Any]) -> Path:
    """Record every parameter of a chapter: ``{"chapter", "parameters", "seeds", "date", "run"}``.

    ``parameters`` maps each name assigned in the chapter's ``parameters`` cell to the value the run
    used (so a ``papermill -p r_max 6`` rerun records ``r_max = 6``); ``seeds`` is the part of it whose
    names contain ``seed``. Values that JSON cannot hold are stored as their ``str``.
    """
    _check_chapter(chapter)
    if not isinstance(parameters, dict):
        raise invalid("parameters", parameters, "a dict mapping each parameter's name to its value")
    return _write_record(chapter, parameters)


def load_records(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every chapter's record in ``directory`` (default ``provenance_dir()``), ``{chapter: record}``, sorted."""
    d = directory or provenance_dir()
    out = {}
    for p in sorted(d.glob("*.json")):
        try:
            entry = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("parameters"), dict) and isinstance(entry.get("seeds"), dict):
            out[entry.get("chapter", p.stem)] = entry
    return dict(sorted(out.items()))


def load_seeds(directory: Path | None = None, chapters: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every chapter's seeds, ``{chapter: {seed name: value}}``, sorted by chapter.

    ``chapters`` (file stems) keeps only those chapters, e.g. the book's (``toc_chapters()``), so that
    records left by chapters that are no longer in the book are not reported.
    """
    records = load_records(directory)
    return {c: r["seeds"] for c, r in records.items() if chapters is None or c in chapters}


def load_parameters(directory: Path | None = None, chapters: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every chapter's parameters, ``{chapter: {name: value}}``, sorted by chapter."""
    records = load_records(directory)
    return {c: r["parameters"] for c, r in records.items() if chapters is None or c in chapters}


def build_summary(chapters: list[str] | None = None) -> dict:
    """``collect()`` for this build, plus every chapter's recorded parameters and how it ran.

    ``chapters`` (file stems; default: the book's, ``toc_chapters()``) keeps only those records,
    so that records left by removed chapters are not reported. Adds ``parameters``
    ({chapter: {name: value}}) and ``runs`` ({chapter: {"date", "run"}}) to ``collect``'s fields
    (whose ``seeds`` are each chapter's seeds).
    """
    chapters = toc_chapters() if chapters is None else chapters
    records = {c: r for c, r in load_records().items() if c in chapters}
    info = collect({c: r["seeds"] for c, r in records.items()})
    info["parameters"] = {c: r["parameters"] for c, r in records.items()}
    info["runs"] = {c: {"date": r.get("date", "?"), "run": r.get("run", "?")} for c, r in records.items()}
    return info


def write_summary(info: dict) -> Path:
    """Write ``info`` to ``_build/provenance.json`` (next to the chapters' records); return the path."""
    path = provenance_dir().parent / "provenance.json"
    path.write_text(json.dumps(info, indent=1, default=str))
    return path


def toc_documents(root: Path | None = None) -> list[str]:
    """The documents of the book's ``_toc.yml`` (root, then parts, chapters and sections), in reading order.

    Docnames are relative to the book's root and carry no suffix, e.g. ``["intro", "chapters/02_linear"]``.
    """
    import yaml

    toc = (root or project_root()) / "_toc.yml"
    data = yaml.safe_load(toc.read_text())
    docs = [data["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                docs.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    walk(data.get("chapters"))
    for part in data.get("parts") or []:
        walk(part.get("chapters"))
    return [d.removesuffix(".md").removesuffix(".ipynb") for d in docs]


def toc_chapters(root: Path | None = None) -> list[str]:
    """The file stems of the book's documents (``toc_documents``), e.g. ``["intro", "02_linear"]``."""
    return [Path(d).name for d in toc_documents(root)]


def html_table(header: tuple[str, ...], rows: dict[str, Any] | list[tuple]):
    """An HTML table with ``header``; ``rows`` is a list of tuples, or a dict for two columns ``key, value``.

    Every cell is escaped; cells after the first are set in code font. Rendered by ``tables.table``.
    """
    from html import escape

    items = list(rows.items()) if isinstance(rows, dict) else [tuple(r) for r in rows]
    cells = [[v if i == 0 else RawHTML(f"<code>{escape(str(v))}</code>") for i, v in enumerate(row)] for row in items]
    return table(header, cells, css_class="provenance")
