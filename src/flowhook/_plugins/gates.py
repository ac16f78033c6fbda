"""Gated hook implementations: an implementation that says when it has work to do.

An implementation of a transition hook may carry the attribute :data:`ACTIVE_ATTRIBUTE`, a
callable without arguments that answers True or False (the registration hooks, called once,
ignore it). While it answers False, the implementation has nothing to do (the logging plugin's
transition lines, while their logger is not enabled) and is not called, and a hook whose every
implementation is idle counts as not implemented: a transition then skips it with one call of
the test, where dispatching it would have cost a dozen. The tests are asked again on every
transition, each distinct test once, so an implementation that gets work later (a logger
enabled after import) is called from then on.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any, NamedTuple

from flowhook_hookspec.errors import PluginError

__all__ = ["ACTIVE_ATTRIBUTE", "MAX_TESTS", "Gate", "broken", "check_active", "gate_of", "test_of"]

logger = logging.getLogger("flowhook.plugins")

#: The attribute of a hook implementation that says when it has work to do: a callable without
#: arguments that returns True or False, asked on every transition. While it returns False,
#: flowhook does not call the implementation. A test that raises, or answers anything else
#: (when the answer cannot be used), is logged, and ignored from then on: the implementation is
#: called.
ACTIVE_ATTRIBUTE = "flowhook_active"


class Gate(NamedTuple):
    """What the gated implementations' tests say now, and the hooks implemented for each
    answer."""

    #: The one test, when there is one (nothing of ours in between, as it is asked on every
    #: transition); else a function of all of them, the tuple of their answers.
    outcome: Callable[[], object]
    #: The hooks implemented, by the outcome (a boolean, or a tuple of as many as there are
    #: tests). An answer other than a boolean counts as every hook implemented.
    sets: dict[object, frozenset[str]]
    #: Each distinct test.
    tests: tuple[Callable[[], object], ...]


def test_of(function: Any, ignored: Collection[object]) -> Callable[[], object] | None:
    """The test of an implementing function; None when it has none, or one in ``ignored``
    (it raised, or answered neither True nor False)."""
    test = getattr(function, ACTIVE_ATTRIBUTE, None)
    return None if test is None or test in ignored else test


def check_active(function: Any, plugin: str, hook: str) -> None:
    """Raise :class:`PluginError` when ``function`` has an :data:`ACTIVE_ATTRIBUTE` that cannot
    be called."""
    active = getattr(function, ACTIVE_ATTRIBUTE, None)
    if active is not None and not callable(active):
        raise PluginError(
            f"plugin {plugin!r} gives {hook!r} a {ACTIVE_ATTRIBUTE} of {active!r}; it must be a "
            "function without arguments, or left out"
        )


#: Beyond this many distinct tests, the hooks are not gated at all (2 ** n sets are kept).
MAX_TESTS = 6


def gate_of(
    implementations: Iterable[tuple[str, Any]], ignored: Collection[object]
) -> tuple[frozenset[str], Gate | None]:
    """The hooks implemented, and their gate (None when no implementation is gated), from
    ``(hook name, implementing function)`` pairs; the tests in ``ignored`` count as none."""
    tests: list[Callable[[], object]] = []
    tests_of: dict[str, set[int] | None] = {}  # by hook; None: an ungated implementation
    for hook, function in implementations:
        active = test_of(function, ignored)
        if active is None:
            tests_of[hook] = None
            continue
        if active not in tests:
            tests.append(active)
        known = tests_of.setdefault(hook, set())
        if known is not None:
            known.add(tests.index(active))
    found = frozenset(tests_of)
    if not tests or len(tests) > MAX_TESTS:
        return found, None

    def implemented_if(outcomes: tuple[bool, ...]) -> frozenset[str]:
        return frozenset(
            hook
            for hook, indexes in tests_of.items()
            if indexes is None or any(outcomes[index] for index in indexes)
        )

    if len(tests) == 1:
        sets_of_one: dict[object, frozenset[str]] = {
            answer: implemented_if((answer,)) for answer in (False, True)
        }
        return found, Gate(tests[0], sets_of_one, (tests[0],))
    every = itertools.product((False, True), repeat=len(tests))
    sets: dict[object, frozenset[str]] = {outcomes: implemented_if(outcomes) for outcomes in every}
    return found, Gate(_answers(tuple(tests)), sets, tuple(tests))


def _answers(tests: tuple[Callable[[], object], ...]) -> Callable[[], tuple[object, ...]]:
    def outcome() -> tuple[object, ...]:
        return tuple([test() for test in tests])

    return outcome


def broken(tests: Iterable[Callable[[], object]]) -> list[Callable[[], object]]:
    """Those of ``tests`` that raise when asked, or answer neither True nor False, each
    logged."""
    found = []
    for test in tests:
        try:
            answer = test()
        except Exception:
            _log_broken(test, "raised", exc_info=True)
            found.append(test)
            continue
        if not isinstance(answer, bool):
            _log_broken(test, f"answered {answer!r}, not True or False")
            found.append(test)
    return found


def _log_broken(test: object, what: str, exc_info: bool = False) -> None:
    logger.error(
        "the %s test %r of a plugin's hook %s; it is ignored from now on, and the hooks it "
        "gates are called on every transition",
        ACTIVE_ATTRIBUTE,
        test,
        what,
        exc_info=exc_info,
    )
