"""How a chapter reads: visible code lines, glue calls, lines over 88 characters, per chapter.

    .venv/bin/python tools/lecture_stats.py [chapters/*.ipynb] [--json]

Counts the source of the notebooks (no build needed). A code cell is *visible* unless it is
tagged ``remove-input``, ``remove-cell`` or ``hide-input`` (folded behind a toggle). The issue's
targets: no visible bookkeeping call (``glue(``, ``claims.check(``: ``BOOKKEEPING_CALLS``), no visible
line over 88 characters;
``tests/test_html.py`` checks the same on the built pages.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HIDDEN_TAGS = {"remove-input", "remove-cell", "hide-input", "hide-cell"}
MAX_LINE = 88
# the book toolkit's bookkeeping calls, as chapters write them (``tests/test_lecture_stats.py`` checks
# that each still names a function of the library)
BOOKKEEPING_CALLS = ("glue", "claims.check")
BOOKKEEPING = re.compile(r"\b(?:" + "|".join(re.escape(c) for c in BOOKKEEPING_CALLS) + r")\(")


def chapter_stats(path: Path) -> dict:
    """``{"chapter", "code_cells", "visible_cells", "visible_lines", "bookkeeping_lines",
    "long_lines", "longest_cell"}`` of one notebook (blank lines not counted)."""
    nb = json.loads(Path(path).read_text())
    out = {"chapter": Path(path).stem, "code_cells": 0, "visible_cells": 0, "visible_lines": 0,
           "bookkeeping_lines": 0, "long_lines": 0, "longest_cell": 0}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        out["code_cells"] += 1
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = [line for line in src.splitlines() if line.strip()]
        out["visible_cells"] += 1
        out["visible_lines"] += len(lines)
        out["bookkeeping_lines"] += sum(bool(BOOKKEEPING.search(line)) for line in lines)
        out["long_lines"] += sum(len(line) > MAX_LINE for line in lines)
        out["longest_cell"] = max(out["longest_cell"], len(lines))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: chapters/*.ipynb of the book")
    parser.add_argument("--json", action="store_true", help="one JSON object per chapter")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    paths = [Path(p) for p in args.notebooks] or sorted((root / "chapters").glob("*.ipynb"))
    stats = [chapter_stats(p) for p in paths]
    if args.json:
        for s in stats:
            print(json.dumps(s))
        return 0
    cols = ("chapter", "visible_cells", "visible_lines", "bookkeeping_lines", "long_lines", "longest_cell")
    print(" | ".join(cols))
    for s in stats:
        print(" | ".join(str(s[c]) for c in cols))
    totals = {c: sum(s[c] for s in stats) for c in cols[1:4] + ("long_lines",)}
    print("total | " + " | ".join(f"{c} {v}" for c, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
