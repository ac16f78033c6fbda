"""A store locked at the first run and usable later, with a notification waiting in memory:
the hand-over of the memory outbox to the store's, and the send under way at that moment."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from locked_store import (
    FAILED_RULE,
    RETRY_ENDED,
    lock_database,
    outbox_messages,
    touch,
    wait_for_the_retry_to_register,
)
from store_helpers import environment, start_script, wait_for, write_module

from flowhook.store import OutboxRecord, open_store

# They lock the SQLite file itself.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

#: Flow ``first`` fails (its alert waits in memory: the store is locked), then, once
#: ``<marker>.go`` exists, flow ``second`` runs with the store usable again; the script ends
#: once ``<marker>.exit`` exists. Written after :data:`RETRY_ENDED`.
HANDED_OVER = """
    import sys, time
    from pathlib import Path
    from flowhook import flow

    marker = sys.argv[1]

    @flow
    def first():
        raise ValueError("first went wrong")

    @flow
    def second() -> int:
        return 2

    try:
        first()
    except ValueError:
        pass
    Path(marker + ".first").write_text("done")
    while not Path(marker + ".go").exists():
        time.sleep(0.02)
    retry_ended()
    second()
    Path(marker + ".second").write_text("done")
    while not Path(marker + ".exit").exists():
        time.sleep(0.02)
"""


#: How long the alert's send under way at the hand-over takes: more than the store's retries
#: take to succeed once the lock is gone, less than the block's timeout and the exit's drain.
HAND_OVER_SEND_SECONDS = 20.0


def test_an_alert_waiting_in_memory_moves_to_the_store_once_it_can_be_used(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    """The alert's first send is told to come back in 10 minutes (429, Retry-After), so that at
    the hand-over no send of it is under way, nor waiting for the block's spacing (1 s for
    Slack): such a send stays with the memory delivery, and the one after 500s would have
    reached the service once it answers "ok", from memory (seen once in 40 runs under load)."""
    from flowhook_testing import SlackWebhookServer

    with SlackWebhookServer((429, {"Retry-After": "600"}), default=500) as service:
        err, _, outbox = _hand_over(service, modules, tmp_path, flowhook_home, attempts=1)
    assert len(outbox) == 1, err  # the script's own account, should the alert not be there
    [message] = outbox
    assert "runs are recorded from now on" in err, err
    # Without the hand-over the alert of the unrecorded run was dropped with the memory
    # outbox when the store became usable: the store never held it.
    assert (message.block, message.status) == ("slack-webhook/ops", "sent")
    delivered = [r for r in service.requests if "first" in r.text]
    assert len(delivered) >= 2 and delivered[-1] is service.requests[-1]
    assert sum(1 for r in service.requests if "first" in r.text) == len(service.requests)


def test_an_alert_being_sent_from_memory_at_the_hand_over_moves_to_the_store_at_exit(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    """The send under way when the store became usable fails while the process exits: its
    message is not lost with the process's memory, but moves to the store, and the exit drain
    sends it from there."""
    _, [message] = _a_failed_send_at_the_hand_over(modules, tmp_path, flowhook_home)
    assert (message.block, message.status) == ("slack-webhook/ops", "sent")


def test_an_alert_being_sent_from_memory_at_the_hand_over_moves_to_the_store_once_it_failed(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    """The process goes on after the send under way at the hand-over failed: the message moves
    to the store then, and the store's delivery sends it, while the process still runs. Before,
    the memory delivery retried it from memory, and the store never held it."""

    def sent_by_the_store(service: Any) -> None:
        wait_for(
            lambda: [m.status for m in outbox_messages()] == ["sent"],
            timeout=HAND_OVER_SEND_SECONDS + 40,
            what="the store to send the message the failed send left",
        )

    _, [message] = _a_failed_send_at_the_hand_over(
        modules, tmp_path, flowhook_home, before_exit=sent_by_the_store
    )
    assert (message.block, message.status) == ("slack-webhook/ops", "sent")


def test_an_alert_the_store_cannot_take_after_the_send_at_the_hand_over_is_sent_from_memory(
    modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    """The store is locked again when the send under way at the hand-over fails: the message
    cannot move, and memory delivers it again, while the process runs. Before, the memory
    delivery was stopped for good, and the message waited for the process's exit."""
    release = tmp_path / "release-again"

    def memory_sends_while_the_store_is_locked(service: Any) -> None:
        locker = lock_database(flowhook_home / "flowhook.db", release)
        try:
            wait_for(
                lambda: len(service.requests) >= 3,
                timeout=HAND_OVER_SEND_SECONDS + 40,
                what="memory to send the message the store could not take",
            )
        finally:
            touch(release, "")
            locker.wait(timeout=30)

    err, outbox = _a_failed_send_at_the_hand_over(
        modules,
        tmp_path,
        flowhook_home,
        before_exit=memory_sends_while_the_store_is_locked,
        FLOWHOOK_LOCK_TIMEOUT_SECONDS="1",
    )
    assert "could not move 1 pending notifications to the store" in err, err
    assert outbox == []  # sent from memory: the store never held it


