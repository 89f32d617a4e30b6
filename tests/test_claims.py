"""The claims registry and claims.check / claims.ledger."""

import json
from pathlib import Path

import pytest
import yaml

from companion import book, claims
from conservation_laws import ConservationLawsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def glued(monkeypatch):
    got = {}
    monkeypatch.setattr("myst_nb.glue", lambda k, v, display=True: got.__setitem__(k, v))
    return got


@pytest.fixture
def claims_dir(tmp_path, monkeypatch):
    d = tmp_path / "claims"
    monkeypatch.setenv("CONSERVATION_LAWS_CLAIMS_DIR", str(d))
    yield d
    claims.set_chapter(None)


def test_registry_ids_unique_across_files_and_sources_allowed():
    seen = {}
    for path in claims.registry_files():
        for entry in yaml.safe_load(path.read_text()):
            assert entry["id"] not in seen, f"{entry['id']} in {seen.get(entry['id'])} and {path.name}"
            seen[entry["id"]] = path.name
            assert entry["source"] in ("paper", "authors' code", "follow-up paper", "this book"), entry
            assert {"id", "statement", "source", "section"} <= set(entry), entry
            assert set(entry) <= {"id", "statement", "source", "section", "kind", "where"}, entry
    assert set(seen) == set(claims.registry())
    # the paper's claims C1..C14 are all registered
    assert {f"C{i}" for i in range(1, 15)} <= set(seen)


def test_every_registry_claim_says_how_it_is_known():
    """Each claim has a kind; a reference where one exists (the follow-up's statement number, the
    proof's label, the range a conjecture was verified on)."""
    missing = [i for i, e in claims.registry().items() if e.get("kind") not in claims.KINDS]
    assert not missing, f"registry claims without a kind (one of {', '.join(claims.KINDS)}): {missing}"
    for i, e in claims.registry().items():
        if e["kind"] in ("follow-up", "proved-here", "verified"):
            assert e.get("where"), f"{i}: a {e['kind']} claim says where ({e})"
        if e["kind"] == "follow-up":  # numbered as in the follow-up paper, never invented
            tags = ("Thm", "Prop", "Cor", "Remark", "Example", "Lem", "Section", "§", "Figure", "App")
            assert any(tag in e["where"] for tag in tags), f"{i}: where={e['where']!r} names no statement"
        if e["kind"] == "proved-here" and claims._LABEL.match(e["where"]):
            # a proof's label: a label of the chapter that shows it (or of the named chapter)
            m = claims._LABEL.match(e["where"])
            doc = m.group("doc")
            chapters = [ROOT / "chapters" / f"{doc}.ipynb"] if doc else sorted((ROOT / "chapters").glob("*.ipynb"))
            assert any(f"({m.group('label')})=" in p.read_text() for p in chapters), f"{i}: no label {e['where']}"


@pytest.mark.parametrize("entry, message", [
    ("{id: X1, statement: s, source: paper, section: a, kind: folklore}", "kind of X1='folklore'"),
    ("{id: X1, statement: s, source: paper, section: a, kind: paper, page: 3}", "keys"),
    ("{id: X1, statement: s, source: blog, section: a}", "source"),
    ("{id: X1, statement: s, source: paper}", "keys"),
])
def test_bad_registry_entry_is_rejected(tmp_path, entry, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"- {entry}\n")
    with pytest.raises(ConservationLawsError, match=message):
        claims.load_registry_file(bad)


def test_a_verified_claim_with_its_range_loads(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("- {id: X1, statement: s, source: paper, section: a, kind: verified, where: r <= 14}\n")
    assert claims.load_registry_file(good)[0]["kind"] == "verified"


def test_claims_box_and_ledger_show_the_kind(claims_dir, glued):
    claims.set_chapter("01_framework")
    claims.check("framework-rescaling", 1, 1, evidence="K equal")
    claims.check("framework-momentum-simulation", 1, 1, evidence="drifts")
    box = claims.table(claims.chapter_claims("01_framework")).data
    assert "how it is known" in box
    assert "claim-kind-proved-here" in box and ">proved here<" in box
    assert "href='#framework-rescaling'" in box  # the proof, on the same page
    assert ">numerical evidence<" in box and "RK4 in float64" in box
    claims.set_chapter("90_report")
    ledger = claims.ledger().data
    assert "href='01_framework.html#framework-rescaling'>the proof<" in ledger
    record = json.loads((claims_dir / "framework-rescaling.json").read_text())
    assert record["kind"] == "proved-here" and record["where"] == "framework-rescaling"


def _claim_ids_in_chapters() -> set[str]:
    """Every literal first argument of claims.record / claims.check in the chapters."""
    import ast
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # chapters' LaTeX strings such as "\;"
    ids = set()
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "\n".join(l for l in "".join(cell["source"]).splitlines() if not l.startswith(("%", "!")))
            for node in ast.walk(ast.parse(src)):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("record", "check") and getattr(node.func.value, "id", "") == "claims"
                        and node.args and isinstance(node.args[0], ast.Constant)):
                    ids.add(node.args[0].value)
    return ids


