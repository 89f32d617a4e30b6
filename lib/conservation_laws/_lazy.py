"""Modules imported on first use, so that start-up (``conservation-laws count``) does not pay for them.

``from ._lazy import sympy`` gives an object that imports sympy the first time one of its attributes
is read (about 1–3 s of a count's start-up otherwise, while counting itself never needs sympy).
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule(ModuleType):
    """A stand-in for a module, replaced by the real one at the first attribute access."""

    def __init__(self, name: str):
        super().__init__(name)
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        module = self.__dict__.get("_module")
        if module is None:
            module = importlib.import_module(self.__name__)
            self.__dict__["_module"] = module
        return getattr(module, attr)


sympy = LazyModule("sympy")
