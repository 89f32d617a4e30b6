"""HTML tables for the book's pages: cells formatted and escaped, ``$…$`` kept for MathJax.

``table(header, rows)`` is what a chapter shows (``book.table`` is this function); a cell that is a
:class:`RawHTML` string is inserted as it is (links, coloured status marks, code).
"""

from __future__ import annotations

import math
import re
from html import escape
from numbers import Integral, Real
from typing import Any, Sequence

from conservation_laws.errors import invalid

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


class RawHTML(str):
    """A table cell already written in HTML (not escaped by ``table``)."""


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
    if isinstance(value, RawHTML):
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
