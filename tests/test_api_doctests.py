"""The examples of the public API's docstrings (the API reference page shows them) run as doctests."""

from __future__ import annotations

import doctest
import sys

import conservation_laws as cl

api = sys.modules[cl.count.__module__]  # the API's module, wherever the library's layers put it

#: The public functions whose docstrings must hold at least one example.
PUBLIC = ("count", "laws", "simulate", "make_model", "load_model")


def test_every_public_function_has_an_example():
    finder = doctest.DocTestFinder()
    for name in PUBLIC:
        tests = finder.find(getattr(api, name), name)
        assert sum(len(t.examples) for t in tests) >= 2, f"api.{name} has no runnable example in its docstring"


def test_api_docstring_examples_run():
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=True)
    assert result.attempted >= 15, f"only {result.attempted} doctest examples found in the api module"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of the api module failed"
