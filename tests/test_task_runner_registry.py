"""Task runners by name (``task_runner="..."``), and the engine's seam for remote runners."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowhook import ThreadPoolTaskRunner, flow, hookimpl, task
from flowhook._engine.runners import new_task_runner, task_runner_names
from flowhook.testing import PluginManager
from flowhook_hookspec.errors import CrashedRun, PluginError
from flowhook_hookspec.runners import BodyOutcome, RemoteTaskRunner, RemoteWork, TaskBody
from flowhook_hookspec.states import State


class CountingRunner(ThreadPoolTaskRunner):
    submitted = 0

    def submit(self, work: Any) -> Any:
        CountingRunner.submitted += 1
        return super().submit(work)


class Registers:
    def __init__(self, name: str, factory: Any) -> None:
        self.name, self.factory = name, factory

    @hookimpl
    def register_task_runners(self, register: Any) -> None:
        register(self.name, self.factory)


@task
def double(x: int) -> int:
    return 2 * x


def test_hook_register_task_runners_makes_a_name_usable(plugin_manager: PluginManager) -> None:
    plugin_manager.register(Registers("counting", CountingRunner), name="counting-plugin")

    @flow(task_runner="counting")
    def pipeline() -> int:
        return double.submit(21).result()

    before = CountingRunner.submitted
    assert pipeline() == 42
    assert CountingRunner.submitted == before + 1
    assert "counting" in task_runner_names() and "thread_pool" in task_runner_names()


def test_an_unknown_name_says_which_names_exist(plugin_manager: PluginManager) -> None:
    plugin_manager.register(Registers("counting", CountingRunner), name="counting-plugin")
    with pytest.raises(ValueError) as raised:
        new_task_runner("countng")
    assert str(raised.value) == (
        "no task runner is named 'countng'; did you mean 'counting'? Known task runners: "
        "counting, process_pool, thread_pool; plugins add more (pip install flowhook-dask for 'dask')"
    )


def test_two_plugins_registering_one_name_is_an_error_naming_both(
    plugin_manager: PluginManager,
) -> None:
    plugin_manager.register(Registers("same", CountingRunner), name="first")
    plugin_manager.register(Registers("same", CountingRunner), name="second")
    with pytest.raises(PluginError, match="plugins 'first' and 'second' both register"):
        new_task_runner("same")


def test_a_factory_that_makes_no_runner_is_an_error(plugin_manager: PluginManager) -> None:
    plugin_manager.register(Registers("bad", object), name="bad-plugin")
    with pytest.raises(PluginError, match="'bad' of plugin 'bad-plugin' made a object"):
        new_task_runner("bad")


def test_a_plugin_raising_in_register_task_runners_loses_only_its_own(
    plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def register_task_runners(self, register: Any) -> None:
            register("broken", CountingRunner)
            raise RuntimeError("the plugin's own bug")

    plugin_manager.register(Broken(), name="broken")
    plugin_manager.register(Registers("counting", CountingRunner), name="fine")
    with caplog.at_level(logging.ERROR, logger="flowhook.hooks"):
        assert "broken" not in task_runner_names()
    assert "counting" in task_runner_names()
    assert "plugin 'broken' hook 'register_task_runners' raised RuntimeError" in caplog.text


class Handle:
    """Plays a body run elsewhere: started at ``started``, ending as ``outcome``."""

    def __init__(self, started: tuple[datetime, str | None] | None, outcome: BodyOutcome) -> None:
        self.start, self.result = started, outcome

    def started(self) -> tuple[datetime, str | None] | None:
        return self.start

    def outcome(self) -> BodyOutcome:
        return self.result


class ScriptedRemote(ThreadPoolTaskRunner):
    """A remote runner whose bodies end as scripted, in order (one per attempt)."""

    def __init__(self, *handles: Handle) -> None:
        super().__init__()
        self.handles = list(handles)
        self.bodies: list[TaskBody] = []
        self.lock = threading.Lock()

    def start_body(self, body: TaskBody) -> Handle:
        with self.lock:
            self.bodies.append(body)
            return self.handles.pop(0)

    def submit_remote(self, work: Callable[[], RemoteWork]) -> Future[State]:
        """Steps the item on a pool thread; a scripted body has its news at once."""

        def run() -> State:
            steps = work()
            while True:
                try:
                    pause = next(steps)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                assert isinstance(pause, float), "a scripted body never makes the item wait"
                time.sleep(pause)

        return self.submit(run)


assert isinstance(ScriptedRemote(), RemoteTaskRunner)

#: A start time after the run's Pending, as a worker's clock would give it.
LATER = datetime.now(timezone.utc) + timedelta(hours=1)


def run_on(runner: ScriptedRemote, the_task: Any) -> Any:
    @flow(task_runner=runner)
    def pipeline() -> list[Any]:
        future = the_task.submit(3)
        future.wait()
        return [future.task_run]

    (task_run,) = pipeline()
    return task_run


def test_a_remote_body_enters_running_as_of_its_start_where_it_ran() -> None:
    runner = ScriptedRemote(Handle((LATER, "tcp://127.0.0.1:1"), BodyOutcome("returned", value=6)))
    run = run_on(runner, double)
    assert [s.name for s in run.state_history] == ["Pending", "Running", "Completed"]
    running = run.state_history[1]
    assert running.timestamp == LATER and running.message == "on tcp://127.0.0.1:1"
    assert run.state.result() == 6
    (body,) = runner.bodies
    assert body.key == f"double-{run.id}-1" and body.args == (3,) and body.kwargs == {}


def test_a_remote_body_is_never_called_in_the_flows_process() -> None:
    called = threading.Event()

    @task
    def here(x: int) -> int:
        called.set()
        return x

    run_on(ScriptedRemote(Handle((LATER, None), BodyOutcome("returned", value=1))), here)
    assert not called.is_set()


def test_remote_retries_are_the_engines_one_key_per_attempt() -> None:
    failing = BodyOutcome("raised", value=ValueError("no"))
    runner = ScriptedRemote(
        Handle((LATER, None), failing), Handle((LATER, None), BodyOutcome("returned", value=1))
    )
    run = run_on(runner, double.with_options(retries=1))
    assert run.state.name == "Completed"
    assert [b.key.rsplit("-", 1)[1] for b in runner.bodies] == ["1", "2"]
    assert "Retrying" in [s.name for s in run.state_history]


def test_a_crashed_body_is_crashed_once_with_on_crashed_and_no_retry() -> None:
    crashed: list[str] = []
    runner = ScriptedRemote(Handle((LATER, None), BodyOutcome("crashed", message="worker died")))
    dying = double.with_options(retries=2, on_crashed=[lambda t, r, s: crashed.append(s.message)])
    run = run_on(runner, dying)
    assert run.state.name == "Crashed" and crashed == ["worker died"]
    assert len(runner.bodies) == 1
    with pytest.raises(CrashedRun, match="worker died"):
        run.state.result()


def test_a_body_that_never_started_ends_without_running() -> None:
    runner = ScriptedRemote(Handle(None, BodyOutcome("cancelled", message="flow cancelled")))
    run = run_on(runner, double)
    assert run.state.name == "Cancelled"
    assert "Running" not in [s.name for s in run.state_history]


def test_a_timed_out_body_is_timed_out() -> None:
    runner = ScriptedRemote(Handle((LATER, None), BodyOutcome("timed_out")))
    run = run_on(runner, double.with_options(timeout_seconds=1))
    assert run.state.name == "TimedOut"
    assert "exceeded its timeout of 1 s" in run.state.message


def test_a_direct_call_inside_the_flow_runs_here_not_remotely() -> None:
    runner = ScriptedRemote()

    @flow(task_runner=runner)
    def pipeline() -> int:
        return double(4)

    assert pipeline() == 8
    assert runner.bodies == []
