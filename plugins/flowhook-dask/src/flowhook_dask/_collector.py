"""Fetching finished bodies' envelopes from the cluster, many per round trip."""

from __future__ import annotations

import queue
import threading
from typing import Any

from ._body import DaskBody, outcome_of

__all__ = ["Collector"]


class Collector:
    """A thread that fetches the envelopes of finished Dask futures and hands them to their
    bodies. One ``gather`` serves every future that finished meanwhile: a round trip per task
    would cost more than a trivial task itself."""

    def __init__(self, client: Any) -> None:
        self._client = client
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
        finished = [body for body in batch if body.future.status == "finished"]
        envelopes: list[Any] = []
        if finished:
            try:
                envelopes = self._client.gather([body.future for body in finished])
            except Exception:  # one failed to arrive: take them one by one
                envelopes = []
        fetched = dict(zip([id(body) for body in finished], envelopes, strict=False))
        for body in batch:
            try:
                body.finish(outcome_of(body.future, fetched.get(id(body))))
            finally:
                body.future.release()  # recorded: a later worker death must not recompute it
