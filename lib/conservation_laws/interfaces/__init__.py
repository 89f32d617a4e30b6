"""Interfaces: cases, the command line (``conservation-laws``) and sweeps, the top layer.

Import the modules (``from conservation_laws.interfaces import cases, cli, sweep``).
"""
