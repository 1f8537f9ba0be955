"""Lazy attributes for package ``__init__`` files: the public names of a capability load
their module on first use, so that ``import aares.<capability>`` (and ``aares --help``)
does not load numpy, pandas or numba."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` serving each ``names[attr]`` module's
    ``attr`` (a module itself when the name is the module's last part)."""

    def __getattr__(attr: str):
        if attr not in names:
            raise AttributeError(f"module {package!r} has no attribute {attr!r}")
        module = importlib.import_module(names[attr])
        value = module if names[attr].rsplit(".", 1)[-1] == attr else getattr(module, attr)
        globals_ = importlib.import_module(package).__dict__
        globals_[attr] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(names))

    return __getattr__, __dir__
