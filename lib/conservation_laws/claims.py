"""The claims ledger: each claim of the paper (or finding of this book) is recorded once, here.

``record`` glues ``claim-<id>-value`` and ``claim-<id>-status`` into the chapter and writes a JSON
record under ``_build/claims/`` (or ``$CONSERVATION_LAWS_CLAIMS_DIR``) from which the reproduction
report assembles its table. ``require_all_pass`` ends a chapter: it raises, and so fails the build,
if any claim recorded by that chapter failed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

SOURCES = ("paper", "book")


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

    def as_row(self) -> dict:
        return {"claim": self.id, "statement": self.statement, "computed": self.value, "expected": self.expected,
                "status": self.status, "source": "paper" if self.source == "paper" else "this book"}


_recorded: dict[str, list[Claim]] = {}


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``_config.yml`` (the book's root), searched upwards from ``start`` or the cwd."""
    here = (start or Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "_config.yml").exists():
            return p
    return here


def claims_dir() -> Path:
    env = os.environ.get("CONSERVATION_LAWS_CLAIMS_DIR")
    d = Path(env) if env else project_root() / "_build" / "claims"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    return x


def record(claim_id: str, statement: str, value: Any, expected: Any, source: str, chapter: str,
           section: str = "", check: Callable[[Any, Any], bool] | None = None, glue: bool = True) -> Claim:
    """Record a claim; ``check(value, expected)`` decides pass/fail (default: equality)."""
    from .errors import invalid

    if source not in SOURCES:
        raise invalid("source", source, "'paper' (the paper states it) or 'book' (this book's own finding)")
    ok = check(value, expected) if check else value == expected
    claim = Claim(claim_id, statement, _jsonable(value), _jsonable(expected), "pass" if ok else "fail", source, chapter, section)
    _recorded.setdefault(chapter, [c for c in _recorded.get(chapter, []) if c.id != claim_id])
    _recorded[chapter] = [c for c in _recorded[chapter] if c.id != claim_id] + [claim]
    (claims_dir() / f"{claim_id}.json").write_text(json.dumps(asdict(claim), indent=1))
    if glue:
        from myst_nb import glue as _glue

        _glue(f"claim-{claim_id}-value", claim.value, display=False)
        _glue(f"claim-{claim_id}-status", claim.status, display=False)
    return claim


def chapter_claims(chapter: str) -> list[Claim]:
    return list(_recorded.get(chapter, []))


def load_all(directory: Path | None = None) -> list[Claim]:
    """Every record on disk (the report's ledger), sorted by chapter then id."""
    d = directory or claims_dir()
    out = [Claim(**json.loads(p.read_text())) for p in sorted(d.glob("*.json"))]
    return sorted(out, key=lambda c: (c.chapter, c.id))


def status_html(status: str) -> str:
    """A pass/fail mark that needs no emoji font: green "pass", red bold "FAIL"."""
    if status == "pass":
        return "<span style='color:#009E73'>&#10003;&nbsp;pass</span>"
    return "<span style='color:#D55E00;font-weight:bold'>&#10007;&nbsp;FAIL</span>"


def table(claims: list[Claim]):
    """A pandas-free HTML table of claims, for display in a chapter's closing box."""
    from IPython.display import HTML

    rows = "".join(
        f"<tr><td>{c.id}</td><td>{c.statement}</td><td>{c.value}</td><td>{c.expected}</td>"
        f"<td>{status_html(c.status)}</td><td>{'paper' if c.source == 'paper' else 'this book'}</td></tr>"
        for c in claims
    )
    return HTML("<table class='claims'><thead><tr><th>claim</th><th style='min-width:18em'>statement</th><th>computed</th><th>expected</th>"
                f"<th>status</th><th>source</th></tr></thead><tbody>{rows}</tbody></table>")


def require_all_pass(chapter: str) -> None:
    failed = [c.id for c in chapter_claims(chapter) if c.status != "pass"]
    if failed:
        raise AssertionError(f"claims failed in {chapter}: {failed}")
