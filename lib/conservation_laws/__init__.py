"""Conservation laws of gradient, mirror and momentum flows (companion library to 'Keep the Momentum').

The package is layered, lowest first: ``algebra`` (exact polynomials, parsing, arithmetic mod p) →
``models`` (one module per family, model files, the registry of names) → ``flows`` → ``engine``
(the bracket construction, its certificate, counts, polynomial / logarithmic / Abelian laws) →
``simulation`` (JAX, an optional extra) → ``interfaces`` (cases, the command line, sweeps). No
module imports a layer above its own (``tests/test_layers.py`` checks it). The names below are
imported on first use, so that ``import conservation_laws`` stays light.
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .errors import ConservationLawsError

#: Public name -> the module that defines it (imported when the name is first used).
_LAZY = {
    "Flow": "conservation_laws.flows",
    "FieldFamily": "conservation_laws.flows",
    "vector_fields": "conservation_laws.flows",
    "MODEL_NAMES": "conservation_laws.models",
    "Model": "conservation_laws.models",
    # the public API in the command line's words (interfaces/api.py)
    "count": "conservation_laws.interfaces.api",
    "laws": "conservation_laws.interfaces.api",
    "simulate": "conservation_laws.interfaces.api",
    "make_model": "conservation_laws.interfaces.api",
    "load_model": "conservation_laws.interfaces.api",
    "Count": "conservation_laws.interfaces.api",
    "Laws": "conservation_laws.interfaces.api",
    "Law": "conservation_laws.interfaces.api",
    "from_jax": "conservation_laws.models",
    "numerical_count": "conservation_laws.engine.numerical",
}

__all__ = ["ConservationLawsError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
