"""From a transition to outbox entries: the rules that match, one rendered message per block."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

from .._config import load_config
from ..store import OutboxEntry, RunKindName
from ._checks import config_problems
from ._rules import STATE_TYPES, Rule, compile_rule, rule_problems
from ._templates import RunOwner, snapshot

logger = logging.getLogger("flowhook.notifications")

__all__ = ["Router", "load_router"]

_MAX_STATE_KEYS = 1024
_RUN_KINDS: tuple[RunKindName, ...] = ("flow", "task")


def _watched(rules: Iterable[Rule]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The state types ``rules`` name, and every state (name or type) they name: a rule matches
    a state by its name or by its type (see :meth:`Rule.for_state`)."""
    named = frozenset(state for rule in rules for state in rule.states)
    return tuple(sorted(named & STATE_TYPES)), named


class Router:
    """The compiled notification rules of this process."""

    def __init__(self, rules: tuple[Rule, ...] = ()) -> None:
        self.rules = rules
        #: Per run kind, what a state must be for a rule of that kind to be about it: (the state
        #: types the rules name, every state name or type they name). Built at load, so that a
        #: transition no rule is about is told apart without a Python call (``outbox_entries``
        #: of the runtime): the types are a tuple, as a StateType's hash is a Python function
        #: (a StateType is a str: ``in`` compares strings).
        self.watched: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
            kind: _watched(rule for rule in rules if rule.kind == kind) for kind in _RUN_KINDS
        }
        # (kind, state name, state type) -> the rules that state can match
        self._by_state: dict[tuple[str, str, str], tuple[Rule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def blocks(self) -> frozenset[str]:
        """Every block (``type/name``) the rules send to."""
        return frozenset(block for rule in self.rules for block in rule.blocks)

    def candidates(self, kind: RunKindName, state: State) -> tuple[Rule, ...]:
        """The rules a run of ``kind`` entering ``state`` may match (by kind and state only)."""
        key = (kind, state.name, state.type.value)
        found = self._by_state.get(key)
        if found is None:
            found = tuple(rule for rule in self.rules if rule.for_state(kind, key[1], key[2]))
            if len(self._by_state) < _MAX_STATE_KEYS:  # custom state names are unbounded
                self._by_state[key] = found
        return found

    def entries(
        self,
        kind: RunKindName,
        owner: RunOwner | None,
        run: FlowRun | TaskRun,
        state: State,
        flow_run: FlowRun | None = None,
    ) -> tuple[OutboxEntry, ...]:
        """The messages this transition enqueues: one per matching rule and block."""
        candidates = self.candidates(kind, state)
        if not candidates:
            return ()
        name = owner.name if owner is not None else getattr(run, f"{kind}_name", "")
        matched = [rule for rule in candidates if rule.matches(kind, name, run.tags, state)]
        if not matched:
            return ()
        context = snapshot(kind, owner, run, state, flow_run)
        event = f"{run.id}:{len(run.state_history)}:{state.name}"
        created = state.timestamp.timestamp()
        flow_run_id = run.flow_run_id if isinstance(run, TaskRun) else run.id
        listed_under = None if flow_run_id is None else str(flow_run_id)
        entries = []
        for rule in matched:
            message = rule.template.render(context)
            for block in rule.blocks:
                block_type, _, block_name = block.partition("/")
                entries.append(
                    OutboxEntry(
                        f"{event}:{rule.label}:{block}",
                        block_type,
                        block_name,
                        rule.label,
                        kind,
                        str(run.id),
                        event,
                        message.subject,
                        message.body,
                        created,
                        listed_under,
                    )
                )
        return tuple(entries)


def load_router(saved_blocks: list[tuple[str, str]]) -> Router:
    """The rules of the config file, checked against the declared and saved blocks.

    Problems are logged, never raised (runs must not fail because of them), one line each, the
    lines ``flowhook config check`` prints; a rule with a problem is off until it is fixed, and
    the others work. A config file that cannot be read or structured turns every rule off.
    """
    try:
        config = load_config()
    except ConfigError as exc:
        logger.error("notifications are off until the config is fixed: %s", exc)
        return Router()
    if not config.notifications:
        return Router()
    problems = config_problems(config, saved_blocks)
    for problem in problems:
        logger.error("%s", problem)
    known = set(config.blocks) | {f"{t}/{n}" for t, n in saved_blocks}
    source = config.source or "config"
    rules = []
    for index, rule in enumerate(config.notifications):
        if rule_problems(index, rule, source, known)[0]:
            continue
        rules.append(compile_rule(index, rule, source, known))
    if problems:
        logger.error(
            "%d problem(s) in the notification config: %d of %d rules are on "
            "('flowhook config check' lists the problems)",
            len(problems),
            len(rules),
            len(config.notifications),
        )
    return Router(tuple(rules))
