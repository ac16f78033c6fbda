"""A pool of senders per batch: the runs' messages go out at once, each run's in order, and a
spaced block keeps its spacing. Against a real Slack-like server on 127.0.0.1."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import ClassVar

import attrs
import pytest

from flowhook.notifications import DeliveryWorker, deliver_due
from flowhook.store import OutboxEntry, Store, open_store
from flowhook_slack import SlackWebhook
from flowhook_testing import SlackWebhookServer, WebhookResponse

DELAY = 0.2  # each answer waits this long, so that overlapping sends show in the arrival times


@attrs.define
class Unspaced(SlackWebhook):
    min_interval_seconds: ClassVar[float] = 0.0


@attrs.define
class Spaced(SlackWebhook):
    min_interval_seconds: ClassVar[float] = DELAY


@pytest.fixture
def store() -> Iterator[Store]:
    opened = open_store()
    yield opened
    opened.close()


@pytest.fixture
def server() -> Iterator[SlackWebhookServer]:
    with SlackWebhookServer(default=WebhookResponse(delay=DELAY)) as running:
        yield running


def enqueue(store: Store, runs: int, per_run: int) -> None:
    """``per_run`` messages for each of ``runs`` runs, the runs interleaved as transitions are."""
    now = time.time()
    store.enqueue_outbox(
        OutboxEntry(
            f"run-{r}:{i}",
            "slack-webhook",
            "ops",
            "rule",
            "flow",
            f"run-{r}",
            "e",
            None,
            f"run-{r} message {i}",
            now,
        )
        for i in range(per_run)
        for r in range(runs)
    )


def deliver_all(store: Store, notifier: SlackWebhook, expected: int) -> None:
    sent = 0
    deadline = time.monotonic() + 60
    while sent < expected and time.monotonic() < deadline:
        sent += deliver_due(store, lambda block: notifier, "test:0", limit=200)[1]
    assert sent == expected


def gaps(server: SlackWebhookServer) -> list[float]:
    """Seconds between one request's arrival and the next's."""
    arrivals = [request.received_at for request in server.requests]
    return [b - a for a, b in itertools.pairwise(arrivals)]


def test_a_pool_sends_several_runs_at_once_and_each_runs_messages_in_order(
    store: Store, server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "4")
    enqueue(store, runs=6, per_run=5)
    deliver_all(store, Unspaced(server.url), 30)
    texts = [request.json()["text"] for request in server.requests]
    for r in range(6):
        mine = [text for text in texts if text.startswith(f"run-{r} ")]
        assert mine == [f"run-{r} message {i}" for i in range(5)]
    # one sender at a time would space every arrival by at least the server's delay
    assert min(gaps(server)) < DELAY / 2


def test_one_sender_sends_in_the_order_of_the_outbox(
    store: Store, server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "1")
    enqueue(store, runs=3, per_run=2)
    deliver_all(store, Unspaced(server.url), 6)
    texts = [request.json()["text"] for request in server.requests]
    assert texts == [f"run-{r} message {i}" for i in range(2) for r in range(3)]


def test_a_spaced_block_keeps_its_spacing_whatever_the_pool(
    store: Store, server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "8")
    enqueue(store, runs=5, per_run=1)
    deliver_all(store, Spaced(server.url), 5)
    assert min(gaps(server)) >= DELAY * 0.9


AT_EXIT = """
import atexit, sys, time
from flowhook.notifications import DeliveryWorker, deliver_due
from flowhook.store import OutboxEntry, open_store
from flowhook_slack import SlackWebhook


class Unspaced(SlackWebhook):
    min_interval_seconds = 0.0


def deliver() -> None:
    store = open_store()
    store.enqueue_outbox(
        OutboxEntry(f"run-{r}", "slack-webhook", "ops", "rule", "flow", f"run-{r}", "e", None,
                    f"run-{r} at exit", time.time())
        for r in range(3)
    )
    print(deliver_due(store, lambda block: Unspaced(sys.argv[1]), "exit:0")[1], flush=True)
    store.close()


