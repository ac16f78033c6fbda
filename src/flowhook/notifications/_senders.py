"""A pool of senders for one batch of claimed messages.

Sending is waiting on a network: one sender per block caps delivery at one round trip per
message. The batch is split into lanes, each sent in order by one thread of a small pool:

- the messages of one run to one block form a lane, so a run's notifications arrive in the
  order its transitions happened;
- a block whose notifier sets ``min_interval_seconds`` is one lane on its own, so its spacing
  holds however many runs it serves.

``FLOWHOOK_DELIVERY_SENDERS`` (default 8) is the pool's size; 1 sends everything in order on
the calling thread. :class:`Spacing` keeps each block's minimum interval across batches.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from flowhook_hookspec.notify import Notifier

__all__ = ["SENDERS", "Lanes", "Lease", "Spacing", "lanes", "send_in_lanes", "senders"]

logger = logging.getLogger("flowhook.notifications")

#: Threads that send one batch at once, unless ``FLOWHOOK_DELIVERY_SENDERS`` says otherwise.
SENDERS = 8

M = TypeVar("M")


def senders() -> int:
    """``FLOWHOOK_DELIVERY_SENDERS``: how many threads send one batch (at least 1)."""
    raw = os.environ.get("FLOWHOOK_DELIVERY_SENDERS")
    if not raw:
        return SENDERS
    try:
        return max(1, int(raw))
    except ValueError:
        logger.warning("FLOWHOOK_DELIVERY_SENDERS=%r is not a whole number; using %d", raw, SENDERS)
        return SENDERS


def lanes(messages: Iterable[M], lane_of: Callable[[M], Hashable]) -> list[list[M]]:
    """The messages grouped by lane, each lane in the order the messages came."""
    grouped: dict[Hashable, list[M]] = {}
    for message in messages:
        grouped.setdefault(lane_of(message), []).append(message)
    return list(grouped.values())


def send_in_lanes(
    messages: Sequence[M],
    lane_of: Callable[[M], Hashable],
    send: Callable[[M], bool],
    size: int | None = None,
) -> int:
    """Send every message with ``send`` (True when it was sent), each lane in order, the lanes
    at once on up to ``size`` threads (the calling one included); returns how many were sent.
    An exception ``send`` raises is raised here once every lane has finished."""
    groups = lanes(messages, lane_of)
    size = senders() if size is None else size
    if size <= 1 or len(groups) <= 1:
        return sum(1 for message in messages if send(message))
    pool = _Pool(groups, send)
    helpers = []
    for number in range(min(size, len(groups)) - 1):
        helper = threading.Thread(target=pool.work, name=f"flowhook-sender-{number}", daemon=True)
        try:
            helper.start()
        except RuntimeError:  # the interpreter is shutting down: this thread sends the rest
            break
        helpers.append(helper)
    pool.work()
    for helper in helpers:
        helper.join()
    if pool.errors:
        raise pool.errors[0]
    return pool.sent


class _Pool:
    """Lanes waiting for a sender. Plain threads, not ``concurrent.futures``: delivery also runs
    at interpreter exit (the drain), when an executor refuses new work."""

    def __init__(self, groups: list[list[M]], send: Callable[[M], bool]) -> None:
        self._waiting: collections.deque[list[Any]] = collections.deque(groups)
        self._send = send
        self._lock = threading.Lock()
        self.sent = 0
        self.errors: list[BaseException] = []

    def work(self) -> None:
        while True:
            try:
                lane = self._waiting.popleft()
            except IndexError:
                return
            sent = 0
            try:
                for message in lane:
                    sent += bool(self._send(message))
            except BaseException as exc:  # raised by send_in_lanes once every lane finished
                self.errors.append(exc)
            with self._lock:
                self.sent += sent


class Lanes:
    """The lane of a message: its block alone when the block is spaced, else its block and its
    run. Each block's notifier is loaded once (per batch) to read its spacing."""

    def __init__(self, load_notifier: Callable[[str], Notifier]) -> None:
        self._load_notifier = load_notifier
        self._spaced: dict[str, bool] = {}

    def __call__(self, message: Any) -> tuple[str, ...]:
        block = f"{message.block_type}/{message.block_name}"
        spaced = self._spaced.get(block)
        if spaced is None:
            try:
                spaced = self._load_notifier(block).min_interval_seconds > 0
            except Exception:  # the error is reported when the message is sent
                spaced = True
            self._spaced[block] = spaced
        if spaced:
            return (block,)
        return (block, message.run_id or f"message:{message.id}")


class Lease:
    """When the claims of one batch end, by this process's monotonic clock (a wall clock that
    jumps must not make a claim look longer than it is)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._claimed_at = time.monotonic()  # taken before the claim: errs on the short side
        self._renewed: dict[int, float] = {}

    def needs_renewal(self, message_id: int) -> bool:
        since = self._renewed.get(message_id, self._claimed_at)
        return time.monotonic() - since > self.seconds / 2

    def renewed(self, message_id: int) -> None:
        self._renewed[message_id] = time.monotonic()


class Spacing:
    """Remembers when each block last sent, to keep its minimum interval."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def wait(self, block: str, interval: float, stopping: threading.Event | None = None) -> bool:
        """Wait until ``block`` may send again; False when ``stopping`` was set first (or
        before), and then it may not."""
        last = self._last.get(block)
        if last is not None and interval > 0:
            remaining = last + interval - time.monotonic()
            if remaining > 0:
                if stopping is not None:
                    return not stopping.wait(remaining)
                time.sleep(remaining)
        return stopping is None or not stopping.is_set()

    def sent(self, block: str) -> None:
        self._last[block] = time.monotonic()
