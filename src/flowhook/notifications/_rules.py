"""Notification rules: which transitions notify which blocks, with which message."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import attrs

from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.states import STATE_NAMES, State, StateType

from .._config import Config, NotificationRuleConfig, did_you_mean
from ._templates import MessageTemplate

__all__ = ["Rule", "compile_rules", "matching", "rule_problems"]

STATE_TYPES = frozenset(state_type.value for state_type in StateType)


@attrs.frozen
class Rule:
    """A compiled rule. ``kind`` is ``flow`` or ``task``."""

    label: str
    kind: str
    states: frozenset[str]
    patterns: tuple[str, ...] | None
    tags: frozenset[str]
    blocks: tuple[str, ...]
    template: MessageTemplate = attrs.field(eq=False)

    def for_state(self, kind: str, state_name: str, state_type: str) -> bool:
        """Whether a run of this kind entering a state of this name and type may notify."""
        return kind == self.kind and (state_name in self.states or state_type in self.states)

    def matches(self, kind: str, name: str, tags: Iterable[str], state: State) -> bool:
        """Whether a run of this kind and name, with these tags, entering ``state``, notifies."""
        if not self.for_state(kind, state.name, state.type.value):
            return False
        if self.patterns is not None and not any(
            fnmatch.fnmatchcase(name, p) for p in self.patterns
        ):
            return False
        return not self.tags or not self.tags.isdisjoint(tags)


def rule_problems(
    index: int, rule: NotificationRuleConfig, source: str, known_blocks: Iterable[str] | None
) -> tuple[list[str], MessageTemplate | None]:
    """Every problem of one rule, one line each, and its template when that compiles."""
    label = f"{source}: notifications[{index}]"
    problems = []
    if rule.flows is not None and rule.tasks is not None:
        problems.append(
            f"{label}: give 'flows' or 'tasks', not both (a rule is about flow runs or task runs)"
        )
    if not rule.on:
        problems.append(
            f'{label}: \'on\' is empty; list state names or types, e.g. on = ["Failed", "Crashed"]'
        )
    states = STATE_NAMES | STATE_TYPES
    for state in rule.on:
        if state not in states:
            problems.append(
                f"{label}: unknown state {state!r} in 'on'{did_you_mean(state, states) or '.'} Use state "
                f"names ({', '.join(sorted(STATE_NAMES))}) or types ({', '.join(sorted(STATE_TYPES))})"
            )
    if not rule.blocks:
        problems.append(
            f"{label}: 'blocks' is empty; name at least one block, e.g. 'slack-webhook/ops'"
        )
    known = None if known_blocks is None else set(known_blocks)
    for block in rule.blocks:
        block_type, _, block_name = block.partition("/")
        if not block_type or not block_name:
            problems.append(
                f"{label}: block {block!r} must be named type/name, e.g. 'slack-webhook/ops'"
            )
        elif known is not None and block not in known:
            problems.append(
                f"{label}: unknown block {block!r}{did_you_mean(block, known) or '.'} Known blocks: "
                f"{', '.join(sorted(known)) or '(none)'}. Create it with 'flowhook block create' "
                "or declare it under [blocks]"
            )
    template = None
    try:
        template = MessageTemplate(rule.subject, rule.body, label)
    except ValueError as exc:
        problems.append(str(exc))
    return problems, template


def compile_rule(
    index: int, rule: NotificationRuleConfig, source: str, known_blocks: Iterable[str] | None
) -> Rule:
    """The compiled rule; ConfigError naming its first problem (see :func:`rule_problems`)."""
    problems, template = rule_problems(index, rule, source, known_blocks)
    if problems or template is None:
        raise ConfigError(problems[0])
    return Rule(
        label=f"{source}: notifications[{index}]",
        kind="task" if rule.tasks is not None else "flow",
        states=frozenset(rule.on),
        patterns=rule.tasks if rule.tasks is not None else rule.flows,
        tags=frozenset(rule.tags),
        blocks=tuple(rule.blocks),
        template=template,
    )


def compile_rules(config: Config, known_blocks: Iterable[str] | None = None) -> tuple[Rule, ...]:
    """Compile every rule of ``config``; ``known_blocks`` (when given) are the valid block names."""
    source = config.source or "config"
    return tuple(
        compile_rule(i, rule, source, known_blocks) for i, rule in enumerate(config.notifications)
    )


def matching(
    rules: Iterable[Rule], kind: str, name: str, tags: Iterable[str], state: State
) -> list[Rule]:
    tags = tuple(tags)
    return [rule for rule in rules if rule.matches(kind, name, tags, state)]
