"""Algebra: exact polynomials and vector fields over ℚ, and the restricted grammar that parses them.

The lowest layer but ``errors``: it knows nothing about models or flows.
"""
