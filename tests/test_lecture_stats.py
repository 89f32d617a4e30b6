"""tools/lecture_stats.py: what a reader sees of a chapter's code."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import lecture_stats  # noqa: E402


def test_counts_only_visible_cells(tmp_path):
    cells = [
        {"cell_type": "code", "metadata": {}, "source": "x = 1\n\nglue('a', x, display=False)\n" + "y" * 89},
        {"cell_type": "code", "metadata": {"tags": ["remove-input"]}, "source": "book.glue({'b': 2})\n" + "z" * 100},
        {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "claims.check('C1', 1, 1, 'e')"},
        {"cell_type": "markdown", "metadata": {}, "source": "w" * 200},
    ]
    path = tmp_path / "12_x.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert lecture_stats.chapter_stats(path) == {"chapter": "12_x", "code_cells": 3, "visible_cells": 1,
                                                 "visible_lines": 3, "bookkeeping_lines": 1, "long_lines": 1,
                                                 "longest_cell": 3}


def test_bookkeeping_names_exist():
    """Every call the statistics count as bookkeeping is a function the chapters can call today."""
    import importlib

    def module(name: str):  # the book's machinery: package ``companion`` (issue 20), else the library
        for package in ("companion", "conservation_laws"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError:
                continue
        raise AssertionError(f"no module {name} in companion or conservation_laws")

    for call in lecture_stats.BOOKKEEPING_CALLS:
        owner, _, name = call.rpartition(".")
        assert callable(getattr(module(owner or "book"), name, None)), f"{call} is no longer a function"
    chapter = "\n".join(["book.glue({'a': 1})", "claims.check('C1', 1, 1, 'e')", "claims.record('C1')"])
    assert [bool(lecture_stats.BOOKKEEPING.search(line)) for line in chapter.splitlines()] == [True, True, False]
