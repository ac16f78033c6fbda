"""Delivery: send what the outbox holds, off the runs' threads, losing nothing.

- At least once: a message is marked sent only after its notifier returned. A process that dies
  mid-send leaves the message claimed; the claim expires and another process sends it again.
- Retries with exponential backoff and full jitter, honouring a service's ``retry_after``;
  permanent errors and exhausted retries move the message to ``dead``, with the error redacted.
- A per-block minimum spacing (the notifier class's ``min_interval_seconds``; Slack: 1 s)
  protects rate limits.
- At process exit the runtime drains: delivery goes on, retries included, until nothing of this
  process's blocks is pending or ``FLOWHOOK_DELIVERY_DRAIN_SECONDS`` (default 10) run out. What
  is left is delivered by ``flowhook deliver``, ``flowhook watch`` or the next flowhook process.
- A message whose block type no installed plugin provides stays pending (it is retried, never
  dead-lettered) until the plugin is back.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import attrs

from flowhook_hookspec.errors import FlowhookError, NotificationError
from flowhook_hookspec.notify import Notifier, redact

from ._blocks import MissingNotifierError
from ._delivery_settings import MAX_ATTEMPTS, backoff_seconds, claim_seconds, drain_seconds
from ._round import Notifiers, SentMarks
from ._senders import Lanes, Lease, Spacing, send_in_lanes

logger = logging.getLogger("flowhook.notifications")

__all__ = ["DeliveryReport", "DeliveryWorker", "deliver_due", "deliver_within"]


def deliver_due(
    store: Any,
    load_notifier: Callable[[str], Notifier],
    worker: str,
    spacing: Spacing | None = None,
    limit: int = 50,
    stopping: threading.Event | None = None,
) -> tuple[int, int]:
    """Claim the due messages and try each once; returns (claimed, sent). The messages are
    sent by a pool of threads, in order within each run and block (see ``_senders``).

    Once ``stopping`` is set, no other send starts (a send under way finishes, a wait for a
    block's spacing ends at once): the messages not tried are given back, due for any sender
    at once rather than once their claim runs out.

    A claim is renewed before a send only once less than half its lease is left: a batch
    whose sends take longer than one lease (a slow service, the per-block spacing) never loses
    a message to a second sender while the first still holds it, and a fast batch renews
    nothing (a renewal is a write to the store: it cost 15 % of throughput before each send).
    """
    spacing = spacing or Spacing()
    lease = claim_seconds()
    claim = Lease(lease)
    claimed = store.claim_outbox(worker, time.time(), limit, lease)
    notifiers, marks = Notifiers(load_notifier), SentMarks(store)
    untried: list[int] = []

    def send(message: Any) -> bool:
        outcome = _deliver_one(store, notifiers, worker, message, spacing, claim, marks, stopping)
        if outcome is None:
            untried.append(message.id)
        return bool(outcome)

    try:
        return len(claimed), send_in_lanes(claimed, Lanes(notifiers), send)
    finally:
        marks.flush()  # before the claims go back: a sent message must be marked first
        if untried:
            store.unclaim_outbox(untried, worker)


def _deliver_one(
    store: Any,
    load_notifier: Callable[[str], Notifier],
    worker: str,
    message: Any,
    spacing: Spacing,
    claim: Lease,
    marks: SentMarks,
    stopping: threading.Event | None = None,
) -> bool | None:
    """Try one claimed message once; True when it was sent (it is then marked so with
    ``marks``; a failure is recorded at once), None when ``stopping`` was set before its turn
    (it was not tried)."""
    if stopping is not None and stopping.is_set():
        return None
    block = f"{message.block_type}/{message.block_name}"
    notifier: Notifier | None = None
    try:
        notifier = load_notifier(block)
        marks.before_send(spaced=notifier.min_interval_seconds > 0)
        if not spacing.wait(block, notifier.min_interval_seconds, stopping):
            return None
        if claim.needs_renewal(message.id):
            if not store.renew_outbox_claim(message.id, worker, claim.seconds):
                return False  # the claim ran out and another process took (or sent) the message
            claim.renewed(message.id)
        spacing.sent(block)
        _notify(notifier, message)
    except NotificationError as exc:
        _failed(store, message, block, exc, notifier, exc.permanent, exc.retry_after)
        return False
    except Exception as exc:  # a bug in a notifier: retry, it may be transient
        _failed(store, message, block, exc, notifier, False, None)
        return False
    marks.sent(message.id)
    logger.info("notification %s sent to %s", message.id, block)
    return True


def message_key(key: str) -> str:
    """The key a notifier receives: 32 hex digits of the outbox entry's idempotency key, which
    names the event, the rule and the block (and can hold any text, a file path included)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


_takes_key_cache: dict[type[Notifier], bool] = {}


def _takes_key(cls: type[Notifier]) -> bool:
    """Whether the notifier class's ``notify`` accepts ``key=`` (older notifiers do not)."""
    found = _takes_key_cache.get(cls)
    if found is None:
        try:
            parameters = inspect.signature(cls.notify).parameters
            found = "key" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        except (TypeError, ValueError):
            found = False
        _takes_key_cache[cls] = found
    return found


def _notify(notifier: Notifier, message: Any) -> None:
    if message.key is not None and _takes_key(type(notifier)):
        notifier.notify(message.body, message.subject, key=message_key(message.key))
    else:
        notifier.notify(message.body, message.subject)


def _failed(
    store: Any,
    message: Any,
    block: str,
    error: Exception,
    notifier: Notifier | None,
    permanent: bool,
    retry_after: float | None,
) -> None:
    secrets = notifier.secrets() if notifier is not None else ()
    text = redact(f"{type(error).__name__}: {error}", *secrets)
    attempts = message.attempts + 1
    # A missing plugin is not the message's fault: it waits, however long, for the plugin.
    exhausted = attempts >= MAX_ATTEMPTS and not isinstance(error, MissingNotifierError)
    if permanent or exhausted:
        store.mark_outbox_dead(message.id, attempts, text)
        reason = "permanent error" if permanent else f"{attempts} attempts"
        logger.error("notification %s to %s is dead (%s): %s", message.id, block, reason, text)
        return
    delay = backoff_seconds(attempts, retry_after)
    store.mark_outbox_retry(message.id, attempts, time.time() + delay, text)
    logger.warning(
        "notification %s to %s failed (attempt %d), retrying in %.1f s: %s",
        message.id,
        block,
        attempts,
        delay,
        text,
    )


@attrs.frozen
class DeliveryReport:
    """What a round of delivery did, and what it left pending."""

    sent: int
    pending: int
    #: When the earliest pending message is due (seconds since the epoch), if any is pending.
    next_attempt: float | None

    def summary(self) -> str:
        """One line for a person: what was sent, and what is left and when it is due."""
        sent = f"Delivered {self.sent} notification{'s' if self.sent != 1 else ''}"
        if not self.pending:
            return f"{sent}; none pending."
        due = ""
        if self.next_attempt is not None:
            wait = self.next_attempt - time.time()
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.next_attempt))
            due = f"; the next attempt is due at {when}" + (
                f" (in {wait:.0f} s)" if wait > 0 else ""
            )
        return f"{sent}; {self.pending} still pending{due}."


