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


#: Largest input file read (a model file, a sweep spec, a batch file): far past any real one, and a
#: bound on what a device such as /dev/zero can make the reader hold.
MAX_FILE_BYTES = 64 << 20


def read_text(path, parameter: str, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file (at most ``limit`` bytes), or a one-line error naming
    ``parameter``: a directory, a device, a missing or unreadable file, bytes that are not UTF-8."""
    import os
    import stat

    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
                kind = "a directory" if stat.S_ISDIR(mode) else "a device or special file"
                raise invalid(parameter, str(path), f"{what}, and this is {kind}")
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise invalid(parameter, str(path), f"{what}, and this is a directory") from None
    except OSError as exc:
        raise invalid(parameter, str(path), f"{what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise invalid(parameter, str(path), f"{what} of at most {limit >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(parameter, str(path), f"{what} in UTF-8 (byte {exc.start} is not)") from None


#: Bound on an integer model option (heads, kernel, input_size, ...) and on a list option's length,
#: checked before a model is built (its size guard only runs once it exists).
MAX_OPTION_INT = 4096


def check_option(field: str, value) -> None:
    """A model option's value, bounded before the model is built: a list of at most 64 entries,
    finite numbers, integers of at most ``MAX_OPTION_INT`` in size (``heads=10**14`` would build
    for ever)."""
    import math

    items = value if isinstance(value, (list, tuple)) else [value]
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
    if len(items) > 64:
        raise ConservationLawsError(f"{field}={shown} is invalid: at most 64 entries")
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            raise ConservationLawsError(f"{field}={shown} is invalid: a finite value")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_OPTION_INT:
            raise ConservationLawsError(f"{field}={shown} is invalid: integers of at most {MAX_OPTION_INT} in size")
