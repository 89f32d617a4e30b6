"""The library's single exception type for bad input."""

from __future__ import annotations


class ConservationLawsError(ValueError):
    """Bad input: the message names the parameter, the value received and what is allowed."""


def invalid(parameter: str, value: object, allowed: str) -> ConservationLawsError:
    """Build the one-line error used everywhere: ``parameter=value is invalid: allowed``."""
    return ConservationLawsError(f"{parameter}={value!r} is invalid: {allowed}")
