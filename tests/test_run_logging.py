"""Run loggers, log_prints and the lines Prefect logs around hooks and retries (issue 14 item 9)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from flowhook import flow, task
from flowhook.logging import get_run_logger
from flowhook.logging.loggers import flow_run_logger, task_run_logger


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


def test_run_logger_records_carry_the_run_ids(caplog) -> None:
    caplog.set_level(logging.INFO)

    @task
    def t() -> None:
        get_run_logger().info("in the task")

    @flow
    def f() -> str:
        get_run_logger().info("in the flow")
        t()
        return str(get_run_logger().extra["flow_run_id"])

    flow_run_id = f()
    (in_flow,) = records(caplog, "flowhook.flow_runs")
    (in_task,) = records(caplog, "flowhook.task_runs")
    assert in_flow.getMessage().endswith(" - in the flow")
    assert in_flow.flow_run_id == flow_run_id and in_flow.flow_name == "f"
    assert in_task.flow_run_id == flow_run_id and in_task.task_name == "t"
    assert in_task.task_run_name.startswith("t-")


def test_flow_run_logger_and_task_run_logger_in_hooks(caplog) -> None:
    caplog.set_level(logging.INFO)

    def on_task_failure(task, task_run, state) -> None:
        task_run_logger(task_run, task).warning("task %s failed", task.name)

    @task(on_failure=[on_task_failure])
    def bad() -> None:
        raise ValueError

    def on_flow_failure(flow, flow_run, state) -> None:
        flow_run_logger(flow_run, flow).warning("flow %s failed", flow.name)

    @flow(on_failure=[on_flow_failure])
    def f() -> None:
        bad()

    f(return_state=True)
    assert [
        r.getMessage().split(" - ")[-1]
        for r in caplog.records
        if r.levelname == "WARNING"
        and r.name.startswith("flowhook.")
        and "failed" in r.getMessage()
        and r.name != "flowhook.transitions"
    ] == ["task bad failed", "flow f failed"]


def test_hook_lines_as_prefect_logs_them(caplog) -> None:
    caplog.set_level(logging.INFO)

    def notify(flow, flow_run, state) -> None: ...

    @flow(on_failure=[notify])
    def f() -> None:
        raise ValueError

    f(return_state=True)
    lines = [
        (r.levelname, r.getMessage().split(" - ", 1)[1])
        for r in records(caplog, "flowhook.flow_runs")
    ]
    assert (
        "INFO",
        "Running hook 'notify' in response to entering state 'Failed'",
    ) in lines
    assert (
        "INFO",
        "Hook 'notify' finished running successfully",
    ) in lines


def test_retry_and_exhausted_lines(caplog) -> None:
    caplog.set_level(logging.INFO)

    @task(retries=1)
    def flaky() -> None:
        raise ValueError("down")

    flaky(return_state=True)
    lines = [
        (r.levelname, r.getMessage().split(" - ", 1)[1])
        for r in records(caplog, "flowhook.task_runs")
    ]
    assert lines == [
        (
            "INFO",
            "Task run failed with exception: ValueError('down') - Retry 1/1 will start immediately",
        ),
        ("ERROR", "Task run failed with exception: ValueError('down') - Retries are exhausted"),
    ]


def test_log_prints_makes_prints_run_records(caplog, capsys) -> None:
    caplog.set_level(logging.INFO)

    @task
    def inherits() -> None:
        print("from the task")

    @task(log_prints=False)
    def opts_out() -> None:
        print("to stdout")

    @flow(log_prints=True)
    def f() -> None:
        print("from", "the flow")
        inherits()
        opts_out()

    f()
    assert [r.getMessage() for r in caplog.records if getattr(r, "printed", False)] == [
        f"{records(caplog, 'flowhook.flow_runs')[0].getMessage().split(' - ')[0]} - from the flow",
        *[
            r.getMessage()
            for r in records(caplog, "flowhook.task_runs")
            if r.getMessage().endswith("from the task")
        ],
    ]
    assert capsys.readouterr().out == "to stdout\n"
    print("after the run")
    assert capsys.readouterr().out == "after the run\n"


def test_log_prints_is_per_run_in_threads_and_on_the_event_loop(caplog, capsys) -> None:
    caplog.set_level(logging.INFO)

    @task(log_prints=True)
    def logged(i: int) -> None:
        time.sleep(0.01)
        print(f"logged {i}")

    @task
    def printed(i: int) -> None:
        time.sleep(0.01)
        print(f"printed {i}")

    @flow
    def threads() -> None:
        futures = [logged.submit(i) for i in range(4)] + [printed.submit(i) for i in range(4)]
        for future in futures:
            future.wait()

    @task(log_prints=True)
    async def alogged(i: int) -> None:
        await asyncio.sleep(0.01)
        print(f"alogged {i}")

    @task
    async def aprinted(i: int) -> None:
        await asyncio.sleep(0.01)
        print(f"aprinted {i}")

    @flow
    async def loop() -> None:
        await asyncio.gather(*[alogged(i) for i in range(4)], *[aprinted(i) for i in range(4)])

    threads()
    asyncio.run(loop())
    logged_lines = sorted(
        r.getMessage().split(" - ")[-1] for r in caplog.records if getattr(r, "printed", False)
    )
    assert logged_lines == sorted(
        [f"logged {i}" for i in range(4)] + [f"alogged {i}" for i in range(4)]
    )
    out = sorted(capsys.readouterr().out.splitlines())
    assert out == sorted([f"printed {i}" for i in range(4)] + [f"aprinted {i}" for i in range(4)])
