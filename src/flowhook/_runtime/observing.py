"""Watching the transitions of this process's runs from above the engine.

:func:`transitions_observed` is the seam the command line's progress display subscribes
through: it adds an observer to the engine's ``observers`` for the duration of a ``with``
block, so that nothing above the runtime touches the engine's list. The callback runs on the
transition path, in whichever thread moved the run: it must be quick (a counter, a line written)
and must not block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

from .._engine import RunKind, RunOwner, observers

__all__ = ["TransitionCallback", "transitions_observed"]

logger = logging.getLogger("flowhook.engine")

#: ``callback(kind, run, old_state, new_state)``: ``kind`` is ``"flow"`` or ``"task"``;
#: ``old_state`` is None for a run's first state (its Pending). What it returns is ignored.
TransitionCallback = Callable[
    [Literal["flow", "task"], "FlowRun | TaskRun", "State | None", State], object
]


@contextmanager
def transitions_observed(callback: TransitionCallback) -> Iterator[None]:
    """Call ``callback`` after every transition of every run of this process, inside the block.

    It is called after the transition is recorded on the run and before its hooks fire. An
    error it raises is logged once on ``flowhook.engine`` and never reaches the run; after an
    error it is not called again.
    """
    failed = False

    def observe(
        kind: RunKind, owner: RunOwner, run: FlowRun | TaskRun, old: State | None, new: State
    ) -> None:
        nonlocal failed
        if failed:
            return
        try:
            callback(kind.name, run, old, new)
        except Exception:
            failed = True
            logger.exception("a transition observer failed; it is not called again")

    observers.append(observe)
    try:
        yield
    finally:
        observers.remove(observe)
