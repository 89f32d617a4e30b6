"""Sphinx extension for this book's build (listed in ``_config.yml``).

1. Marks the build for the notebooks it executes: ``CONSERVATION_LAWS_BOOK_BUILD=1`` in the environment
   that the kernels inherit, so that ``provenance.record_parameters`` can say whether a record comes from a
   book build or from a run by hand (papermill, the tests).
2. Re-reads (and so re-executes) the documents named in the ``always_reread`` config value on every
   build. Sphinx re-reads a document only when its source changed, so an incremental ``make book``
   would otherwise keep a stale provenance page (or reproduction report) whose own source did not
   change while the chapters it summarises did. Pair it with ``"mystnb": {"execution_mode": "force"}``
   in the notebook's metadata so that the re-read re-executes instead of reusing the execution cache.
   Names that are not in the book are ignored.
3. Adds the book's stylesheet, ``tools/static/book.css`` (code cells fit 88 characters in the
   article column at a 1280 px window; ``tests/test_html.py`` measures it).
"""

from __future__ import annotations

import os
from pathlib import Path

BOOK_BUILD_ENV = "CONSERVATION_LAWS_BOOK_BUILD"


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    return [d for d in app.config.always_reread if d in env.found_docs and d not in added | changed]


STATIC = Path(__file__).resolve().parent / "static"


def _add_static(app) -> None:
    if str(STATIC) not in app.config.html_static_path:
        app.config.html_static_path.append(str(STATIC))


def setup(app):
    os.environ[BOOK_BUILD_ENV] = "1"
    app.connect("builder-inited", _add_static)
    app.add_css_file("book.css")
    app.add_config_value("always_reread", [], "env", [list])
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
