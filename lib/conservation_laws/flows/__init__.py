"""Flows: the vector fields W of gradient, mirror, momentum, Nesterov and natural-gradient flows.

The layer above ``models``: ``Flow`` names a flow (kind, friction τ, weight decay, geometry) and
``vector_fields`` turns a model and a flow into the family of polynomial fields whose Lie algebra the
engine computes; time lifts (``free_time_coordinates``, ``lifted_fields``) handle the explicit time of
momentum with friction.
"""

from .flow import (DECAY_KINDS, FLOW_GEOMETRIES, FLOW_NAMES, NATURAL_MAX_DEGREE, NATURAL_MAX_OUTPUTS,
                   POSITION_SUFFIX, FieldFamily, Flow, TimeCoordinate, base_geometry,
                   decay_time_degree, drift_invariants, free_time_coordinates, lifted_fields,
                   metric_diagonal, natural_forces, ode_rhs, oscillator_exponents, oscillator_rate,
                   vector_fields)