def _a_failed_send_at_the_hand_over(
    modules: Path,
    tmp_path: Path,
    flowhook_home: Path,
    before_exit: Callable[[Any], None] = lambda service: None,
    **extra_env: str,
) -> tuple[str, list[OutboxRecord]]:
    """Run HANDED_OVER: its alert's second send, under way at the hand-over, is answered 500
    after :data:`HAND_OVER_SEND_SECONDS`; every later one "ok". Returns the script's stderr and
    the store's outbox at the end."""
    from flowhook_testing import SlackWebhookServer, WebhookResponse

    in_flight = WebhookResponse(status=500, body="busy", delay=HAND_OVER_SEND_SECONDS)
    with SlackWebhookServer(500, in_flight, default="ok") as service:
        err, waited, outbox = _hand_over(
            service,
            modules,
            tmp_path,
            flowhook_home,
            2,
            block_timeout=60,
            before_exit=before_exit,
            FLOWHOOK_DELIVERY_BACKOFF_SECONDS="0.05",
            FLOWHOOK_DELIVERY_DRAIN_SECONDS="60",
            **extra_env,
        )
    # The hand-over happened with the second flow, while the second attempt was under way.
    assert waited < HAND_OVER_SEND_SECONDS, "the send ended before the hand-over"
    assert [request.text.count("first") > 0 for request in service.requests] == [True] * 3
    return err, outbox


def _hand_over(
    service: Any,
    modules: Path,
    tmp_path: Path,
    flowhook_home: Path,
    attempts: int,
    block_timeout: float | None = None,
    before_exit: Callable[[Any], None] = lambda service: None,
    **extra_env: str,
) -> tuple[str, float, list[OutboxRecord]]:
    """Run HANDED_OVER, its alert sent to ``service``: its first flow fails while the store is
    locked; once ``attempts`` sends of the alert reached ``service``, the lock goes, and the
    store is used from the second flow on; then ``service`` answers "ok", ``before_exit`` is
    called with it, and the script ends. Returns the script's stderr, the seconds from those sends to
    the second flow's end, and the store's outbox. ``block_timeout``: the Slack block's
    timeout (its default, 10 s, otherwise).
    """
    script = write_module(modules, "handed_over", RETRY_ENDED + HANDED_OVER)
    config = tmp_path / "flowhook.toml"
    block = FAILED_RULE.replace("http://127.0.0.1:9/nothing-listens-here", service.url)
    config.write_text(block if block_timeout is None else f"{block}timeout = {block_timeout}\n")
    env = environment(
        modules,
        FLOWHOOK_CONFIG=str(config),
        FLOWHOOK_HOME=str(flowhook_home),
        **extra_env,
    )
    open_store().close()
    release = tmp_path / "release"
    locker = lock_database(flowhook_home / "flowhook.db", release)
    marker = tmp_path / "m"
    child = start_script(script, marker, env)
    try:
        wait_for(Path(f"{marker}.first").exists, timeout=60, what="the first flow")
        wait_for(lambda: len(service.requests) >= attempts, what="the alert's sends")
        sent_at = time.monotonic()
    finally:
        touch(release, "")
        locker.wait(timeout=30)
    wait_for_the_retry_to_register(child)
    touch(marker, ".go")
    wait_for(Path(f"{marker}.second").exists, what="the second flow")
    waited = time.monotonic() - sent_at
    service.respond("ok")  # the exit drain's retry gets it
    try:
        before_exit(service)
    finally:
        touch(marker, ".exit")
    _, err = child.communicate(timeout=90)
    assert child.returncode == 0, err
    return err, waited, outbox_messages()
