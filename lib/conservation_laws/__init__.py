"""Conservation laws of gradient, mirror and momentum flows (companion library to 'Keep the Momentum')."""

from .errors import ConservationLawsError
from .flows import Flow, FieldFamily, vector_fields
from .models import MODEL_NAMES, Model, make_model

__version__ = "0.1.0"

__all__ = ["ConservationLawsError", "Flow", "FieldFamily", "Model", "MODEL_NAMES", "make_model", "vector_fields", "__version__"]
