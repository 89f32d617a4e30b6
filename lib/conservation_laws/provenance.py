"""Provenance: what built this book, so that every number can be traced to versions, seeds and code."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("conservation-laws", "numpy", "sympy", "python-flint", "jax", "jaxlib", "matplotlib", "scikit-learn",
            "jupyter-book", "myst-nb", "papermill", "dask", "distributed")


def git_revision(root: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def collect(seeds: dict | None = None, root: Path | None = None) -> dict:
    """Versions, git revision, build date, machine summary and the seeds given."""
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(root),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical cores",
        "packages": versions(),
        "seeds": seeds or {},
    }


def write(path: Path, seeds: dict | None = None) -> dict:
    info = collect(seeds, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=1))
    return info
