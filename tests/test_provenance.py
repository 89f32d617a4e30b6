"""Provenance records: seeds per chapter, the build summary, the book's table of contents."""

import json

import pytest

from companion import provenance
from conservation_laws import ConservationLawsError


@pytest.fixture
def prov_dir(tmp_path, monkeypatch):
    d = tmp_path / "provenance"
    monkeypatch.setenv("CONSERVATION_LAWS_PROVENANCE_DIR", str(d))
    monkeypatch.delenv("CONSERVATION_LAWS_BOOK_BUILD", raising=False)
    return d


def test_record_and_load_parameters_and_seeds(prov_dir, monkeypatch):
    np = pytest.importorskip("numpy")
    path = provenance.record_parameters("02_linear", {"seed": np.int64(3), "data_seeds": np.arange(2), "r": 4})
    assert path == prov_dir / "02_linear.json"
    entry = json.loads(path.read_text())
    assert entry["parameters"] == {"seed": 3, "data_seeds": [0, 1], "r": 4}
    assert entry["seeds"] == {"seed": 3, "data_seeds": [0, 1]} and entry["run"].startswith("by hand")
    monkeypatch.setenv("CONSERVATION_LAWS_BOOK_BUILD", "1")
    provenance.record_parameters("01_framework", {})
    (prov_dir / "broken.json").write_text("{not json")
    (prov_dir / "seeds_only.json").write_text(json.dumps({"chapter": "seeds_only", "seeds": {"seed": 1}}))
    assert provenance.load_seeds() == {"01_framework": {}, "02_linear": {"seed": 3, "data_seeds": [0, 1]}}
    assert provenance.load_records()["01_framework"]["run"] == "book build"
    assert provenance.load_seeds(chapters=["02_linear"]) == {"02_linear": {"seed": 3, "data_seeds": [0, 1]}}
    assert provenance.load_parameters(chapters=["02_linear"]) == {"02_linear": {"seed": 3, "data_seeds": [0, 1],
                                                                                 "r": 4}}


@pytest.mark.parametrize("chapter", ["", "a/b", ".hidden", "_private", 3])
def test_record_parameters_rejects_bad_chapter(prov_dir, chapter):
    with pytest.raises(ConservationLawsError, match="chapter="):
        provenance.record_parameters(chapter, {"seed": 0})


def test_record_parameters_rejects_non_dict(prov_dir):
    with pytest.raises(ConservationLawsError, match="parameters="):
        provenance.record_parameters("02_linear", [0])


def test_collect_has_every_field():
    info = provenance.collect({"02_linear": {"seed": 0}})
    assert set(info) == {"date", "git_revision", "python", "machine", "packages", "seeds"}
    assert set(info["packages"]) == set(provenance.PACKAGES)
    assert "logical cores" in info["machine"]


def test_toc_documents(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: chapters/01_a\n        sections:\n          - file: chapters/01_b.ipynb\n"
        "  - caption: B\n    chapters:\n      - file: chapters/99_provenance\n")
    assert provenance.toc_documents(tmp_path) == ["intro", "chapters/01_a", "chapters/01_b", "chapters/99_provenance"]
    assert provenance.toc_chapters(tmp_path) == ["intro", "01_a", "01_b", "99_provenance"]


def test_html_table_escapes():
    html = provenance.html_table(("name", "value"), {"<b>": "a&b"}).data
    assert "&lt;b&gt;" in html and "a&amp;b" in html and ">name</th>" in html and "<code>a&amp;b</code>" in html
