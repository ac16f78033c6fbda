"""The transition logger, on runs of a real flow with one task."""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from datetime import datetime

import pytest

import flowhook
import flowhook_logging
from flowhook.testing import HookRecorder, PluginManager
from flowhook_logging import TRANSITIONS_LOGGER


@pytest.fixture
def recorder(
    flowhook_plugins: PluginManager,
    flowhook_hook_recorder: HookRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> HookRecorder:
    """flowhook_logging registered, with flowhook.testing's recorder to know the runs, in a plugin
    manager that loads no installed plugin; errors of hooks propagate."""
    monkeypatch.setenv("FLOWHOOK_STRICT_HOOKS", "1")
    monkeypatch.delenv("FLOWHOOK_LOG_FORMAT", raising=False)
    flowhook_plugins.register(flowhook_logging)
    return flowhook_hook_recorder


@flowhook.task
def double(x: int) -> int:
    return 2 * x


@flowhook.flow
def etl(n: int = 2) -> int:
    doubled: int = double(n)
    return doubled


@flowhook.task
def explode() -> None:
    raise ValueError("boom")


@flowhook.flow
def doomed() -> None:
    explode()


def transition_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == TRANSITIONS_LOGGER]


def expected_lines(recorder: HookRecorder) -> list[str]:
    """The text line of every transition the recorder saw, in order."""
    lines = []
    for call in recorder.calls:
        if not call.name.endswith("_state_change"):
            continue
        kind = "flow" if call.name.startswith("on_flow") else "task"
        run = call.kwargs[f"{kind}_run"]
        name = run.flow_name if kind == "flow" else run.task_name
        old = call.kwargs["old_state"]
        new = call.kwargs["new_state"]
        line = (
            f"{kind} run {run.name!r} ({kind} {name!r}, id {run.id}): "
            f"{'(new)' if old is None else old.name} -> {new.name}"
        )
        lines.append(line + (f": {new.message!r}" if new.message else ""))
    return lines


def test_one_text_line_per_transition(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)

    assert etl() == 4

    records = transition_records(caplog)
    assert [record.getMessage() for record in records] == expected_lines(recorder)
    assert [
        (record.getMessage().split(" ")[0], record.getMessage().split(": ", 1)[1])
        for record in records
    ] == [
        ("flow", "(new) -> Pending"),
        ("flow", "Pending -> Running"),
        ("task", "(new) -> Pending"),
        ("task", "Pending -> Running"),
        ("task", "Running -> Completed"),
        ("flow", "Running -> Completed"),
    ]
    assert {record.levelno for record in records} == {logging.INFO}


def test_failures_are_warnings(recorder: HookRecorder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)

    with pytest.raises(ValueError, match="boom"):
        doomed()

    records = transition_records(caplog)
    assert [record.getMessage() for record in records] == expected_lines(recorder)
    failed = [record for record in records if "-> Failed" in record.getMessage()]
    assert [record.getMessage().split(" ")[0] for record in failed] == ["task", "flow"]
    assert all(record.levelno == logging.WARNING for record in failed)
    assert "boom" in failed[0].getMessage()
    assert all(record.levelno == logging.INFO for record in records if record not in failed)


def test_json_lines(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWHOOK_LOG_FORMAT", "json")
    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)

    etl()

    events = [json.loads(record.getMessage()) for record in transition_records(caplog)]
    flow_run = recorder.called("on_flow_run_state_change")[0].kwargs["flow_run"]
    task_run = recorder.called("on_task_run_state_change")[0].kwargs["task_run"]
    assert [(e["run_kind"], e["old_state"], e["new_state"], e["state_type"]) for e in events] == [
        ("flow", None, "Pending", "PENDING"),
        ("flow", "Pending", "Running", "RUNNING"),
        ("task", None, "Pending", "PENDING"),
        ("task", "Pending", "Running", "RUNNING"),
        ("task", "Running", "Completed", "COMPLETED"),
        ("flow", "Running", "Completed", "COMPLETED"),
    ]
    flow_event, task_event = events[0], events[2]
    assert flow_event["event"] == "flow_run_state_change"
    assert flow_event["run_id"] == str(flow_run.id)
    assert flow_event["run_name"] == flow_run.name
    assert flow_event["flow_name"] == "etl"
    assert "task_name" not in flow_event
    assert task_event["event"] == "task_run_state_change"
    assert task_event["run_id"] == str(task_run.id)
    assert task_event["task_name"] == "double"
    assert task_event["flow_run_id"] == str(flow_run.id)
    assert events[-1]["run_count"] == 1
    assert all(event["message"] is None for event in events)
    assert all(datetime.fromisoformat(event["timestamp"]).tzinfo for event in events)


def test_disabled_logger_costs_no_line(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.ERROR, logger=TRANSITIONS_LOGGER)

    def must_not_run(*args: object) -> None:
        raise AssertionError("a line was built for a disabled logger")

    monkeypatch.setattr("flowhook_logging._transitions._log", must_not_run)

    assert etl() == 4  # strict hooks: an error in the plugin would fail the run

    assert transition_records(caplog) == []
    assert len(recorder.called("on_flow_run_state_change")) == 3
    [info] = [plugin for plugin in flowhook.list_plugins() if plugin.name == "flowhook_logging"]
    assert "on_task_run_state_change" in info.hooks


