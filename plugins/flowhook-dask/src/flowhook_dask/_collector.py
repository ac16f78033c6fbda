"""Following Dask futures to their end, off the flow's threads.

A body normally ends by its end event (:data:`._envelope.END_TOPIC`), which Dask delivers
before the future is done. The future's done callback then only releases it: a recorded
result must not be recomputed by a later worker death. A future that is done without an
end event ended otherwise: its worker died, Dask lost it, or the function did not unpickle;
for those (and, should the event ever be missing, for a finished one, fetched here), this
thread asks Dask. A round trip for many futures at once: one ``gather`` serves all the
finished futures of a batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from flowhook_hookspec.runners import BodyOutcome

from ._body import DaskBody, outcome_of

__all__ = ["Collector"]


class Collector:
    """A thread that ends the bodies of done Dask futures and releases those futures."""

    def __init__(self, client: Any, forget: Callable[[DaskBody], None]) -> None:
        self._client = client
        self._forget = forget
        self._queue: queue.SimpleQueue[DaskBody | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="flowhook-dask-collector", daemon=True
        )
        self._thread.start()

    def follow(self, body: DaskBody, future: Any) -> None:
        body.future = future
        future.add_done_callback(lambda _: self._queue.put(body))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while not stop:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            self._collect(batch)
            if stop:
                return

    def _collect(self, batch: list[DaskBody]) -> None:
        unended = [body for body in batch if not body.ended()]
        finished = [body for body in unended if body.future.status == "finished"]
        envelopes: list[Any] = []
        if finished:
            try:
                envelopes = self._client.gather([body.future for body in finished])
            except Exception:  # one failed to arrive: take them one by one
                envelopes = []
        fetched = dict(zip([id(body) for body in finished], envelopes, strict=False))
        for body in unended:
            told = fetched.get(id(body)) or outcome_of(body.future)
            if isinstance(told, BodyOutcome):
                body.finish(told)
            else:
                body.on_end(told)
        for body in batch:
            if not body.keeps_result():
                body.future.release()  # recorded: a later worker death must not recompute it
            self._forget(body)
