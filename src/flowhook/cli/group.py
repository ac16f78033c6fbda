"""The ``flowhook`` group: commands imported when first used, arguments checked to be text,
every error one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from .errors import one_line_errors, refuse_undecodable

__all__ = ["FlowhookGroup", "LazyCommands"]


class LazyCommands(dict[str, click.Command]):
    """A group's commands, where those named in ``lazy`` (name: ``"module:attribute"``,
    relative to this package) are imported when first looked up. Listing them (iterating,
    ``len``) imports them all; looking one up (``[]``, ``get``, ``in``) imports that one."""

    def __init__(self, commands: dict[str, click.Command], lazy: dict[str, str]) -> None:
        super().__init__(commands)
        self.lazy = dict(lazy)

    def _load(self, name: str) -> None:
        import importlib

        module, _, attribute = self.lazy.pop(name).partition(":")
        self[name] = getattr(importlib.import_module(module, __package__), attribute)

    def load_all(self) -> None:
        for name in list(self.lazy):
            self._load(name)

    def __missing__(self, name: str) -> click.Command:
        if name not in self.lazy:
            raise KeyError(name)
        self._load(name)
        return self[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return super().__iter__()

    def __len__(self) -> int:
        self.load_all()
        return super().__len__()

    def keys(self) -> Any:
        self.load_all()
        return super().keys()

    def values(self) -> Any:
        self.load_all()
        return super().values()

    def items(self) -> Any:
        self.load_all()
        return super().items()

    def pop(self, name: str, *default: Any) -> Any:
        if name in self.lazy:
            self._load(name)
        return super().pop(name, *default)


class FlowhookGroup(click.Group):
    """The ``flowhook`` group: every argument is checked to be text before any command runs
    (so that a refused command writes nothing), and every command runs under
    :func:`one_line_errors`.

    Commands named in ``lazy_commands`` (see :class:`LazyCommands`) are imported when they are
    run or listed, not before: ``flowhook runs cancel`` never imports the notifications and
    their templates.
    """

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.commands: LazyCommands = LazyCommands(self.commands, lazy_commands or {})

    def load_all(self) -> None:
        """Import every lazy command (before plugins add theirs, which may look at them)."""
        self.commands.load_all()

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        refuse_undecodable(args)
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return one_line_errors(super().invoke)(ctx)
