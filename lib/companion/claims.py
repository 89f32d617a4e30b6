"""The claims ledger: the paper's claims and this book's findings are data, checked by the chapters.

The *registry* (``companion/registry/*.yaml``, one file per chapter or topic) holds every
claim once: its id, its statement in MyST/LaTeX math, its source (``paper``, ``authors' code``,
``follow-up paper`` or ``this book``), the label of the section that shows it, and how it is known:
its ``kind`` (one of ``KINDS``) and ``where`` (the paper's section, the follow-up's statement number,
the label of the proof in the book, or the range a conjecture was verified on). A chapter checks
a claim with one call, ``check(claim_id, computed, expected, evidence)``: it glues
``claim-<id>-value`` and ``claim-<id>-status`` and writes a JSON record under ``_build/claims/`` (or
``$CONSERVATION_LAWS_CLAIMS_DIR``), from which the reproduction report assembles the ledger
(``ledger()``). ``book.finish()`` ends a chapter: it raises, and so fails the build, if any claim the
chapter checked failed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from conservation_laws.errors import invalid

from .common import claims_dir, jsonable, project_root  # noqa: F401 (claims.project_root: chapters' API)
from .tables import RawHTML, html_text
from .tables import table as book_table

#: The sources a registry entry may name.
SOURCES = ("paper", "authors' code", "follow-up paper", "this book")
REGISTRY_KEYS = ("id", "statement", "source", "section")
#: Optional keys of an entry: ``kind`` (how the claim is known) and ``where`` (its reference).
#: ``tests/test_claims.py`` requires both of every entry of the registry.
OPTIONAL_KEYS = ("kind", "where")

#: How a claim is known, and the words the claims box and the ledger show for it:
#: ``paper``: stated in the paper (``where``: its section, e.g. "Section 4.1.1", or "abstract");
#: ``follow-up``: stated in the follow-up paper (``where``: its statement number, e.g. "Thm 3.6");
#: ``proved-here``: proved in this book (``where``: the MyST label of the proof, ``label`` or
#: ``chapters/NN_name#label``, made a link);
#: ``verified``: a conjecture of this book checked on a stated range (``where``: the range, e.g.
#: "$r \le 14$", with any proved bound);
#: ``numerical``: numerical evidence (simulations, floating-point ranks; ``where``: what was run).
KINDS = {"paper": "paper", "follow-up": "follow-up paper", "proved-here": "proved here",
         "verified": "verified", "numerical": "numerical evidence"}
#: A ``where`` that names a label of the book (no spaces): ``label`` or ``chapters/NN_name#label``.
_LABEL = re.compile(r"^(?:(?:chapters/)?(?P<doc>[\w.-]+)#)?(?P<label>[A-Za-z][\w-]*)$")


@dataclass
class Claim:
    id: str
    statement: str
    value: Any
    expected: Any
    status: str
    source: str
    chapter: str
    section: str = ""
    evidence: str = ""
    kind: str = ""
    where: str = ""

    def _ipython_display_(self) -> None:
        """Nothing on the page when a cell ends with ``claims.check(...)``: the record is
        bookkeeping, and ``book.finish()`` shows every claim of the chapter in its box."""

    def as_row(self) -> dict:
        return {"claim": self.id, "statement": self.statement, "computed": self.value, "expected": self.expected,
                "status": self.status, "source": source_label(self.source), "evidence": self.evidence,
                "kind": self.kind, "where": self.where}


_recorded: dict[str, list[Claim]] = {}
_active_chapter: str | None = None


def _store(claim: Claim, glue: bool = True) -> Claim:
    """Keep ``claim`` for its chapter's box, write its JSON record and glue its value and status."""
    _recorded[claim.chapter] = [c for c in _recorded.get(claim.chapter, []) if c.id != claim.id] + [claim]
    (claims_dir() / f"{claim.id}.json").write_text(json.dumps(asdict(claim), indent=1, default=str))
    if glue:
        from myst_nb import glue as _glue

        _glue(f"claim-{claim.id}-value", claim.value, display=False)
        _glue(f"claim-{claim.id}-status", claim.status, display=False)
    return claim


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

