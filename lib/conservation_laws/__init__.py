"""Conservation laws of gradient, mirror and momentum flows (companion library to 'Keep the Momentum')."""

from .errors import ConservationLawsError
from .flows import Flow, FieldFamily, vector_fields
from .models import MODEL_NAMES, Model, make_model

__version__ = "0.1.0"

__all__ = ["ConservationLawsError", "Flow", "FieldFamily", "Model", "MODEL_NAMES", "make_model", "vector_fields", "__version__"]

# The public API in the command line's words (api.py). `laws` and `simulate` are also the names of
# modules until the layered move; those modules are callable (they call the API's functions).
from .api import Count, Law, Laws, count, load_model, make_model  # noqa: E402

__all__ += ["count", "laws", "simulate", "load_model", "Count", "Laws", "Law"]


def __getattr__(name: str):
    if name in ("laws", "simulate"):  # imported on first use (sympy, JAX)
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
