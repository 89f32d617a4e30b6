"""The book's toolkit: what every chapter does besides its mathematics, in one call each.

A chapter's setup cell begins with ``book.start("02_linear", globals())``; its numbers are glued
with ``book.glue({...})``; its tables are ``book.table(header, rows)``; its last cell is
``book.finish()``. Claims are checked with ``claims.check`` (see :mod:`conservation_laws.claims`).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from html import escape
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import invalid

#: Inline math as a chapter writes it: ``$...$`` (not ``$$``), no newline inside.
_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")

#: Styles of every table: the table is never wider than the book's column. Cells wrap between
#: words; a cell holding a word longer than ``LONG_WORD`` characters may also break inside words
#: (``overflow-wrap:anywhere``, which would otherwise squeeze short columns to one letter).
#: Headers are set apart by a rule and wrap between words.
TABLE_STYLE = "width:auto;max-width:100%;border-collapse:collapse;margin:0.5em 0;font-size:0.9em"
CELL_STYLE = "overflow-wrap:break-word;padding:0.2em 0.6em;vertical-align:top;text-align:left"
LONG_CELL_STYLE = CELL_STYLE.replace("break-word", "anywhere")
#: Headers may break inside a word, but only when the column is narrower than the word: their
#: width comes from the body cells (measured on the built book: nine one-word headers made a
#: table of short numbers 700 px wide in a 676 px column).
HEADER_STYLE = LONG_CELL_STYLE + ";border-bottom:1.5px solid currentColor;font-weight:600"
LONG_WORD = 24
#: From this many columns on, cells get narrower padding.
MANY_COLUMNS = 7


def chapter_path(chapter: str, root: Path | None = None) -> Path:
    """``<book root>/chapters/<chapter>.ipynb``, or ``<book root>/<chapter>.ipynb`` for a notebook at
    the book's root (the landing page, ``intro``); the root is ``claims.project_root()``."""
    from .claims import project_root

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
    makes ``chapter`` the one ``claims.check`` records for.
    """
    from . import claims, plotting, provenance

    names = parameter_names(chapter_path(chapter))
    missing = [n for n in names if n not in namespace]
    if missing:
        raise invalid("namespace", ", ".join(missing), "the chapter's globals(), after its parameters cell ran")
    os.environ["TQDM_DISABLE"] = "1"  # tqdm reads it when a bar is created
    plotting.use_style()
    provenance.record_parameters(chapter, {n: namespace[n] for n in names})
    claims.set_chapter(chapter)


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


def cell_text(value: Any) -> str:
    """How a table shows a value: ints as they are, floats with 4 significant digits (``nan`` as
    ``—``), booleans as yes/no, None as ``—``, sequences joined by commas, anything else as ``str``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real) and not isinstance(value, Integral):
        x = float(value)
        if math.isnan(x):
            return "—"
        return f"{x:.4g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(cell_text(v) for v in value) + ")" if isinstance(value, tuple) else \
            "[" + ", ".join(cell_text(v) for v in value) + "]"
    return str(value)


def html_text(text: str) -> str:
    """``text`` escaped for HTML, with each ``$...$`` turned into ``\\(...\\)`` for MathJax.

    The book's MathJax (MyST's configuration) reads ``\\(...\\)``, not ``$``, and only inside
    elements of class ``mathjax_process``, which ``table`` puts around every table.
    """
    out, last = [], 0
    for m in _MATH.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(r"\(" + escape(m.group(1), quote=False) + r"\)")
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _cell_html(value: Any) -> str:
    from .claims import _Raw

    if isinstance(value, _Raw):
        return str(value)
    return html_text(cell_text(value))


def _cell_style(value: Any) -> str:
    text = _MATH.sub("", re.sub(r"<[^>]+>", " ", str(value)) if isinstance(value, str) else cell_text(value))
    return LONG_CELL_STYLE if any(len(w) > LONG_WORD for w in text.split()) else CELL_STYLE


def table_html(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None,
               css_class: str = "book-table") -> str:
    """The HTML of ``table`` (a string)."""
    header = list(header)
    rows = [list(r) for r in rows]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise invalid(f"rows[{i}]", row, f"{len(header)} cells, one per header {header}")
    cap = f"<caption style='caption-side:top;text-align:left'>{html_text(caption)}</caption>" if caption else ""

    def narrow(style: str) -> str:
        return style.replace("padding:0.2em 0.6em", "padding:0.2em 0.35em") if len(header) >= MANY_COLUMNS else style

    head = "".join(f"<th style='{narrow(HEADER_STYLE)}'>{html_text(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='{narrow(_cell_style(v))}'>{_cell_html(v)}</td>" for v in row)
                   + "</tr>" for row in rows)
    # mathjax_process: the book's MathJax ignores the page except elements with this class (MyST)
    return (f"<div class='{escape(css_class.split()[0])}-wrap mathjax_process' style='max-width:100%'>"
            f"<table class='{escape(css_class)}' "
            f"style='{TABLE_STYLE}'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None,
          css_class: str = "book-table"):
    """A table for a chapter page (an ``IPython.display.HTML``).

    Every cell is escaped and formatted by ``cell_text``; ``$...$`` math in cells, headers and the
    caption is kept for MathJax. The table is never wider than the book's column: cells wrap.
    """
    from IPython.display import HTML

    return HTML(table_html(header, rows, caption, css_class))


def finish() -> None:
    """End a chapter (its last cell): display the chapter's claims box, raise if a claim failed.

    It also writes the chapter's certificate log (every count it made, ``lie.save_certificate_log``),
    which the reproduction report sums over the whole book.
    """
    from IPython.display import display

    from . import claims, lie

    chapter = claims.active_chapter()
    if chapter is None:
        raise invalid("chapter", None, "a chapter started with book.start(chapter, globals())")
    lie.save_certificate_log(chapter)
    checked = claims.chapter_claims(chapter)
    if checked:
        display(claims.table(checked))
    claims.require_all_pass(chapter)
