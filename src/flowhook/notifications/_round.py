"""What the senders of one round of delivery (one batch of claimed messages) share: each block's
notifier, loaded once, and the "sent" marks, written a few at a time.

Loading a block reads the config file, the store and the secrets file: once a round, not once a
message. Marking a message sent is a write transaction: one statement marks many. A message is
marked only after its notifier returned, as before; what batching changes is how long a sent
message may stay unmarked: until :data:`MARK_EVERY` messages wait, or the oldest has waited
:data:`MARK_WITHIN` seconds when a sender starts or ends a send, or a sender is about to wait
for a block's spacing, or the round ends. That is never longer than one send of another lane
(a notifier's timeout, which is under half a claim's lease) plus :data:`MARK_WITHIN`, so a sent
message's claim never runs out before its mark (a message whose claim ran out may be taken and
sent again by another process). A process that dies in that span leaves those messages claimed:
they are sent again once the claims are released, as the one message in flight always was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flowhook_hookspec.notify import Notifier

__all__ = ["MARK_EVERY", "MARK_WITHIN", "Notifiers", "SentMarks"]

#: At most this many sent messages wait for their mark...
MARK_EVERY = 32
#: ...and for at most this long, counted from the oldest, when another message is sent.
MARK_WITHIN = 0.2


class Notifiers:
    """The notifier of each block, loaded once per round; a block that failed to load fails
    the same way for each of its messages (each is reported, retried or kept pending)."""

    def __init__(self, load: Callable[[str], Notifier]) -> None:
        self._load = load
        self._loaded: dict[str, Notifier | Exception] = {}
        self._lock = threading.Lock()

    def __call__(self, block: str) -> Notifier:
        found = self._loaded.get(block)
        if found is None:
            with self._lock:
                found = self._loaded.get(block)
                if found is None:
                    try:
                        found = self._load(block)
                    except Exception as exc:
                        found = exc
                    self._loaded[block] = found
        if isinstance(found, Exception):
            raise found
        return found


class SentMarks:
    """Messages sent and not yet marked so in ``store``: the senders add to it, and whichever
    adds the :data:`MARK_EVERY`-th (or finds the oldest waiting :data:`MARK_WITHIN` seconds)
    marks them all, in one statement; :meth:`flush` marks the rest."""

    def __init__(self, store: Any, every: int = MARK_EVERY, within: float = MARK_WITHIN) -> None:
        self._store = store
        self._every = every
        self._within = within
        self._waiting: list[int] = []
        self._since = 0.0
        self._lock = threading.Lock()

    def sent(self, message_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._waiting:
                self._since = now
            self._waiting.append(message_id)
            due = len(self._waiting) >= self._every or now - self._since >= self._within
        if due:
            self.flush()

    def before_send(self, spaced: bool) -> None:
        """A sender starts a send, after waiting for its block's spacing if ``spaced``: mark
        what has waited long enough, or everything before such a wait."""
        if self._waiting and (spaced or time.monotonic() - self._since >= self._within):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            ids, self._waiting = self._waiting, []
        if ids:
            self._store.mark_outbox_sent(ids, time.time())
