"""The book's certificate tally: every count a chapter makes, with its certificate, written for the report.

The library keeps no log: ``conservation_laws.engine.lie.count_laws`` announces each result on the
logger ``lie.COUNT_LOGGER``. A :class:`CertificateCollector` is a ``logging.Handler`` that keeps the
results while it is installed; ``book.start`` installs one per chapter and ``book.finish`` writes its
records to ``<claims dir>/certificates/<chapter>.json``, which the reproduction report reads back
with :func:`load_logs` and sums with ``lie.summarise_certificates``.

A count proved afterwards (``prove_by_laws``, which returns a proved copy announced as replacing the
count, through ``darboux.prove_count`` or ``laws.polynomial_laws``) shows as proved.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from conservation_laws.engine import lie

from .common import claims_dir

RECORD_KEYS = ("certificate", "how", "failure_bound", "laws", "dimension", "fingerprint", "flow", "model",
               "model_name", "dims", "tau", "weight_decay", "geometry", "rank")


def record_of(result: lie.LieResult) -> dict:
    """The small record of one count: certificate, how, failure_bound, laws, dimension, fingerprint,
    flow (the flow's kind, with " + weight decay" when it has one), model (its description), and
    the case for the book's table of every count: model_name, dims, tau (momentum's friction, "3/t"
    for Nesterov, "" otherwise), weight_decay, geometry and rank (K, so that laws = dimension − rank)."""
    case = {"model_name": "", "dims": [], "tau": "", "weight_decay": "0", "geometry": "", **result.case}
    return {"certificate": result.certificate, "how": result.certificate_how,
            "failure_bound": result.failure_bound, "laws": result.laws, "dimension": result.dimension,
            "fingerprint": result.fingerprint, "flow": result.flow_kind, "model": result.model_description,
            **case, "rank": result.rank}


class CertificateCollector(logging.Handler):
    """Keeps every ``LieResult`` that ``count_laws`` announces while installed.

    >>> with CertificateCollector() as seen:
    ...     _ = lie.count_laws("linear", "gradient", dims=[1, 1, 1])
    >>> [r["laws"] for r in seen.records()]
    [1]
    """

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.results: list[lie.LieResult] = []
        self._level_before: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        result = getattr(record, "lie_result", None)
        if not isinstance(result, lie.LieResult):
            return
        replaces = getattr(record, "replaces", None)
        for i, seen in enumerate(self.results):
            if replaces is not None and seen is replaces:  # a count proved later: keep the proved one
                self.results[i] = result
                return
        self.results.append(result)

    def install(self) -> "CertificateCollector":
        """Attach to the engine's logger (lowering its level to INFO if needed, restored on uninstall)."""
        logger = logging.getLogger(lie.COUNT_LOGGER)
        if self not in logger.handlers:
            logger.addHandler(self)
            if logger.getEffectiveLevel() > logging.INFO:
                self._level_before = logger.level
                logger.setLevel(logging.INFO)
        return self

    def uninstall(self) -> None:
        logger = logging.getLogger(lie.COUNT_LOGGER)
        if self in logger.handlers:
            logger.removeHandler(self)
            if self._level_before is not None:
                logger.setLevel(self._level_before)
                self._level_before = None

    def __enter__(self) -> "CertificateCollector":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def records(self) -> list[dict]:
        """One record per count seen, in order (see :func:`record_of`)."""
        return [record_of(r) for r in self.results]

    def save(self, chapter: str, directory: Path | str | None = None) -> Path:
        """Write the records to :func:`log_path` (writing twice is harmless); returns the path."""
        path = log_path(chapter, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.records(), indent=0))
        return path


def log_path(chapter: str, directory: Path | str | None = None) -> Path:
    """``<claims dir>/certificates/<chapter>.json``: where a chapter's certificate log is written."""
    return Path(directory or claims_dir()) / "certificates" / f"{chapter}.json"


def load_logs(directory: Path | str | None = None) -> dict[str, list[dict]]:
    """Every chapter's saved certificate log: {chapter: records}."""
    folder = log_path("x", directory).parent
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}
