"""Simulation: integrating the flows in floating point (JAX) and the data sets they train on.

The layer above ``engine``; it needs the ``simulation`` extra (JAX). Import the modules
(``from conservation_laws.simulation import simulate, data``).
"""
