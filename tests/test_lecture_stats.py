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
        {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "claims.record('C1')"},
        {"cell_type": "markdown", "metadata": {}, "source": "w" * 200},
    ]
    path = tmp_path / "12_x.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert lecture_stats.chapter_stats(path) == {"chapter": "12_x", "code_cells": 3, "visible_cells": 1,
                                                 "visible_lines": 3, "bookkeeping_lines": 1, "long_lines": 1,
                                                 "longest_cell": 3}
