"""Prefect's logging helpers and the lines Prefect writes about hooks and retries (issue 24).

Prefect's behaviour relied on, read in Prefect 3's source:
- ``src/prefect/logging/loggers.py``: ``disable_run_logger()`` disables the flow and task run
  loggers in its block, where ``get_run_logger()`` outside a run returns a disabled logger
  instead of raising; ``print_as_log`` logs a print at INFO on the run logger in a run with
  ``log_prints``, and prints as usual elsewhere; ``patch_print()`` makes ``print`` that function
  in its block; ``LogEavesdropper(name, level)`` collects the records of a logger and its
  children as ``[LEVEL]: message`` lines; ``get_run_logger()`` returns a ``PrefectLogAdapter``.
- ``src/prefect/task_engine.py`` (``call_hooks``, ``handle_exception``): INFO "Running hook
  'name' in response to entering state 'Failed'", INFO "Hook 'name' finished running
  successfully", ERROR "Task run failed with exception: ValueError('x') - Retries are exhausted";
  ``src/prefect/_internal/engine.py`` (``get_hook_name``): the hook is named by its ``__name__``,
  not its qualified name.
"""

from __future__ import annotations

import builtins
import logging

import pytest

from flowhook import flow, task
from flowhook.exceptions import MissingContextError
from flowhook.logging import LogEavesdropper, disable_run_logger, get_run_logger
from flowhook.logging.loggers import PrefectLogAdapter, patch_print, print_as_log


def test_disable_run_logger_silences_run_loggers(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)

    @task
    def noisy() -> None:
        get_run_logger().info("from the task")

    @flow
    def job() -> None:
        get_run_logger().info("from the flow")
        noisy()

    with disable_run_logger():
        job()
    assert not [r for r in caplog.records if r.name in {"flowhook.flow_runs", "flowhook.task_runs"}]
    job()
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("_runs")]
    assert any(m.endswith("from the flow") for m in messages)
    assert any(m.endswith("from the task") for m in messages)


def test_a_task_function_called_directly_logs_nowhere_under_disable_run_logger() -> None:
    @task
    def logs_something(x: int) -> int:
        get_run_logger().info("hello")
        return x + 1

    with pytest.raises(MissingContextError):
        logs_something.fn(1)
    with disable_run_logger():
        assert logs_something.fn(1) == 2
    assert not logging.getLogger("flowhook.flow_runs").disabled


def test_get_run_logger_is_a_prefect_log_adapter() -> None:
    @flow
    def job() -> object:
        return get_run_logger()

    assert isinstance(job(), PrefectLogAdapter)


def test_print_as_log_logs_in_a_run_with_log_prints_and_prints_elsewhere(
    caplog,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.INFO)

    @flow(log_prints=True)
    def chatty() -> None:
        print_as_log("logged", 1)

    @flow
    def quiet() -> None:
        print_as_log("printed", 2)

    chatty()
    quiet()
    print_as_log("outside")
    assert capsys.readouterr().out == "printed 2\noutside\n"
    (record,) = [r for r in caplog.records if r.name == "flowhook.flow_runs"]
    assert record.levelno == logging.INFO and record.getMessage().endswith(" - logged 1")


def test_patch_print_makes_print_print_as_log_in_its_block() -> None:
    before = builtins.print
    with patch_print():
        assert builtins.print is print_as_log
    assert builtins.print is before


def test_log_eavesdropper_collects_a_logger_and_its_children() -> None:
    with LogEavesdropper("surface.eavesdrop", level=logging.INFO) as eavesdropper:
        logging.getLogger("surface.eavesdrop").info("Hello, world!")
        logging.getLogger("surface.eavesdrop.child").warning("Another one!")
        logging.getLogger("surface.eavesdrop").debug("below the level")
        logging.getLogger("surface.other").info("not this one")
    logging.getLogger("surface.eavesdrop").warning("after the block")
    assert eavesdropper.text() == "[INFO]: Hello, world!\n[WARNING]: Another one!"
    assert logging.getLogger("surface.eavesdrop").level == logging.NOTSET


def test_hook_and_retry_lines_are_prefects(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)

    def tell(task_, task_run, state) -> None:  # type: ignore[no-untyped-def]
        pass

    @task(retries=1, on_failure=[tell])
    def flaky() -> None:
        raise ValueError("x")

    @flow
    def job() -> None:
        flaky(return_state=True)

    job()
    lines = [
        (r.levelno, r.getMessage().split(" - ", 1)[1])
        for r in caplog.records
        if r.name == "flowhook.task_runs"
    ]
    assert (
        logging.ERROR,
        "Task run failed with exception: ValueError('x') - Retries are exhausted",
    ) in lines
    assert (logging.INFO, "Running hook 'tell' in response to entering state 'Failed'") in lines
    assert (logging.INFO, "Hook 'tell' finished running successfully") in lines
