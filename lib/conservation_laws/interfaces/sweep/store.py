"""The results store: an append-only, locked JSON-lines file, one flushed line per finished case."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Iterable

from ...errors import ConservationLawsError

STATUSES = ("ok", "failed", "timed out")
#: Longest store line read (a record is a few hundred bytes; a longer line is skipped, never held).
MAX_LINE = 1 << 20


def _bad(path, allowed: str) -> ConservationLawsError:
    return ConservationLawsError(f"store={str(path)!r} is invalid: {allowed}")


def _record(line: bytes) -> dict | None:
    """A store line as a record, or None when it is not one (bad JSON, no key, unknown status)."""
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("key"), str) or rec.get("status") not in STATUSES:
        return None
    return rec


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

    def check(self) -> "ResultStore":
        """Refuse, before anything is created, a path that is not (or cannot become) a regular file
        this process may read and append to: a directory, a device (``/dev/full``), a pseudo-file
        of ``/proc`` or ``/sys`` (size 0, yet it has contents), a file without permission."""
        path = self.path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            parent = path.parent
            while not parent.exists() and parent != parent.parent:  # open() creates the missing folders
                parent = parent.parent
            if not parent.is_dir():
                raise _bad(path, f"a regular file; {str(parent)!r} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise _bad(path, f"a file this process may create; the folder {str(parent)!r} is not writable")
            return self
        except OSError as exc:
            raise _bad(path, f"a readable regular file ({exc.strerror or exc})")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a pipe" if stat.S_ISFIFO(st.st_mode) else "a socket"
                    if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise _bad(path, f"a regular file (a JSON-lines store), and this is {kind}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise _bad(path, "a file this process may read and append to (permission denied)")
        try:
            with open(path, "rb") as fh:
                if st.st_size == 0 and fh.read(1):
                    raise _bad(path, "a regular file (a JSON-lines store), and this is a pseudo-file of the kernel")
        except OSError as exc:
            raise _bad(path, f"a readable regular file ({exc.strerror or exc})")
        return self

    def load(self) -> dict[str, dict]:
        """{key: last record}, read line by line (a line longer than ``MAX_LINE`` bytes is skipped
        without being held in memory); a partial last line is left out and counted in
        ``truncated_tail``, any other line that is not a record in ``skipped_lines``."""
        out: dict[str, dict] = {}
        self.skipped_lines = 0
        self.truncated_tail = 0
        self.check()
        if not self.path.exists():
            return out
        try:
            with open(self.path, "rb") as fh:
                while True:
                    line = fh.readline(MAX_LINE + 1)
                    if not line:
                        break
                    if not line.endswith(b"\n"):
                        if len(line) <= MAX_LINE:  # the end of the file: a line cut by a crash
                            self.truncated_tail = len(line)
                            break
                        while line and not line.endswith(b"\n"):  # too long: skip to its end
                            line = fh.readline(MAX_LINE)
                        self.skipped_lines += 1
                        continue
                    if not line.strip():
                        continue
                    rec = _record(line)
                    if rec is None:
                        self.skipped_lines += 1
                    else:
                        out[rec["key"]] = rec
        except OSError as exc:
            raise _bad(self.path, f"a readable regular file ({exc.strerror or exc})") from None
        return out

    def open(self) -> "ResultStore":
        import fcntl

        self.check()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "ab+")
        except OSError as exc:
            raise _bad(self.path, f"a file this process may append to ({exc.strerror or exc})") from None
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
