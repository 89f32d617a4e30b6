"""Flows: the vector fields W of gradient, mirror, momentum, Nesterov and natural-gradient flows.

The layer above ``models``: ``Flow`` names a flow (kind, friction τ, weight decay, geometry) and
``vector_fields`` turns a model and a flow into the family of polynomial fields whose Lie algebra the
engine computes (``flow``); ``lifts`` holds the time lifts of flows with weight decay
(``free_time_coordinates``, ``lifted_fields``).
"""

from .flow import (DECAY_KINDS, FLOW_GEOMETRIES, FLOW_NAMES, NATURAL_MAX_DEGREE, NATURAL_MAX_OUTPUTS,
                   POSITION_SUFFIX, FieldFamily, Flow, base_geometry, drift_invariants, metric_diagonal,
                   natural_forces, natural_identity_family, ode_rhs, oscillator_exponents, oscillator_rate,
                   vector_fields)
from .lifts import TimeCoordinate, decay_time_degree, free_time_coordinates, lifted_fields
