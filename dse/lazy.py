"""Lazy package exports: public names that load their submodule on first access.

Used by packages whose submodules import torch (``dse.quant``, ``dse.workloads``), so that
importing the package for its light names keeps hardware-only commands free of torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable, Mapping


def lazy_exports(package: str, namespace: dict, lazy: Mapping[str, str], submodules: Iterable[str],
                 public: Iterable[str]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``.

    ``lazy`` maps a public name to the submodule defining it; ``submodules`` stay reachable
    as attributes. A loaded name is stored in ``namespace`` so later lookups skip the hook.
    """
    submodules = frozenset(submodules)
    public = frozenset(public)

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None and name in submodules:
            return importlib.import_module(f".{name}", package)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | public)

    return __getattr__, __dir__
