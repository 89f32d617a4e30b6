"""The book's toolkit: what every chapter does besides its mathematics, in one call each.

A chapter's setup cell begins with ``book.start("02_linear", globals())``; its numbers are glued
with ``book.glue({...})``; its tables are ``book.table(header, rows)``; its last cell is
``book.finish()``. Claims are checked with ``claims.check`` (see :mod:`companion.claims`).
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any, Mapping

from conservation_laws.errors import invalid

from . import certificates, claims, provenance
from .common import project_root
from .tables import cell_text, html_text, table, table_html  # noqa: F401 (the chapters' book.table)

#: The collector of the chapter being run (``start`` installs it, ``finish`` writes and removes it).
_collector: certificates.CertificateCollector | None = None

def chapter_path(chapter: str, root: Path | None = None) -> Path:
    """``<book root>/chapters/<chapter>.ipynb``, or ``<book root>/<chapter>.ipynb`` for a notebook at
    the book's root (the landing page, ``intro``); the root is ``common.project_root()``."""
    if not isinstance(chapter, str) or not chapter or "/" in chapter or chapter.startswith((".", "_")):
        raise invalid("chapter", chapter, "a chapter's file stem such as '02_linear'")
    base = root or project_root()
    path = base / "chapters" / f"{chapter}.ipynb"
    if not path.exists() and (base / f"{chapter}.ipynb").exists():
        return base / f"{chapter}.ipynb"
    if not path.exists():
        raise invalid("chapter", chapter, f"a notebook of the book's chapters/ folder (no {path})")
    return path


def parameter_names(notebook: Path | str) -> list[str]:
    """The names assigned in the notebook's first cell tagged ``parameters``, in order.

    Read with ``ast`` (plain, annotated and tuple assignments), so nothing of the cell is executed.
    """
    nb = json.loads(Path(notebook).read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            names: list[str] = []
            for node in ast.parse(source).body:
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
                for target in targets:
                    for n in ast.walk(target):
                        if isinstance(n, ast.Name) and n.id not in names:
                            names.append(n.id)
            return names
    raise invalid("notebook", str(notebook), "a notebook with a code cell tagged 'parameters'")


def start(chapter: str, namespace: Mapping[str, Any]) -> None:
    """Begin a chapter: ``book.start("02_linear", globals())`` as the first line of its setup cell.

    Applies the plotting style, switches progress bars off (they belong to the terminal), records
    the value in ``namespace`` of every name of the chapter's ``parameters`` cell through
    ``provenance.record_parameters`` (so a ``papermill -p r_max 6`` rerun records ``r_max = 6``) and
    makes ``chapter`` the one ``claims.check`` records for. It also installs a fresh certificate
    collector (:class:`certificates.CertificateCollector`), which sees every count the chapter makes
    from then on; ``certificate_log()`` reads it and ``finish()`` writes it for the report.
    """
    global _collector

    names = parameter_names(chapter_path(chapter))
    missing = [n for n in names if n not in namespace]
    if missing:
        raise invalid("namespace", ", ".join(missing), "the chapter's globals(), after its parameters cell ran")
    os.environ["TQDM_DISABLE"] = "1"  # tqdm reads it when a bar is created
    from . import plotting  # matplotlib, only when a chapter starts

    plotting.use_style()
    provenance.record_parameters(chapter, {n: namespace[n] for n in names})
    claims.set_chapter(chapter)
    if _collector is not None:
        _collector.uninstall()
    _collector = certificates.CertificateCollector().install()


def certificate_log() -> list[dict]:
    """Every count of the running chapter since ``start``, as records (``certificates.record_of``)."""
    if _collector is None:
        raise invalid("chapter", None, "a chapter started with book.start(chapter, globals())")
    return _collector.records()


def load_certificate_logs(directory=None) -> dict[str, list[dict]]:
    """Every chapter's written certificate log, ``{chapter: records}`` (``certificates.load_logs``)."""
    return certificates.load_logs(directory)


def _glue_one(key: str, value: Any) -> None:
    from myst_nb import glue as myst_glue

    myst_glue(key, value, display=False)


def glue(values: Mapping[str, Any]) -> None:
    """``myst_nb.glue(key, value, display=False)`` for every item: the prose's numbers in one call.

    Keys are lower-case and hyphenated (``linear-mf-count-2-2-2``), as the prose cites them.
    """
    if not isinstance(values, Mapping):
        raise invalid("values", values, "a dict {glue key: value}")
    for key, value in values.items():
        if not isinstance(key, str) or not key or key != key.strip() or " " in key:
            raise invalid("glue key", key, "a non-empty string without spaces, e.g. 'linear-mf-count-2-2-2'")
        _glue_one(key, value)


def finish() -> None:
    """End a chapter (its last cell): display the chapter's claims box, raise if a claim failed.

    It also writes the chapter's certificate log (every count it made since ``start``, collected by
    the certificate collector ``start`` installed), which the reproduction report sums over the
    whole book.
    """
    from IPython.display import display

    chapter = claims.active_chapter()
    if chapter is None or _collector is None:
        raise invalid("chapter", None, "a chapter started with book.start(chapter, globals())")
    _collector.save(chapter)
    checked = claims.chapter_claims(chapter)
    if checked:
        display(claims.table(checked))
    claims.require_all_pass(chapter)