atexit.register(deliver)
"""


def test_a_pool_delivers_at_interpreter_exit_as_the_drain_does(
    server: SlackWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "4")
    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT, server.url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3", done.stderr
    assert sorted(request.json()["text"] for request in server.requests) == [
        f"run-{r} at exit" for r in range(3)
    ]


def test_every_message_of_many_runs_arrives_once_in_its_runs_order_and_is_marked_sent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "8")
    enqueue(store, runs=40, per_run=10)
    with SlackWebhookServer() as quick:
        deliver_all(store, Unspaced(quick.url), 400)
        texts = [request.json()["text"] for request in quick.requests]
    assert len(texts) == len(set(texts)) == 400
    for r in range(40):
        mine = [text for text in texts if text.startswith(f"run-{r} ")]
        assert mine == [f"run-{r} message {i}" for i in range(10)]
    assert store.pending_outbox_count() == 0
    assert {m.status for m in store.list_outbox(limit=1000)} == {"sent"}


def test_a_server_restarted_between_rounds_gets_every_message_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connections kept open in the first round are closed by the restart: the second
    round sees that and opens new ones, losing and repeating nothing."""
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "4")
    with SlackWebhookServer() as restarted:
        notifier = Unspaced(restarted.url)
        enqueue(store, runs=4, per_run=3)
        deliver_all(store, notifier, 12)
        restarted.stop()
        restarted.start()
        again = [
            OutboxEntry(
                f"again-{r}",
                "slack-webhook",
                "ops",
                "rule",
                "flow",
                f"run-{r}",
                "e",
                None,
                f"run-{r} again",
                time.time(),
            )
            for r in range(4)
        ]
        store.enqueue_outbox(again)
        assert deliver_due(store, lambda block: notifier, "test:0")[1] == 4  # none failed
        texts = [request.json()["text"] for request in restarted.requests]
    assert len(texts) == len(set(texts)) == 16
    assert {text for text in texts if "again" in text} == {f"run-{r} again" for r in range(4)}


def test_a_server_that_closes_each_connection_gets_every_message_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "4")
    closing = WebhookResponse(headers={"Connection": "close"})
    with SlackWebhookServer(default=closing) as server:
        enqueue(store, runs=5, per_run=4)
        deliver_all(store, Unspaced(server.url), 20)
        texts = [request.json()["text"] for request in server.requests]
    assert sorted(texts) == sorted(f"run-{r} message {i}" for r in range(5) for i in range(4))


def test_in_one_batch_the_sent_are_marked_sent_and_a_failed_one_waits_for_its_retry(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_DELIVERY_SENDERS", "1")
    enqueue(store, runs=1, per_run=5)
    with SlackWebhookServer("ok", "ok", 500) as flaky:
        claimed, sent = deliver_due(store, lambda block: Unspaced(flaky.url), "test:0")
        assert (claimed, sent) == (5, 4)
    by_status = {m.body: (m.status, m.attempts) for m in store.list_outbox()}
    assert by_status == {
        "run-0 message 0": ("sent", 1),
        "run-0 message 1": ("sent", 1),
        "run-0 message 2": ("pending", 1),
        "run-0 message 3": ("sent", 1),
        "run-0 message 4": ("sent", 1),
    }
    assert store.outbox_claimants() == []  # every claim of the batch released


@attrs.define
class SecondApart(SlackWebhook):
    min_interval_seconds: ClassVar[float] = 1.0


def sending_worker(server: SlackWebhookServer, worker_id: str) -> DeliveryWorker:
    """A delivery thread sending the outbox to ``server`` as a block spaced one second apart,
    once the server got its first message."""
    notifier = SecondApart(url=server.url)
    worker = DeliveryWorker(open_store, lambda block: notifier, worker_id=worker_id)
    worker.poke()
    deadline = time.monotonic() + 30
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the delivery thread sent nothing"
    return worker


def test_a_stopped_worker_starts_no_other_send_and_gives_the_rest_of_its_batch_back(
    store: Store, server: SlackWebhookServer
) -> None:
    """A detach, the exit's drain or a hand-over stops the delivery thread: the send under way
    finishes, the wait for the block's spacing ends, and the messages of the batch not tried
    are due for any sender at once, not held until their claims run out (120 s)."""
    enqueue(store, runs=1, per_run=10)  # ten seconds of a block spaced one second apart
    worker = sending_worker(server, "stopping:1")
    worker.stop()

    sent = len(server.requests)
    assert 1 <= sent < 10
    assert store.outbox_claimants() == []
    quick = Unspaced(url=server.url)  # the next sender (its spacing is not this test's)
    claimed, delivered = deliver_due(store, lambda block: quick, "next:2", limit=200)
    assert (claimed, delivered) == (10 - sent, 10 - sent)
    bodies = [request.json()["text"] for request in server.requests]
    assert bodies == [f"run-0 message {i}" for i in range(10)]  # each once, in order


def test_the_exits_drain_keeps_the_spacing_the_delivery_thread_kept(
    store: Store, server: SlackWebhookServer
) -> None:
    """The drain takes the batch over from the stopped thread, and the block's next message
    still waits for the block's interval after the thread's last one."""
    enqueue(store, runs=1, per_run=3)
    worker = sending_worker(server, "draining:1")

    report = worker.drain(seconds=30)

    assert (report.sent, report.pending) == (3 - 1, 0)
    assert [request.json()["text"] for request in server.requests] == [
        f"run-0 message {i}" for i in range(3)
    ]
    assert min(gaps(server)) >= 0.9
