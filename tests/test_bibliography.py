"""The bibliography: references.bib parses, is configured, and holds every key the book cites."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
# {cite}`a,b`, {cite:p}`a`, {cite:t}`a`; keys separated by commas
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def _entries():
    pybtex = pytest.importorskip("pybtex.database")
    return pybtex.parse_file(str(BIB), bib_format="bibtex").entries


def _texts():
    """The Markdown of every page: .md files and the markdown cells of the notebooks."""
    for path in sorted([*ROOT.glob("*.md"), *ROOT.glob("*.ipynb"), *(ROOT / "chapters").glob("*")]):
        if path.suffix == ".md":
            yield path.name, path.read_text(encoding="utf-8")
        elif path.suffix == ".ipynb":
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
                if cell["cell_type"] == "markdown":
                    src = cell["source"]
                    yield path.name, "".join(src) if isinstance(src, list) else src


def test_bibliography_is_configured_and_listed():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinxcontrib.bibtex" in config["sphinx"]["config"]["extensions"]
    assert config["bibtex_bibfiles"] == ["references.bib"]
    page = (ROOT / "chapters" / "97_references.md").read_text()
    assert "```{bibliography}" in page and ":all:" in page
    assert "chapters/97_references" in (ROOT / "_toc.yml").read_text()


def test_entries_are_complete():
    entries = _entries()
    assert len(entries) >= 25
    for key, e in entries.items():
        assert e.fields.get("title") and e.fields.get("year"), key
        assert e.persons.get("author"), key
        if e.type == "article":
            assert e.fields.get("journal"), key
        if e.type == "inproceedings":
            assert e.fields.get("booktitle"), key
        for field in ("url", "doi"):  # plain links only: no page may load them
            value = e.fields.get(field, "")
            assert " " not in value.strip(), (key, field)


def test_the_three_papers_and_their_identifiers():
    entries = _entries()
    assert "2405.12888" in entries["marcotte2024keep"].fields["eprint"]
    assert "2307.00144" in entries["marcotte2023abide"].fields["eprint"]
    assert "2506.06194" in entries["marcotte2025transformative"].fields["eprint"]
    assert entries["marcotte2024code"].fields["url"].endswith("sibyllema/Conservation_laws_ICML")


def test_every_cited_key_exists():
    keys = set(_entries())
    missing = {(name, k.strip()) for name, text in _texts() for m in CITE.finditer(text)
               for k in m.group(1).split(",") if k.strip() not in keys}
    assert not missing, f"cited but not in references.bib: {sorted(missing)}"