def test_every_claim_of_the_chapters_is_registered():
    missing = _claim_ids_in_chapters() - set(claims.registry())
    assert not missing, f"claims checked by chapters but not in the registry: {sorted(missing)}"


def test_registry_statements_are_balanced_math():
    for entry in claims.registry().values():
        text = entry["statement"].replace(r"\$", "")
        assert text.count("$") % 2 == 0, entry["id"]
        assert "notes" not in text.lower(), entry["id"]


def test_check_uses_the_registry_and_the_active_chapter(claims_dir, glued):
    claims.set_chapter("02_linear")
    c = claims.check("C1", computed=34, expected=34, evidence="34 of 34 shapes equal $r(r+1)/2$")
    assert c.status == "pass" and c.chapter == "02_linear" and c.source == "paper" and c.section == "linear-gf"
    assert c.statement == claims.registry()["C1"]["statement"]
    assert glued == {"claim-C1-value": 34, "claim-C1-status": "pass"}
    record = json.loads((claims_dir / "C1.json").read_text())
    assert record["evidence"].startswith("34 of 34") and record["status"] == "pass"
    assert claims.load_all()[0].id == "C1"
    bad = claims.check("C5", computed=[1, 2], expected=[1, 3], evidence="2 counts")
    assert bad.status == "fail"
    forced = claims.check("C6", computed=3.0, expected="≥ 1", evidence="a drift", passed=True)
    assert forced.status == "pass"
    with pytest.raises(AssertionError, match="C5"):
        claims.require_all_pass("02_linear")


def test_check_numpy_values(claims_dir, glued):
    np = pytest.importorskip("numpy")
    claims.set_chapter("02_linear")
    c = claims.check("C2", np.array([6, 7]), [6, 7], evidence="two nets")
    assert c.status == "pass" and c.value == [6, 7]


def test_check_rejects_bad_input(claims_dir, glued):
    claims.set_chapter(None)
    with pytest.raises(ConservationLawsError, match="chapter"):
        claims.check("C1", 0, 0, evidence="x")
    claims.set_chapter("02_linear")
    with pytest.raises(ConservationLawsError, match="claim_id='nope'"):
        claims.check("nope", 0, 0, evidence="x")
    with pytest.raises(ConservationLawsError, match="evidence"):
        claims.check("C1", 0, 0, evidence="")


def test_ledger_renders_math_links_and_plain_status(claims_dir, glued):
    claims.set_chapter("02_linear")
    claims.check("linear-gf-large-r", 0, 0, evidence="0 of 12 shapes differ from $kr - k(k-1)/2$")
    claims.check("C1", 1, 0, evidence="1 of 34 shapes differs from $r(r+1)/2$")
    claims.set_chapter("90_report")  # the report shows the ledger
    html = claims.ledger().data
    assert html.index(">C1<") < html.index(">linear-gf-large-r<")  # paper claims first
    assert "href='02_linear.html#linear-gf'" in html
    assert r"\(r(r+1)/2\)" in html and r"\(U^\top U - V^\top V\)" in html
    assert "FAIL" in html and ">pass<" in html
    assert "$" not in html
    assert "overflow-wrap:break-word" in html
    html = claims.ledger(exclude_chapter="02_linear").data
    assert "<tbody></tbody>" in html
    claims.set_chapter("02_linear")
    assert "<tbody></tbody>" in claims.ledger().data  # by default, the chapter showing it is left out
    assert ">C1<" in claims.ledger(exclude_chapter=None).data


def test_a_claim_shows_nothing_when_a_cell_ends_with_check(claims_dir, glued):

    claims.set_chapter("02_linear")
    c = claims.check("C1", 0, 0, evidence="all shapes agree")
    assert c._ipython_display_() is None
    assert "Claim(" in repr(c)  # the terminal still sees the record