@pytest.fixture
def restored_logging() -> Iterator[logging.Logger]:
    """The transitions logger; every logger's level, handlers and ``disabled`` flag, and the
    root's handlers, as they were before the test (``logging.config`` changes them)."""
    loggers = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]
    loggers.append(logging.getLogger())
    saved = [(one, one.level, list(one.handlers), one.disabled) for one in loggers]
    try:
        yield logging.getLogger(TRANSITIONS_LOGGER)
    finally:
        for one, level, handlers, disabled in saved:
            one.setLevel(level)
            one.handlers[:] = handlers
            one.disabled = disabled
        logging.disable(logging.NOTSET)


def test_the_state_change_hooks_are_skipped_while_info_is_off(
    flowhook_plugins: PluginManager, restored_logging: logging.Logger
) -> None:
    flowhook_plugins.register(flowhook_logging)  # alone: no other plugin implements the hooks
    restored_logging.setLevel(logging.WARNING)
    assert "on_task_run_state_change" not in flowhook._plugins.implemented_hooks()
    assert "on_task_run_failure" in flowhook._plugins.implemented_hooks()

    restored_logging.setLevel(logging.INFO)
    assert "on_task_run_state_change" in flowhook._plugins.implemented_hooks()


def test_failures_are_logged_while_info_is_off(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=TRANSITIONS_LOGGER)

    with pytest.raises(ValueError, match="boom"):
        doomed()

    records = transition_records(caplog)
    expected = [line for line in expected_lines(recorder) if "-> Failed" in line]
    assert [record.getMessage() for record in records] == expected
    assert [line.split(" ")[0] for line in expected] == ["task", "flow"]
    assert all(": Running -> Failed: " in line for line in expected)
    assert {record.levelno for record in records} == {logging.WARNING}


def test_a_crash_is_logged_as_a_warning(
    recorder: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=TRANSITIONS_LOGGER)

    @flowhook.flow
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()

    [record] = transition_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == expected_lines(recorder)[-1]
    assert ": Running -> Crashed: " in record.getMessage()


def test_lines_appear_once_the_logger_is_enabled_during_a_run(
    recorder: HookRecorder, restored_logging: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the handler; the logger itself at WARNING:
    restored_logging.setLevel(logging.WARNING)

    @flowhook.task
    def enable() -> None:
        logging.getLogger(TRANSITIONS_LOGGER).setLevel(logging.INFO)

    @flowhook.flow
    def switched_on() -> None:
        enable()
        double(1)

    switched_on()

    lines = [record.getMessage().split(": ", 1)[1] for record in transition_records(caplog)]
    assert lines == [
        "Running -> Completed",  # enable's own end
        "(new) -> Pending",
        "Pending -> Running",
        "Running -> Completed",
        "Running -> Completed",  # the flow's
    ]


def test_lines_appear_once_logging_config_enables_the_logger_after_import(
    recorder: HookRecorder, restored_logging: logging.Logger
) -> None:
    import logging.config

    etl()  # logging as Python starts it: the hooks are skipped
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"kept": {"class": "logging.handlers.BufferingHandler", "capacity": 100}},
            "loggers": {TRANSITIONS_LOGGER: {"level": "INFO", "handlers": ["kept"]}},
        }
    )
    recorder.clear()

    etl()

    [handler] = restored_logging.handlers
    assert isinstance(handler, logging.handlers.BufferingHandler)
    assert [record.getMessage() for record in handler.buffer] == expected_lines(recorder)
    assert len(handler.buffer) == 6


def test_a_logger_disabled_by_logging_config_and_enabled_again(
    recorder: HookRecorder, restored_logging: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    import logging.config

    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})
    etl()
    assert transition_records(caplog) == []

    restored_logging.disabled = False  # no cache of logging's is cleared: asked anew anyway
    etl()
    assert len(transition_records(caplog)) == 6


def test_logging_disable_turns_every_line_off_and_back_on(
    recorder: HookRecorder, restored_logging: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)
    logging.disable(logging.CRITICAL)
    with pytest.raises(ValueError, match="boom"):
        doomed()
    assert transition_records(caplog) == []

    logging.disable(logging.NOTSET)
    etl()
    assert len(transition_records(caplog)) == 6


@flowhook.task
async def halve(x: int) -> float:
    if x < 0:
        raise ValueError("negative")
    return x / 2


@flowhook.flow
async def halves() -> int:
    import contextlib
    import threading

    await halve(4)
    with contextlib.suppress(ValueError):
        await halve(-1)
    return threading.get_ident()


def test_an_async_run_logs_its_transitions_on_its_event_loop(
    flowhook_plugins: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    """The hooks say they never block (``flowhook_nonblocking``): an async run calls them on
    its event loop, not in a worker thread at each step."""
    import asyncio

    flowhook_plugins.register(flowhook_logging)
    caplog.set_level(logging.INFO, logger=TRANSITIONS_LOGGER)

    loop_thread = asyncio.run(halves())

    records = transition_records(caplog)
    levels = [record.levelname for record in records]
    assert "WARNING" in levels and levels.count("INFO") >= 6
    assert {record.thread for record in records} == {loop_thread}
