"""Routing notification rules to an outbox: the database's, or, without one, memory's.

With a store, the recorder writes a transition's outbox entries in the same batch as the
transition itself (:func:`outbox_entries`). Without one (``FLOWHOOK_STORE=off``, or a store that
cannot be opened), :class:`MemoryRouting` puts them in a :class:`~flowhook.store.MemoryOutbox`
and delivers them while the process lives: best effort, never silently off.
"""

from __future__ import annotations

import logging
from typing import Any

from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

from .._engine import RunKind, RunOwner, current_context, observers
from ..notifications import DeliveryWorker, Router, load_router
from ..store import MemoryOutbox, OutboxEntry, RunKindName, Store

__all__ = ["MemoryRouting", "load_router_of", "outbox_entries"]

logger = logging.getLogger("flowhook.store")


def load_router_of(store: Store) -> Router:
    """The notification rules, checked against the blocks saved in ``store``.

    A store that cannot list its blocks is logged; the rules are then checked against the
    blocks declared in the config file only.
    """
    try:
        saved = store.list_blocks()
    except Exception as exc:
        logger.error("could not read the saved blocks in %s: %s", store.location, exc)
        saved = []
    return load_router(saved)


def outbox_entries(
    router: Router, kind: RunKindName, owner: RunOwner, run: FlowRun | TaskRun, state: State
) -> tuple[OutboxEntry, ...]:
    """The messages one transition enqueues (none when preparing them fails: logged)."""
    types, names = router.watched[kind]
    if state.type not in types and state.name not in names:
        return ()  # the common case, on every transition: no rule is about this state
    try:
        current = current_context.get()
        flow_run = current.flow_run if current is not None and kind == "task" else None
        return router.entries(kind, owner, run, state, flow_run)
    except Exception:
        logger.exception("could not prepare the notifications of run %r", run.name)
        return ()


class MemoryRouting:
    """Without a store: the engine observer that routes rules to an in-memory outbox."""

    def __init__(self, router: Router, load_notifier: Any) -> None:
        self.router = router
        self.outbox = MemoryOutbox()
        self._load_notifier = load_notifier
        self.delivery = self._new_delivery()

    def _new_delivery(self) -> DeliveryWorker:
        return DeliveryWorker(
            lambda: self.outbox,
            self._load_notifier,
            worker_id="memory:0",
            blocks=self.router.blocks(),
            left_for="they are lost, as nothing keeps them without a store",
        )

    def deliver(self) -> None:
        """Have the outbox's messages delivered: by a new delivery if the last one was stopped
        (a store that took them over could not take them after all)."""
        if self.delivery.stopped:
            self.delivery = self._new_delivery()
        self.delivery.poke()

    def observe(
        self, kind: RunKind, owner: RunOwner, run: FlowRun | TaskRun, old: State | None, new: State
    ) -> None:
        """The engine observer (a :class:`~flowhook._engine.TransitionObserver`)."""
        types, names = self.router.watched[kind.name]
        if new.type not in types and new.name not in names:
            return  # no rule is about this state: no call of outbox_entries (as in the recorder)
        entries = outbox_entries(self.router, kind.name, owner, run, new)
        if entries:
            self.outbox.enqueue_outbox(entries)
            self.delivery.poke()

    def start(self) -> None:
        observers.append(self.observe)

    def stop(self) -> None:
        if self.observe in observers:
            observers.remove(self.observe)
