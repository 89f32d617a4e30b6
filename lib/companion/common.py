"""What the book's modules share: the book's root, the claims folder, JSON-ready values."""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``_config.yml`` (the book's root), searched upwards from ``start`` or the cwd."""
    here = (start or Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "_config.yml").exists():
            return p
    return here


def claims_dir() -> Path:
    """Where claim records go: ``$CONSERVATION_LAWS_CLAIMS_DIR`` or ``<book root>/_build/claims``."""
    env = os.environ.get("CONSERVATION_LAWS_CLAIMS_DIR")
    d = Path(env) if env else project_root() / "_build" / "claims"
    d.mkdir(parents=True, exist_ok=True)
    return d


def jsonable(x):
    """``x`` with numpy scalars and arrays turned into numbers and lists (recursively), for JSON."""
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    return x
