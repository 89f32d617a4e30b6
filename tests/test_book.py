"""The book toolkit: start (parameters → provenance), glue, table, finish."""

import json

import pytest

from companion import book, claims, provenance
from conservation_laws import ConservationLawsError


def _notebook(root, stem, params_source):
    (root / "_config.yml").write_text("title: t\n")
    (root / "chapters").mkdir(exist_ok=True)
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# t"]},
                    {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": params_source,
                     "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = root / "chapters" / f"{stem}.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def book_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONSERVATION_LAWS_PROVENANCE_DIR", str(tmp_path / "prov"))
    monkeypatch.setenv("CONSERVATION_LAWS_CLAIMS_DIR", str(tmp_path / "claims"))
    yield tmp_path
    claims.set_chapter(None)


def test_parameter_names_reads_every_assignment(book_root):
    path = _notebook(book_root, "12_x", ["r_max = 10  # widths\n", "seed, data_seed = 0, 1\n",
                                          "taus: list = [0, 2]\n", "import math\n", "x = math.pi\n"])
    assert book.parameter_names(path) == ["r_max", "seed", "data_seed", "taus", "x"]


def test_start_records_every_parameter_with_the_namespace_values(book_root, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    _notebook(book_root, "12_x", "r_max = 10\nseed = 0\nfrac = 0.5\n")
    namespace = {"r_max": 6, "seed": 3, "frac": 0.5, "other": 1}  # as after `papermill -p r_max 6 -p seed 3`
    book.start("12_x", namespace)
    record = json.loads((book_root / "prov" / "12_x.json").read_text())
    assert record["parameters"] == {"r_max": 6, "seed": 3, "frac": 0.5}
    assert record["seeds"] == {"seed": 3}
    assert provenance.load_parameters() == {"12_x": {"r_max": 6, "seed": 3, "frac": 0.5}}
    assert provenance.load_seeds() == {"12_x": {"seed": 3}}
    assert claims.active_chapter() == "12_x"
    import io

    from tqdm import tqdm

    assert __import__("os").environ["TQDM_DISABLE"] == "1"  # progress bars stay in the terminal
    out = io.StringIO()
    list(tqdm(range(3), file=out))
    assert out.getvalue() == ""


def test_start_rejects_missing_chapter_and_parameters(book_root):
    _notebook(book_root, "12_x", "r_max = 10\n")
    with pytest.raises(ConservationLawsError, match="chapter='13_y'"):
        book.start("13_y", {})
    with pytest.raises(ConservationLawsError, match="r_max"):
        book.start("12_x", {})


def test_a_notebook_at_the_book_root_is_a_chapter_too(book_root):
    """The landing page (``intro.ipynb``, the toc's root) starts like a chapter."""
    path = _notebook(book_root, "intro", "pairs = [[1, 2]]\n")
    path.rename(book_root / "intro.ipynb")
    assert book.chapter_path("intro") == book_root / "intro.ipynb"
    book.start("intro", {"pairs": [[1, 2]]})
    assert provenance.load_parameters() == {"intro": {"pairs": [[1, 2]]}}
    _notebook(book_root, "intro", "pairs = [[2, 3]]\n")  # chapters/ wins over the root
    assert book.chapter_path("intro") == book_root / "chapters" / "intro.ipynb"


def test_glue_many(monkeypatch):
    got = []
    monkeypatch.setattr(book, "_glue_one", lambda k, v: got.append((k, v)))
    book.glue({"linear-count": 3, "linear-seconds": 0.5})
    assert got == [("linear-count", 3), ("linear-seconds", 0.5)]
    with pytest.raises(ConservationLawsError, match="glue key"):
        book.glue({"two words": 1})
    with pytest.raises(ConservationLawsError, match="values"):
        book.glue([("a", 1)])


def test_table_escapes_keeps_math_and_wraps():
    html = book.table(["shape $(n, r, m)$", "N", "ok"],
                      [["<b>x</b> & y", 3, True], [r"$U^\top U < 1$", 0.123456, None]],
                      caption="Counts of $N_{\\mathrm{GF}}$").data
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html and "<b>" not in html
    assert r"\(U^\top U &lt; 1\)" in html and r"\((n, r, m)\)" in html
    assert ">0.1235<" in html and ">yes<" in html and ">—<" in html
    assert "<caption" in html and r"\(N_{\mathrm{GF}}\)" in html
    assert "overflow-wrap:break-word" in html and "max-width:100%" in html
    assert "mathjax_process" in html  # MyST's MathJax typesets only inside this class
    # every cell is its own element: numbers never run into labels
    assert "<td style='" in html and html.count("<td") == 6 and html.count("<th ") == 3


def test_long_words_may_break_anywhere_short_ones_do_not():
    html = book.table(["a", "b"], [["x" * 60, "pass"]]).data
    cells = html.split("<td ")[1:]
    assert "anywhere" in cells[0] and "anywhere" not in cells[1]


def test_table_rejects_ragged_rows():
    with pytest.raises(ConservationLawsError, match=r"rows\[1\]"):
        book.table(["a", "b"], [[1, 2], [3]])


def test_dollar_without_math_is_kept():
    assert book.html_text("costs $5") == "costs $5"
    assert book.html_text("$a$ and $b$") == r"\(a\) and \(b\)"


def test_finish_displays_and_raises_on_failure(book_root, monkeypatch):
    _notebook(book_root, "12_x", "seed = 0\n")
    monkeypatch.setattr("myst_nb.glue", lambda *a, **k: None)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    book.start("12_x", {"seed": 0})
    claims.check("C1", 0, 0, evidence="all shapes agree")
    book.finish()
    assert "C1" in shown[-1].data
    claims.check("C5", 1, 0, evidence="one shape differs")
    with pytest.raises(AssertionError, match="C5"):
        book.finish()


def test_build_summary_shows_the_book_chapters_parameters(book_root):
    provenance.record_parameters("02_linear", {"r_max": 6, "seed": 3})
    provenance.record_parameters("03_relu", {"seed": 1})
    provenance.record_parameters("10_removed", {"seed": 9})
    info = provenance.build_summary(["02_linear", "03_relu"])
    assert info["parameters"] == {"02_linear": {"r_max": 6, "seed": 3}, "03_relu": {"seed": 1}}
    assert info["seeds"] == {"02_linear": {"seed": 3}, "03_relu": {"seed": 1}}
    assert set(info["runs"]["02_linear"]) == {"date", "run"}
    path = provenance.write_summary(info)
    assert json.loads(path.read_text())["parameters"]["02_linear"]["r_max"] == 6
