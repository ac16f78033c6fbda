"""Names a package exports but imports on first use (PEP 562), so that importing it stays cheap.

A package lists ``name -> "module:attribute"`` (or ``name -> "module"`` for a submodule itself,
relative to the package) and takes its ``__getattr__`` and ``__dir__`` from :func:`lazy_names`.
The first access imports the module and stores the value on the package, so later accesses are
plain attribute lookups. flowhook, its engine and the contract itself use it; so may a plugin.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["defer_modules", "lazy_names"]


def lazy_names(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose names in ``table`` load on first use."""

    def __getattr__(name: str) -> object:
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = where.partition(":")
        module = importlib.import_module(module_name, package)
        value = getattr(module, attribute) if attribute else module
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


class _Deferred:
    """Stands for a module under a global name until first used, then puts the module there."""

    def __init__(
        self, namespace: dict[str, object], name: str, module: str, package: str | None
    ) -> None:
        self._where = (namespace, name, module, package)

    def __getattr__(self, attribute: str) -> object:
        namespace, name, module_name, package = self._where
        module = importlib.import_module(module_name, package)
        namespace[name] = module  # from now on the global is the module itself
        return getattr(module, attribute)


def defer_modules(namespace: dict[str, object], *modules: str, package: str | None = None) -> None:
    """Bind a global to each module (``"random"``, or ``".calls"`` relative to ``package``),
    named as the module's last component, and import the module on first use.

    For modules that only a call needs, named by globals that the call reads: until then each
    global is a stand-in, afterwards the module itself, so the call costs nothing more than a
    module attribute lookup. Pair it with an import under ``TYPE_CHECKING`` for the type checker.
    """
    for module in modules:
        name = module.rpartition(".")[2]
        namespace[name] = _Deferred(namespace, name, module, package)
