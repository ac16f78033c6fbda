"""LogNotifier: notifications as log records."""

from __future__ import annotations

import importlib.metadata
import logging

import pytest

import flowhook_logging
from flowhook.notifications import notifier_types
from flowhook.testing import PluginManager
from flowhook_logging import LogNotifier


def records_of(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


def test_logs_at_the_level_to_the_named_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    LogNotifier(logger_name="ops.alerts", level="warning").notify("disk full", subject="host1")

    [record] = records_of(caplog, "ops.alerts")
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "host1: disk full"
    assert record.__dict__["notification_subject"] == "host1"
    assert record.__dict__["notification_body"] == "disk full"
    assert records_of(caplog, "flowhook.notifications") == []


def test_defaults_to_info_on_flowhook_notifications(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    LogNotifier().notify("etl completed")

    [record] = records_of(caplog, "flowhook.notifications")
    assert record.levelno == logging.INFO
    assert record.getMessage() == "etl completed"
    assert record.__dict__["notification_subject"] is None


def test_nothing_is_logged_below_the_loggers_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.ERROR, logger="quiet")

    LogNotifier(logger_name="quiet", level="INFO").notify("not shown")
    LogNotifier(logger_name="quiet", level="ERROR").notify("shown")

    assert [record.getMessage() for record in records_of(caplog, "quiet")] == ["shown"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("info", "INFO"), (" Error ", "ERROR"), (30, "WARNING"), ("DEBUG", "DEBUG")],
)
def test_level_is_normalized(given: str | int, stored: str) -> None:
    assert LogNotifier(level=given).level == stored


@pytest.mark.parametrize("level", ["verbose", "", "NOTSET", 0, 12345])
def test_invalid_level_is_refused(level: str | int) -> None:
    with pytest.raises(ValueError, match="level must be"):
        LogNotifier(level=level)


def test_level_is_checked_when_changed() -> None:
    notifier = LogNotifier()
    with pytest.raises(ValueError, match="level must be"):
        notifier.level = "loud"


def test_logger_name_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="logger_name"):
        LogNotifier(logger_name=" ")


def test_register_notifiers_through_the_plugin_manager(flowhook_plugins: PluginManager) -> None:
    flowhook_plugins.register(flowhook_logging)

    assert notifier_types() == {"log": LogNotifier}


def test_entry_point_is_installed() -> None:
    [entry_point] = [
        ep for ep in importlib.metadata.entry_points(group="flowhook") if ep.name == "logging"
    ]
    assert entry_point.value == "flowhook_logging"
    assert entry_point.load() is flowhook_logging
