"""Attaching the recorder: once per process, before its first run, and again after a fork.

:func:`attach` is what the engine's ``preparers`` seam calls before every top-level run (it
returns at once once attached). The first call opens the store, registers this process, adds
the recorder to the engine's observers, starts delivery when there are notification rules, and
reaps the runs of dead processes. At exit, :func:`detach` writes what is queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from flowhook_hookspec.errors import ConfigError

from .._version import __version__
from ..notifications import Block, DeliveryWorker
from ..store import BatchWriter, StoreSettings, current_process, load_settings, open_store
from .recorder import Recorder
from .routing import load_router_of

__all__ = ["attach", "current", "detach", "flush", "load_block_notifier"]

logger = logging.getLogger("flowhook.store")

_lock = threading.RLock()
_recorder: Recorder | None = None
#: (FLOWHOOK_HOME, FLOWHOOK_STORE) the store was attached for: changing either re-attaches.
_key: tuple[str | None, str | None] | None = None
#: Recorders inherited through fork: their threads and connections belong to the parent.
_abandoned: list[Recorder] = []
_hooks_installed = False


def attach() -> None:
    """Start recording runs, once per process (and again if FLOWHOOK_HOME changes)."""
    get = os.environ.get
    if (get("FLOWHOOK_HOME"), get("FLOWHOOK_STORE")) != _key:
        _attach()


def _attach() -> None:
    global _key, _recorder
    with _lock:
        key = (os.environ.get("FLOWHOOK_HOME"), os.environ.get("FLOWHOOK_STORE"))
        if key == _key:
            return
        _stop_recorder()
        _key = key  # first, so that a run started by a reaped run's hook does not come back here
        _install_process_hooks()
        try:
            settings = load_settings()
        except ConfigError as exc:
            logger.error("%s; runs are not recorded", exc)
            return
        if not settings.enabled:
            return
        recorder = _open(settings)
        if recorder is None:
            return
        recorder.start()
        _recorder = recorder
        from .reaper import reap  # the reaper imports the engine's flows: only when needed

        try:
            reaped = reap(recorder.store, settings=settings)
        except Exception as exc:
            logger.error("could not look for crashed runs in %s: %s", recorder.store.location, exc)
            return
        if reaped:
            logger.warning(
                "%d runs of processes that died were marked Crashed: %s (see flowhook runs ls)",
                len(reaped),
                ", ".join(f"{item.run.kind} run {item.run.name!r}" for item in reaped[:5])
                + (", ..." if len(reaped) > 5 else ""),
            )
        _deliver_leftovers(recorder)


def _deliver_leftovers(recorder: Recorder) -> None:
    """Start delivery when the outbox holds messages already due: the reaper's alerts, and what
    processes that died or exited early left. Any process that runs a flow sends them."""
    try:
        next_attempt = recorder.store.next_outbox_attempt()
    except Exception as exc:
        logger.error("could not read the outbox in %s: %s", recorder.store.location, exc)
        return
    if next_attempt is not None and next_attempt <= time.time() and recorder.delivery:
        recorder.delivery.poke()


def _open(settings: StoreSettings) -> Recorder | None:
    try:
        store = open_store(settings)
    except Exception as exc:
        logger.error("runs are not recorded: %s", exc)
        return None
    try:
        process_id = store.register_process(current_process(__version__))
    except Exception as exc:
        logger.error("runs are not recorded: could not register this process in %s: %s",
                     store.location, exc)  # fmt: skip
        store.close()
        return None
    router = load_router_of(store)
    delivery = DeliveryWorker(
        lambda: open_store(settings),
        load_block_notifier,
        worker_id=f"{process_id}:{os.getpid()}",
        blocks=router.blocks(),
    )
    writer = BatchWriter(
        store,
        process_id,
        wait_timeout=settings.lock_timeout_seconds + 10,
        on_outbox=delivery.poke,
    )
    return Recorder(settings, store, process_id, writer, router, delivery)


def load_block_notifier(name: str) -> Any:
    """The notifier of block ``name``, for the delivery worker."""
    return Block.load(name)


def _stop_recorder() -> None:
    global _recorder
    recorder, _recorder = _recorder, None
    if recorder is not None:
        recorder.stop()


def detach() -> None:
    """Stop recording: apply what is queued, stop the threads, close the store."""
    global _key
    with _lock:
        _stop_recorder()
        _key = None


def flush() -> bool:
    """Wait until every transition recorded so far is written; False without a store."""
    recorder = _recorder
    return recorder is not None and recorder.writer.flush()


def current() -> Recorder | None:
    """The attached recorder, if any."""
    return _recorder


def _after_fork_in_child() -> None:
    global _recorder, _key, _lock
    _lock = threading.RLock()
    if _recorder is not None:
        _recorder.forget()
        _abandoned.append(_recorder)
    _recorder, _key = None, None


def _at_exit() -> None:
    recorder = _recorder
    if recorder is not None and recorder.delivery is not None and recorder.delivery.started:
        # Every outbox entry queued so far is written first, so that the drain sees it.
        recorder.writer.flush()
        recorder.delivery.drain()
    started = time.monotonic()
    detach()
    spent = time.monotonic() - started
    if spent > 5:
        logger.warning("writing the last run history at exit took %.0f s", spent)


def _install_process_hooks() -> None:
    global _hooks_installed
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
