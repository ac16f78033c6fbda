"""A PostgreSQL outage seen by a writer process is said by the flow's process, once for both.

The writer process (``FLOWHOOK_STORE_WRITER=process``) and the flow's process each talk to the
server; whichever sees it go first says so, and the other's sighting of the same outage says
nothing more. Before, the writer process kept its sighting to itself and counted on the flow's
heartbeat to see the outage too; a heartbeat whose read timed out (rather than failing on a
closed connection) never did, and the outage went unsaid.
"""

from __future__ import annotations

import logging

import pytest

from flowhook.store._postgres.outage import Outage

LOST = "lost the connection to the flowhook database"
BACK = "is back after"


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def test_the_flows_process_says_a_relayed_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    location = "postgresql://flowhook:***@127.0.0.1:1/relay-once"
    with caplog.at_level(logging.WARNING, logger="flowhook.store"):
        outage = Outage.of(location)
        outage.relayed("lost", "server closed the connection unexpectedly")
        outage.lost("canceling statement due to statement timeout")  # its own sighting
        outage.relayed("lost", "server closed the connection unexpectedly")
        outage.relayed("back", None)
        outage.back()

    [lost] = _lines(caplog, LOST)
    assert location in lost and "server closed the connection unexpectedly" in lost
    assert len(_lines(caplog, BACK)) == 1


def test_a_writer_process_relays_its_outage_instead_of_logging_it(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = "postgresql://flowhook:***@127.0.0.1:1/relay-child"
    events: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(Outage, "relay", lambda *event: events.append(event))
    outage = Outage(location)
    with caplog.at_level(logging.WARNING, logger="flowhook.store"):
        outage.lost("server closed the connection unexpectedly")
        outage.lost("connection refused")  # the same outage, seen again
        outage.back()

    assert events == [
        ("lost", location, "server closed the connection unexpectedly"),
        ("back", location, None),
    ]
    assert caplog.records == []


def test_the_writer_processs_message_is_said_by_the_flows_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The message the child's relay sends (``("outage", *event)``), as the flow's process
    reads it from the pipe."""
    from flowhook._runtime.writer_wire import relay_outage

    location = "postgresql://flowhook:***@127.0.0.1:1/relay-wire"

    class PostgresLike:
        outage = Outage.of(location)

    with caplog.at_level(logging.WARNING, logger="flowhook.store"):
        for event in (("lost", location, "server closed the connection"), ("back", location, None)):
            relay_outage(PostgresLike(), ("outage", *event))  # type: ignore[arg-type]

    [lost] = _lines(caplog, LOST)
    assert "server closed the connection" in lost
    assert len(_lines(caplog, BACK)) == 1
