"""The results store: an append-only, locked JSON-lines file, one flushed line per finished case."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable

from ...errors import ConservationLawsError

STATUSES = ("ok", "failed", "timed out")


class ResultStore:
    """An append-only JSON-lines file of case results, one flushed line per finished case.

    ``load`` returns {key: last record}; a last line cut by a crash is ignored (and cut off before
    the next append), and so is any other line that does not parse (counted in ``skipped_lines``).
    While a sweep runs the file is locked (``flock``), so two sweeps cannot interleave their lines.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped_lines = 0
        self.truncated_tail = 0
        self._fh = None
        self._last_sync = 0.0

    def load(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        self.skipped_lines = 0
        if not self.path.exists():
            return out
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, else a partial line
        self.truncated_tail = len(tail)
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[rec["key"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                self.skipped_lines += 1
        return out

    def open(self) -> "ResultStore":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "ab+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConservationLawsError(f"store={str(self.path)!r} is invalid: another sweep is writing to it") from None
        # drop a partial last line (a crash in the middle of a write) so that appends start clean
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size:
            fh.seek(max(0, size - 65536))
            chunk = fh.read()
            if not chunk.endswith(b"\n"):
                cut = chunk.rfind(b"\n")
                keep = size - len(chunk) + cut + 1 if cut >= 0 else (0 if size <= 65536 else None)
                if keep is None:  # a partial line longer than 64 KiB: end it instead
                    fh.write(b"\n")
                else:
                    fh.truncate(keep)
        fh.seek(0, os.SEEK_END)
        self._fh = fh
        return self

    def append(self, rec: dict) -> None:
        line = json.dumps(rec, sort_keys=True, default=str) + "\n"
        self._fh.write(line.encode())
        self._fh.flush()
        now = time.monotonic()
        if now - self._last_sync > 1.0:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()  # releases the lock
            self._fh = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def _needs_run(rec: dict | None, case_timeout: float | None, retry_failed: bool) -> bool:
    if rec is None:
        return True
    status = rec.get("status")
    if status == "ok":
        return "certificate" not in rec  # a record from before certificates is counted again
    if status == "failed":
        return retry_failed
    if status == "timed out":  # retried only with a larger (or no) budget
        old = rec.get("case_timeout")
        return case_timeout is None or old is None or case_timeout > old
    return True


def summarize(results: Iterable[dict]) -> dict:
    """Counts by status, and how many were computed now / reused from the store."""
    results = list(results)
    out = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    out["total"] = len(results)
    out["computed"] = sum(not r.get("reused", False) for r in results)
    out["reused"] = out["total"] - out["computed"]
    return out
