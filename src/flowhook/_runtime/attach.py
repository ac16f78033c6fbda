"""Attaching the recorder: once per process, before its first run, and again after a fork.

:func:`attach` is what the engine's ``preparers`` seam calls before every top-level run (it
returns at once once attached). The first call opens the store, registers this process, adds
the recorder to the engine's observers, starts delivery when there are notification rules, and
reaps the runs of dead processes. At exit, what is queued is written and the outbox drained.

Without a usable store (``FLOWHOOK_STORE=off``, a bad setting, a database that cannot be
opened), the notification rules still notify: :class:`~.routing.MemoryRouting` delivers their
messages from memory while the process lives, and one warning says that this is not durable.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.errors import ConfigError

from .._engine import current_context
from .._version import __version__
from ..notifications import Block, DeliveryWorker, drain_seconds, load_router
from ..store import BatchWriter, StoreSettings, current_process, load_settings, open_store
from .recorder import Recorder
from .routing import MemoryRouting, load_router_of
from .writer_choice import writer_kind

if TYPE_CHECKING:
    from .writer_process import ProcessWriter

__all__ = ["attach", "current", "detach", "flush", "load_block_notifier"]

logger = logging.getLogger("flowhook.store")

_lock = threading.RLock()
_recorder: Recorder | None = None
#: Without a store: the rules' in-memory delivery.
_routing: MemoryRouting | None = None
#: (FLOWHOOK_HOME, FLOWHOOK_STORE, FLOWHOOK_STORE_URL) the store was attached for: changing
#: any of them re-attaches.
_key: tuple[str | None, str | None, str | None] | None = None
#: Recorders inherited through fork: their threads and connections belong to the parent.
_abandoned: list[Recorder] = []
#: Memory routings replaced by a store that became usable: their delivery finishes what it holds.
_draining: list[MemoryRouting] = []
#: Threads that move to the store what a send under way at a hand-over left pending.
_moving: list[threading.Thread] = []
#: While the store cannot be used: the thread that tries again.
_retry: _Retry | None = None
_hooks_installed = False


def attach() -> None:
    """Start recording runs, once per process (and again if FLOWHOOK_HOME changes).

    A store that could not be used at the first run is tried again in the background; the
    recorder it then opens starts at the next run that begins outside any other run.
    """
    get = os.environ.get
    if (get("FLOWHOOK_HOME"), get("FLOWHOOK_STORE"), get("FLOWHOOK_STORE_URL")) != _key:
        _attach()
    elif _retry is not None and _retry.ready is not None and current_context.get() is None:
        _attach_retried()


def _attach() -> None:
    global _key
    with _lock:
        get = os.environ.get
        key = (get("FLOWHOOK_HOME"), get("FLOWHOOK_STORE"), get("FLOWHOOK_STORE_URL"))
        if key == _key:
            return
        _stop_recorder()
        _key = key  # first, so that a run started by a reaped run's hook does not come back here
        _install_process_hooks()
        try:
            settings = load_settings()
        except ConfigError as exc:
            logger.error("%s; runs are not recorded", exc)
            _route_in_memory(None, f"{exc}; fix the setting")
            return
        if not settings.enabled:
            _route_in_memory(settings, "the store is off (FLOWHOOK_STORE=off)")
            return
        try:
            recorder = _open(settings)
        except _Unusable as exc:
            _retry_later(settings, exc)
            return
        _start(recorder, settings)


def _retry_later(settings: StoreSettings, exc: _Unusable) -> None:
    """The store cannot be used now: runs go on unrecorded, said once, and a background
    thread tries again until it can."""
    global _retry
    logger.error(
        "runs are not recorded for now: %s; flowhook tries again in the background, and "
        "records the runs that start once it can",
        exc,
    )
    _route_in_memory(
        settings,
        f"the store cannot be used ({exc}); make FLOWHOOK_HOME a writable directory "
        "holding a sound flowhook.db, or move the damaged file away",
    )
    _retry = _Retry(settings)
    _retry.start()


def _attach_retried() -> None:
    global _retry, _routing
    with _lock:
        retry, _retry = _retry, None
        if retry is None or retry.ready is None:
            return
        routing, _routing = _routing, None
        if routing is not None:
            routing.stop()
            _hand_over(routing, retry.ready)
        logger.warning(
            "the store %s can be used again: runs are recorded from now on",
            retry.ready.store.location,
        )
        _start(retry.ready, retry.settings)


def _hand_over(routing: MemoryRouting, recorder: Recorder) -> None:
    """Move the messages waiting in memory to the store's outbox, where they are durable and
    the store's delivery sends them. One being sent at this moment stays with the memory
    delivery until that send ends; then that delivery stops, and what the send left pending
    moves too (:func:`_move_after_sends`), retried from memory only if the store refuses it."""
    _move_pending(routing, recorder)
    if routing.delivery.started:
        _draining.append(routing)
        mover = threading.Thread(target=_move_after_sends, args=(routing, recorder), daemon=True)
        _moving.append(mover)
        mover.start()


def _move_after_sends(routing: MemoryRouting, recorder: Recorder) -> None:
    routing.delivery.stop(timeout=None)  # a send has a timeout of its own
    if _move_pending(routing, recorder) and recorder.delivery is not None:
        recorder.delivery.poke()


def _move_pending(routing: MemoryRouting, recorder: Recorder) -> bool:
    """Move ``routing``'s pending messages that no send holds to ``recorder``'s store; whether
    any moved. Those the store does not take stay in memory, delivered from there."""
    entries = routing.outbox.take_pending(time.time())
    if not entries:
        return False
    try:
        recorder.store.enqueue_outbox(entries)
    except Exception as exc:
        logger.error(
            "could not move %d pending notifications to the store %s (%s): this process "
            "still delivers them itself",
            len(entries),
            recorder.store.location,
            exc,
        )
        routing.outbox.enqueue_outbox(entries)
        routing.deliver()
        return False
    return True


def _start(recorder: Recorder, settings: StoreSettings) -> None:
    global _recorder
    recorder.start()
    _recorder = recorder
    from .reaper import reap  # the reaper imports the engine's flows: only when needed

    try:
        reaped = reap(recorder.store, settings=settings, worker=recorder.worker_id)
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


class _Retry:
    """Opens the store in a daemon thread, again and again (1 s apart, then up to 30 s), until
    it can: the recorder is then :attr:`ready` for the next run."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.ready: Recorder | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowhook-store-retry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        ready, self.ready = self.ready, None
        if ready is not None:
            ready.stop()

    def _loop(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            try:
                recorder = _open(self.settings)
            except _Unusable:
                delay = min(delay * 2, 30.0)
                continue
            if self._stop.is_set():
                recorder.stop()
            else:
                self.ready = recorder
            return


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


class _Unusable(Exception):
    """The store cannot be opened, or this process cannot register in it."""


def _open(settings: StoreSettings) -> Recorder:
    """A recorder on the store, which must be usable within ``attach_timeout_seconds``."""
    try:
        store = open_store(settings, lock_timeout=settings.attach_timeout_seconds)
    except Exception as exc:
        raise _Unusable(str(exc)) from None
    try:
        process_id = store.register_process(current_process(__version__))
    except Exception as exc:
        store.close()
        raise _Unusable(f"could not register this process in {store.location}: {exc}") from None
    store.lock_timeout = settings.lock_timeout_seconds
    router = load_router_of(store)
    delivery = DeliveryWorker(
        lambda: open_store(settings),
        load_block_notifier,
        worker_id=f"{process_id}:{os.getpid()}",
        blocks=router.blocks(),
    )
    options: dict[str, Any] = {
        "wait_timeout": settings.lock_timeout_seconds + 10,
        "on_outbox": delivery.poke,
        "max_held_back": settings.held_back_limit,
    }
    writer: BatchWriter | ProcessWriter
    if writer_kind(settings.writer) == "process":
        from .writer_process import ProcessWriter

        options["wait_started"] = os.environ.get("FLOWHOOK_STORE_WRITER_WAIT") == "1"  # tests
        options["long_runs_only"] = settings.writer == "auto"
        writer = ProcessWriter(settings, store, process_id, **options)
    else:
        writer = BatchWriter(store, process_id, **options)
    return Recorder(settings, store, process_id, writer, router, delivery)


def load_block_notifier(name: str) -> Any:
    """The notifier of block ``name``, for the delivery worker."""
    return Block.load(name)


def _route_in_memory(settings: StoreSettings | None, reason: str) -> None:
    """Deliver the rules' messages from memory, best effort, and say so once."""
    global _routing
    router = load_router(_saved_blocks(settings))
    if not router:
        return
    routing = MemoryRouting(router, load_block_notifier)
    routing.start()
    _routing = routing
    logger.warning(
        "notifications are not durable: %s. This process delivers them itself, with retries, "
        "while it runs; any still pending when it exits are lost",
        reason,
    )


def _saved_blocks(settings: StoreSettings | None) -> list[tuple[str, str]]:
    """The blocks saved in an existing database, when it can be read; else none."""
    if settings is None or not settings.exists():
        return []
    try:
        store = open_store(settings, create=False)
    except Exception:
        return []
    try:
        saved: list[tuple[str, str]] = store.list_blocks()
        return saved
    except Exception:
        return []
    finally:
        store.close()


def _stop_recorder() -> None:
    global _recorder, _routing, _retry
    retry, _retry = _retry, None
    if retry is not None:
        retry.stop()
    recorder, _recorder = _recorder, None
    if recorder is not None:
        recorder.stop()
    routing, _routing = _routing, None
    if routing is not None:
        routing.stop()
        if routing.delivery.started:
            _draining.append(routing)  # nothing else holds its messages: delivered until exit


def detach() -> None:
    """Stop recording: apply what is queued, stop the threads, close the store."""
    global _key
    with _lock:
        _stop_recorder()
        _key = None


def flush() -> bool:
    """Wait until every transition recorded so far is written; False without a store."""
    recorder = _recorder
    return recorder is not None and recorder.flush()


def current() -> Recorder | None:
    """The attached recorder, if any."""
    return _recorder


def _after_fork_in_child() -> None:
    global _recorder, _routing, _key, _lock, _retry
    _lock = threading.RLock()
    _retry = None  # its thread is the parent's
    if _recorder is not None:
        _recorder.forget()
        _abandoned.append(_recorder)
    _draining.clear()
    _moving.clear()
    if _routing is not None:
        _routing.stop()  # its outbox and thread are the parent's
    _recorder, _routing, _key = None, None, None


def _at_exit() -> None:
    recorder, routing = _recorder, _routing
    moved = False
    if recorder is not None and recorder.delivery is not None:
        for mover in _moving:
            mover.join(drain_seconds())  # a send under way at a hand-over ends first
        for memory in _draining:
            # What a replaced memory delivery still holds goes to the store, which keeps it
            # should the drain fail too, rather than losing it with this process's memory.
            memory.delivery.stop(drain_seconds())
            moved = _move_pending(memory, recorder) or moved
        if moved or recorder.delivery.started or not recorder.writer.everything_written:
            # Every outbox entry queued so far is written first, so that the drain sees it;
            # alerts held back while the store was down start the delivery when written.
            recorder.flush()
        if moved or recorder.delivery.started:
            recorder.delivery.drain()
    for replaced in (*_draining, routing):
        if replaced is not None and replaced.delivery.started:
            replaced.delivery.drain()
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
