"""The library's single exception type for bad input."""

from __future__ import annotations


class ConservationLawsError(ValueError):
    """Bad input: the message names the parameter, the value received and what is allowed."""


def invalid(parameter: str, value: object, allowed: str) -> ConservationLawsError:
    """Build the one-line error used everywhere: ``parameter=value is invalid: allowed``.

    Exact rationals are shown as the user writes them (``tau=1/2``, not ``Fraction(1, 2)``).
    """
    from fractions import Fraction

    shown = str(value) if isinstance(value, Fraction) else repr(value)
    return ConservationLawsError(f"{parameter}={shown} is invalid: {allowed}")


def require(module: str, extra: str) -> None:
    """Raise a one-line error unless ``module`` can be imported; it names the optional extra to install
    (``pip install 'conservation-laws[sweep]'``). The core (counts and laws) needs no extra."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConservationLawsError(f"{module} is not installed: it comes with the optional extra "
                                    f"'{extra}' (pip install 'conservation-laws[{extra}]')")
