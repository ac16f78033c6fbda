"""``DaskTaskRunner``: task bodies on Dask distributed, transitions and hooks in the flow's process."""

from __future__ import annotations

import concurrent.futures
import importlib
from collections.abc import Callable
from typing import Any

from flowhook_hookspec.runners import (
    BodyOutcome,
    LocalThreadsRunner,
    RemoteTaskRunner,
    RemoteWork,
    TaskBody,
)
from flowhook_hookspec.states import State

from ._body import DaskBody, DaskResult
from ._collector import Collector
from ._consumer import Consumer
from ._envelope import END_TOPIC, START_TOPIC, Upstream, run_envelope

__all__ = ["DaskTaskRunner"]


#: The most bodies started before they are sent to the scheduler in one message.
SEND_AT_MOST = 500


def _import_class(name: str) -> Callable[..., Any]:
    module, _, attribute = name.rpartition(".")
    if not module:
        raise ValueError(
            f"cluster_class takes a class or a dotted name like 'dask_jobqueue.SLURMCluster', got {name!r}"
        )
    try:
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cluster_class {name!r} cannot be imported: {exc}") from None


class DaskTaskRunner(LocalThreadsRunner):
    """Runs each task run's body on a Dask cluster; its states and hooks stay in the flow's process.

    With no argument it starts a ``distributed.LocalCluster`` on first use and closes it when
    the flow run ends. ``address`` connects to a running scheduler; ``cluster`` uses a cluster
    object you manage; ``cluster_class``/``cluster_kwargs`` choose the cluster to start (a
    class or a dotted name), ``adapt_kwargs`` makes it adaptive, ``client_kwargs`` go to
    ``distributed.Client``.
    """

    def __init__(
        self,
        cluster: Any = None,
        address: str | None = None,
        cluster_class: str | Callable[..., Any] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (
            cluster is not None
            or cluster_class is not None
            or cluster_kwargs is not None
            or adapt_kwargs is not None
        ):
            raise ValueError(
                "DaskTaskRunner: address connects to a running scheduler, so it excludes "
                "cluster, cluster_class, cluster_kwargs and adapt_kwargs"
            )
        if cluster is not None and (cluster_class is not None or cluster_kwargs is not None):
            raise ValueError(
                "DaskTaskRunner: cluster is a cluster you made, so it excludes cluster_class and "
                "cluster_kwargs"
            )
        if client_kwargs and "asynchronous" in client_kwargs:
            raise ValueError(
                "DaskTaskRunner: client_kwargs cannot set asynchronous; the runner's client is synchronous"
            )
        self.cluster = cluster
        self.address = address
        self.cluster_class = (
            _import_class(cluster_class) if isinstance(cluster_class, str) else cluster_class
        )
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.adapt_kwargs = dict(adapt_kwargs or {}) if adapt_kwargs is not None else None
        self.client_kwargs = dict(client_kwargs or {})
        super().__init__("flowhook-dask-local")
        self._client: Any = None
        self._collector: Collector | None = None
        self._owned_cluster: Any = None
        self._consumer: Consumer | None = None
        self._bodies: dict[str, DaskBody] = {}
        self._unsent: list[tuple[DaskBody, tuple[Any, ...]]] = []  # started, not yet sent

    def __repr__(self) -> str:
        where = self.address or (type(self.cluster).__name__ if self.cluster is not None else None)
        return f"DaskTaskRunner({where or 'LocalCluster'})"

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` of the flow run in progress (``None`` between runs)."""
        return self._client

    def _start(self) -> None:
        """Connect (and start the owned cluster) on first use, also before an async task runs
        here; called with the lock held."""
        if self._client is not None:
            return
        import dask
        import distributed

        Client: Any = distributed.Client
        LocalCluster: Any = distributed.LocalCluster

        kwargs = {"set_as_default": False, **self.client_kwargs}
        if self.address is not None:
            client = Client(self.address, **kwargs)
        else:
            cluster = self.cluster
            if cluster is None:
                # A task that kills its worker must run once: Dask would re-run it elsewhere.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    cluster = (self.cluster_class or LocalCluster)(**self.cluster_kwargs)
                self._owned_cluster = cluster
            if self.adapt_kwargs is not None:
                cluster.adapt(**self.adapt_kwargs)
            client = Client(cluster, **kwargs)
        self._client = client
        self._collector = Collector(client, self._forget)
        self._consumer = Consumer(on_idle=self._send)
        client.subscribe_topic(START_TOPIC, self._on_start)
        client.subscribe_topic(END_TOPIC, self._on_end)

    def _body(self, key: str) -> DaskBody | None:
        with self._lock:
            return self._bodies.get(key)

    def _forget(self, body: DaskBody) -> None:
        with self._lock:
            if self._bodies.get(body.key) is body:
                del self._bodies[body.key]

    def _on_start(self, event: Any) -> None:  # on Dask's event loop: record, wake, return
        _, message = event
        body = self._body(message["key"])
        if body is not None:
            body.on_start(message["time"], message.get("address"))

    def _on_end(self, event: Any) -> None:  # on Dask's event loop: record, wake, return
        _, message = event
        body = self._body(message["key"])
        if body is not None:
            body.on_end(message["envelope"])

    def _arm_timeout(self, body: DaskBody) -> None:
        """On the consumer, as the start is read: end the attempt TimedOut when it runs over."""
        if body.timeout_seconds is not None and self._consumer is not None:
            self._consumer.call_later(
                body.timeout_seconds, lambda: body.give_up(BodyOutcome("timed_out"))
            )

    # -- the TaskRunner protocol, beyond LocalThreadsRunner's ------------------------------------

    def _before_submit(self) -> None:
        self._start()

    def _cancel_remote(self) -> None:
        with self._lock:
            bodies = list(self._bodies.values())
            consumer = self._consumer
        for body in bodies:
            body.give_up(
                BodyOutcome("cancelled", message="its flow run was cancelled while it ran on Dask")
            )
        if consumer is not None:
            consumer.wake_sleepers()

    def _shutdown_remote(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
            client, self._client = self._client, None
            collector, self._collector = self._collector, None
            cluster, self._owned_cluster = self._owned_cluster, None
        if consumer is not None:
            consumer.close()
        with self._lock:
            self._bodies.clear()
        if collector is not None:
            collector.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    # -- the RemoteTaskRunner protocol -------------------------------------------------------

    def submit_remote(self, work: Callable[[], RemoteWork]) -> concurrent.futures.Future[State]:
        with self._lock:
            self._start()
            assert self._consumer is not None
            return self._consumer.submit(work)

    def start_body(self, body: TaskBody) -> DaskBody:
        """Start ``body`` in its envelope; called on the consumer, which sends the bodies it
        started to the cluster together once it is idle. A value an upstream run left on the
        cluster goes as that run's Dask future, so Dask moves it between workers."""
        handle = DaskBody(body.key, body.timeout_seconds)
        handle.on_seen_start = self._arm_timeout
        with self._lock:
            client, collector = self._client, self._collector
            self._bodies[body.key] = handle
        assert client is not None and collector is not None, "called by work items submitted here"
        upstream: list[Any] = []
        args, kwargs = _upstream_refs(body.args, upstream), _upstream_refs(body.kwargs, upstream)
        with self._lock:
            self._unsent.append((handle, (body.fn, args, kwargs, body.key, upstream)))
            full = len(self._unsent) >= SEND_AT_MOST
        if full:
            self._send()
        return handle

    def _send(self) -> None:
        """Submit the bodies started since the last time, in one message to the scheduler
        (a message per body costs more than a trivial body itself). On the consumer, when it
        has nothing else to do."""
        with self._lock:
            unsent, self._unsent = self._unsent, []
            client, collector = self._client, self._collector
        unsent = [(handle, call) for handle, call in unsent if not handle.ended()]
        if not unsent:
            return
        assert client is not None and collector is not None
        fns, args, kwargs, keys, upstream = (
            list(column) for column in zip(*(c for _, c in unsent), strict=True)
        )
        try:
            futures = client.map(
                run_envelope, fns, args, kwargs, keys, upstream, key=keys, pure=False, retries=0
            )
        except Exception as exc:  # nothing was sent: these attempts fail with the reason
            for handle, _ in unsent:
                handle.finish(BodyOutcome("raised", value=exc))
            return
        for (handle, _), future in zip(unsent, futures, strict=True):
            collector.follow(handle, future)


def _upstream_refs(value: Any, upstream: list[Any]) -> Any:
    """``value`` with each value left on the cluster replaced by an ``Upstream`` reference to
    its Dask future, appended to ``upstream`` (one entry per future)."""
    if isinstance(value, DaskResult):
        future, fetched = value.where()
        if future is None:  # fetched meanwhile: the value is here
            return fetched
        for position, known in enumerate(upstream):
            if known is future:
                return Upstream(position)
        upstream.append(future)
        return Upstream(len(upstream) - 1)
    if type(value) in (list, tuple, set, frozenset):  # not subclasses: a namedtuple stays whole
        return type(value)(_upstream_refs(item, upstream) for item in value)
    if type(value) is dict:
        return {key: _upstream_refs(item, upstream) for key, item in value.items()}
    return value


assert isinstance(DaskTaskRunner(), RemoteTaskRunner)
