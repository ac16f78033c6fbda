"""Checking the notification config as a whole: every problem, one line each.

``flowhook config check`` prints these lines, and a process whose config has problems logs the
same lines once, when it attaches; its rules without problems keep working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowhook_hookspec.errors import ConfigError, PluginError
from flowhook_hookspec.notify import Notifier

from .._config import Config, resolve_value
from ._blocks import BlockError, build_notifier, parse_block_name
from ._registry import notifier_types
from ._rules import rule_problems

__all__ = ["config_problems"]


def config_problems(config: Config, saved_blocks: Iterable[tuple[str, str]]) -> list[str]:
    """Every problem of ``config``: its rules, its declared blocks, and the plugins they need.

    ``saved_blocks`` are the blocks saved in the store, as ``(type, name)``.
    """
    source = config.source or "config"
    saved = {f"{block_type}/{name}" for block_type, name in saved_blocks}
    problems = []
    for index, rule in enumerate(config.notifications):
        problems += rule_problems(index, rule, source, set(config.blocks) | saved)[0]
    try:
        types = notifier_types()
    except PluginError as exc:
        problems.append(f"plugins: {exc}")
        types = {}
    for name, declared in config.blocks.items():
        problems += _declared_block_problems(source, name, declared, types)
    used = {block for rule in config.notifications for block in rule.blocks}
    for name in sorted((used & saved) - set(config.blocks)):
        if name.partition("/")[0] not in types:
            problems.append(f"{source}: saved block {name!r}: {_no_plugin(name, types)}")
    return problems


def _declared_block_problems(
    source: str, name: str, declared: dict[str, Any], types: dict[str, type[Notifier]]
) -> list[str]:
    where = f"{source}: [blocks.{name!r}]"
    try:
        block_type, _ = parse_block_name(name)
    except BlockError as exc:
        return [f"{where}: {exc}"]
    if block_type not in types:
        return [f"{where}: {_no_plugin(name, types)}"]
    problems = []
    values = {}
    for key, value in declared.items():
        try:
            values[key] = resolve_value(value, f"field {key!r}")
        except ConfigError as exc:
            problems.append(f"{where}: {exc}")
    if not problems:
        try:
            build_notifier(types[block_type], values)
        except BlockError as exc:
            problems.append(f"{where}: {exc}")
    return problems


def _no_plugin(name: str, types: dict[str, type[Notifier]]) -> str:
    block_type = name.partition("/")[0]
    return (
        f"no installed and enabled plugin provides block type {block_type!r} (installed: "
        f"{', '.join(types) or 'none'}); install its plugin, or take it out of "
        "FLOWHOOK_DISABLE_PLUGINS"
    )