#: How often a waiting round looks again while another process holds a due message's claim.
_POLL_SECONDS = 0.05


def deliver_within(
    store: Any,
    load_notifier: Callable[[str], Notifier],
    worker: str,
    within: float,
    blocks: Collection[str] | None = None,
    spacing: Spacing | None = None,
) -> DeliveryReport:
    """Deliver what is due, then keep delivering retries as they come due, for up to ``within``
    seconds; stop as soon as nothing (of ``blocks``, if given) is pending.

    A message whose next attempt falls after the deadline is left pending, for later.
    """
    spacing = spacing or Spacing()
    deadline = time.monotonic() + within
    sent = 0
    while True:
        claimed, delivered = deliver_due(store, load_notifier, worker, spacing, limit=200)
        sent += delivered
        if claimed:
            continue
        next_attempt = store.next_outbox_attempt(blocks)
        left = deadline - time.monotonic()
        if next_attempt is None or left <= 0:
            break
        wait = next_attempt - time.time()
        if wait > left:
            break
        # Due now but claimed by another process (or by a send still under way): look again soon.
        time.sleep(max(wait, _POLL_SECONDS))
    return DeliveryReport(
        sent, store.pending_outbox_count(blocks), store.next_outbox_attempt(blocks)
    )


class DeliveryWorker:
    """A daemon thread that delivers due messages while the process runs.

    ``blocks`` are the blocks this process's rules send to: :meth:`drain` waits for those.
    """

    def __init__(
        self,
        open_store: Callable[[], Any],
        load_notifier: Callable[[str], Notifier],
        worker_id: str | None = None,
        blocks: Collection[str] | None = None,
        left_for: str = "'flowhook deliver', 'flowhook watch' or the next flowhook process sends them",
    ) -> None:
        self._open_store = open_store
        self._load_notifier = load_notifier
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Claims carry this id; ``<store process id>:<pid>`` lets a reaper release the claims
        #: of a process that died.
        self.worker_id = worker_id or f"0:{os.getpid()}"
        self.blocks = frozenset(blocks) if blocks is not None else None
        #: What becomes of messages still pending after the drain, for its warning.
        self.left_for = left_for
        #: Entered around each round of claims and sends: a registered process keeps its
        #: heartbeat going there (see :meth:`~flowhook.store.Heartbeat.claiming`), so that no
        #: reaper on another host takes it for dead and frees its claims mid-send.
        self.claiming: Callable[[], AbstractContextManager[object]] = nullcontext
        #: When each block last sent: the thread's and then the drain's, so that a block's
        #: spacing holds when the drain takes over.
        self._spacing = Spacing()

    @property
    def started(self) -> bool:
        """Whether the thread was started (something was enqueued, or left due)."""
        return self._thread is not None

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` or :meth:`drain` was called: it delivers nothing more."""
        return self._stop.is_set()

    def poke(self) -> None:
        """Something was enqueued or is due: start the worker if needed and wake it."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flowhook-delivery", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread, letting a send under way finish (up to ``timeout`` seconds; ``None``:
        until it ends); no other send of its batch starts. What is still pending stays in the
        outbox, unclaimed, for whichever process delivers next."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        store = self._open_store()
        spacing = self._spacing
        failing = False
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    with self.claiming():
                        claimed, _ = deliver_due(
                            store, self._load_notifier, self.worker_id, spacing, stopping=self._stop
                        )
                    failing = False
                except FlowhookError as exc:  # the store unusable for now: one line, not each try
                    if not failing:
                        logger.warning("notification delivery paused: %s; retrying shortly", exc)
                    failing, claimed = True, 0
                except Exception:
                    logger.exception("notification delivery failed; retrying shortly")
                    claimed = 0
                if not claimed:
                    self._wake.wait(self._idle_seconds(store))
        finally:
            store.close()

    def _idle_seconds(self, store: Any) -> float:
        try:
            next_due: float | None = store.next_outbox_attempt()
        except FlowhookError:  # the store unusable for now (this thread must not die of it)
            return 5.0
        if next_due is None:
            return 5.0
        return min(5.0, max(0.05, next_due - time.time()))

    def drain(self, seconds: float | None = None) -> DeliveryReport:
        """At exit: stop the thread, then deliver in this one, retries included, until nothing of
        this process's blocks is pending or ``seconds`` (``FLOWHOOK_DELIVERY_DRAIN_SECONDS``) run
        out. What is left is said in one warning line."""
        budget = drain_seconds() if seconds is None else seconds
        deadline = time.monotonic() + budget
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=budget)  # a send under way finishes, or its claim holds
        store = self._open_store()
        try:
            with self.claiming():
                report = deliver_within(
                    store,
                    self._load_notifier,
                    self.worker_id,
                    max(0.0, deadline - time.monotonic()),
                    self.blocks,
                    self._spacing,
                )
        finally:
            store.close()
        if report.pending:
            logger.warning("%s At exit: %s.", report.summary(), self.left_for)
        return report