def registry_files() -> list[Path]:
    """The registry's YAML files (package data of ``companion.registry``), sorted by name."""
    from importlib import resources

    folder = resources.files("companion") / "registry"
    return sorted((Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


def load_registry_file(path: Path) -> list[dict]:
    """The entries of one registry file, each checked: the keys id, statement, source, section (and
    optionally kind, where); an allowed source and kind. Adds ``topic`` (the file's stem)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(data, list):
        raise invalid(f"registry {Path(path).name}", type(data).__name__, "a YAML list of claim entries")
    out = []
    for entry in data:
        if (not isinstance(entry, dict) or not set(REGISTRY_KEYS) <= set(entry)
                or not set(entry) <= set(REGISTRY_KEYS + OPTIONAL_KEYS)):
            raise invalid(f"registry {Path(path).name} entry", entry,
                          f"a mapping with the keys {', '.join(REGISTRY_KEYS)} and optionally {', '.join(OPTIONAL_KEYS)}")
        if entry["source"] not in SOURCES:
            raise invalid(f"registry {Path(path).name} source of {entry['id']}", entry["source"], f"one of {', '.join(SOURCES)}")
        if "kind" in entry and entry["kind"] not in KINDS:
            raise invalid(f"registry {Path(path).name} kind of {entry['id']}", entry["kind"], f"one of {', '.join(KINDS)}")
        if not all(isinstance(entry[k], str) and entry[k].strip() for k in entry):
            raise invalid(f"registry {Path(path).name} entry", entry,
                          "non-empty strings for id, statement, source, section, kind, where")
        out.append({**entry, "topic": Path(path).stem})
    return out


@lru_cache(maxsize=1)
def _registry_cached(files: tuple[tuple[str, int], ...]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for f, _mtime in files:
        for entry in load_registry_file(Path(f)):
            if entry["id"] in out:
                raise invalid("claim id", entry["id"], f"unique across the registry (in {out[entry['id']]['topic']}.yaml "
                              f"and {entry['topic']}.yaml)")
            out[entry["id"]] = entry
    return out


def registry() -> dict[str, dict]:
    """Every registry entry, ``{id: {id, statement, source, section, topic}}``; ids unique across files."""
    files = registry_files()
    return _registry_cached(tuple((str(p), p.stat().st_mtime_ns) for p in files))  # re-read when a file changes


def set_chapter(chapter: str | None) -> None:
    """Make ``chapter`` the one ``check`` records claims for (``book.start`` calls it)."""
    global _active_chapter
    _active_chapter = chapter
    if chapter is not None:
        _recorded[chapter] = []


def active_chapter() -> str | None:
    return _active_chapter


def check(claim_id: str, computed: Any, expected: Any, evidence: str, passed: bool | None = None) -> Claim:
    """Check a registered claim: ``passed`` (default ``computed == expected``) decides its status.

    The statement, source and section come from the registry; the chapter is the one ``book.start``
    set. Glues ``claim-<id>-value`` (``computed``) and ``claim-<id>-status`` (``pass`` or ``fail``),
    writes ``claims_dir()/<id>.json`` and returns the record. ``evidence`` is a sentence a reader
    understands, e.g. ``"34 of 34 shapes equal $r(r+1)/2$"`` (MyST math allowed).
    """
    entries = registry()
    if claim_id not in entries:
        raise invalid("claim_id", claim_id, "an id of the claims registry (companion/registry/*.yaml)")
    if _active_chapter is None:
        raise invalid("chapter", None, "a chapter started with book.start(chapter, globals()) before claims.check")
    if not isinstance(evidence, str) or not evidence.strip():
        raise invalid("evidence", evidence, "a sentence saying what was computed, e.g. '34 of 34 shapes equal r(r+1)/2'")
    value, target = jsonable(computed), jsonable(expected)
    if passed is None:
        passed = value == target
    if not isinstance(passed, bool):
        try:
            passed = bool(passed)
        except (TypeError, ValueError):
            raise invalid("passed", passed, "True, False or None (None: computed == expected)") from None
    entry = entries[claim_id]
    claim = Claim(claim_id, entry["statement"], value, target, "pass" if passed else "fail", entry["source"],
                  _active_chapter, entry["section"], evidence, entry.get("kind", ""), entry.get("where", ""))
    return _store(claim)


def chapter_claims(chapter: str) -> list[Claim]:
    return list(_recorded.get(chapter, []))


def load_all(directory: Path | None = None) -> list[Claim]:
    """Every record on disk (the report's ledger), sorted by chapter then id."""
    d = directory or claims_dir()
    out = [Claim(**json.loads(p.read_text())) for p in sorted(d.glob("*.json"))]
    return sorted(out, key=lambda c: (c.chapter, c.id))


def source_label(source: str) -> str:
    """The source as the ledger shows it (``book``, the old name, is ``this book``)."""
    return "this book" if source == "book" else source


def status_html(status: str) -> str:
    """A pass/fail mark in plain text (no emoji font needed): green "pass", red bold "FAIL"."""
    if status == "pass":
        return "<span class='claim-pass' style='color:#007A5A'>pass</span>"
    return "<span class='claim-fail' style='color:#D55E00;font-weight:bold'>FAIL</span>"


LEDGER_HEADER = ("claim", "statement, and the evidence computed", "status", "how it is known")


def kind_html(c: Claim, page: str | None = None) -> str:
    """How ``c`` is known, as the claims box and the ledger show it: the kind in words (a badge,
    class ``claim-kind-<kind>``) and its reference under it. A proof's label becomes a link, to
    ``#label`` on the claim's own page (``page`` None) or to ``<chapter>.html#label`` from another
    page. A record without a kind (an older run) shows its source."""
    from html import escape

    if c.kind not in KINDS:
        return escape(source_label(c.source))
    # the badge wraps between its words: unbroken, "numerical evidence" made the ledger's last
    # column 175 px wide, and the ledger overflowed the book's column (tests/test_html.py)
    badge = (f"<span class='claim-kind claim-kind-{c.kind}' style='font-weight:600'>"
             f"{KINDS[c.kind]}</span>")
    if not c.where:
        return badge
    m = _LABEL.match(c.where) if c.kind == "proved-here" else None
    if m:
        doc = m.group("doc") or c.chapter
        href = f"#{m.group('label')}" if page is None and doc == c.chapter else f"{doc}.html#{m.group('label')}"
        ref = f"<a href='{escape(href)}'>the proof</a>"
    else:
        ref = html_text(c.where)
    return f"{badge}<br><span class='claim-where' style='font-size:0.92em'>{ref}</span>"


def _statement_cell(c: Claim) -> RawHTML:
    """The statement (MathJax) with the evidence sentence under it, in one cell: two columns of
    unbreakable formulas side by side would not fit the book's column."""
    evidence = c.evidence or _computed_text(c)
    return RawHTML(f"{html_text(c.statement)}<br><span class='claim-evidence' style='font-size:0.92em;opacity:0.85'>"
                f"Evidence: {html_text(evidence)}</span>")


def table(claims: list[Claim]):
    """The chapter's claims box: id, statement (MathJax) with its evidence, status, source."""
    rows = [(c.id, _statement_cell(c), RawHTML(status_html(c.status)), RawHTML(kind_html(c))) for c in claims]
    return book_table(LEDGER_HEADER, rows, css_class="claims")


def _computed_text(c: Claim) -> str:
    return f"computed {c.value}, expected {c.expected}"


def _paper_order(c: Claim) -> tuple:
    number = int(c.id[1:]) if c.id[:1] == "C" and c.id[1:].isdigit() else 0
    return (c.source != "paper", number, c.chapter, c.id)


def ledger(records: list[Claim] | None = None, exclude_chapter: str | None = "active"):
    """The reproduction report's table of every claim record: the paper's claims first (C1, C2, ...),
    then the others by chapter. Columns: claim (a link to ``<chapter>.html#<section>``), statement
    (MathJax) with the evidence sentence under it, status (pass / FAIL in words), how it is known
    (the kind, with the paper's section, the statement number, a link to the proof or the range). Fits the
    book's column (cells wrap; ``tests/test_html.py`` measures it at 1280 px).

    ``records`` defaults to every record on disk (``load_all``); the records of ``exclude_chapter``
    are left out, by default those of the chapter that shows the ledger (the one ``book.start``
    set), whose own checks come after the ledger and would otherwise be read from an older run.
    """
    from html import escape

    if exclude_chapter == "active":
        exclude_chapter = _active_chapter
    claims = records if records is not None else load_all()
    claims = sorted((c for c in claims if c.chapter != exclude_chapter), key=_paper_order)
    rows = []
    for c in claims:
        anchor = f"#{escape(c.section)}" if c.section else ""
        link = RawHTML(f"<a href='{escape(c.chapter)}.html{anchor}'>{escape(c.id)}</a>")
        rows.append((link, _statement_cell(c), RawHTML(status_html(c.status)), RawHTML(kind_html(c, page="ledger"))))
    return book_table(LEDGER_HEADER, rows, css_class="claims ledger")


def require_all_pass(chapter: str) -> None:
    failed = [c.id for c in chapter_claims(chapter) if c.status != "pass"]
    if failed:
        raise AssertionError(f"claims failed in {chapter}: {failed}")
