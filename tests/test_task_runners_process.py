"""ProcessPoolTaskRunner: task bodies run in real worker processes, while every transition and
hook happens once, in the flow's process; a worker killed mid-task crashes only its task run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import flowhook._runtime.attach
from flowhook import (
    ConfigError,
    StateType,
    cancel_flow_run,
    flow,
    get_run_context,
    task,
    unmapped,
)
from flowhook.store import open_store
from flowhook.task_runners import (
    ProcessPoolTaskRunner,
    TaskRunner,
    ThreadPoolTaskRunner,
    UnpicklableTaskError,
)
from flowhook.testing import HookRecorder
from flowhook_hookspec.runs import TaskRun


def _wait_for(path: Path, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)
    return path.read_text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@task
def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


@task
def meet(directory: str, me: int, others: int) -> int:
    """Returns once ``others`` other bodies arrived too: only bodies running at once can."""
    Path(directory, str(me)).write_text("here")
    _wait_for(Path(directory, str(me)))
    deadline = time.monotonic() + 30
    while len(list(Path(directory).iterdir())) < others + 1:
        if time.monotonic() > deadline:
            raise AssertionError("the other bodies never ran at the same time")
        time.sleep(0.02)
    return os.getpid()


@task
def sleep_with_pid(pid_file: str, seconds: float) -> str:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "woke"


def test_the_names_prefect_imports_are_here() -> None:
    from flowhook.task_runners import ConcurrentTaskRunner

    assert ConcurrentTaskRunner is ThreadPoolTaskRunner
    assert isinstance(ProcessPoolTaskRunner(), TaskRunner)
    assert isinstance(ThreadPoolTaskRunner(), TaskRunner)
    assert ProcessPoolTaskRunner(max_workers=3).max_workers == 3
    assert ProcessPoolTaskRunner().max_workers == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="max_workers takes a whole number >= 1"):
        ProcessPoolTaskRunner(max_workers=0)


def test_the_default_max_workers_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variable = "FLOWHOOK_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS"
    monkeypatch.setenv(variable, "3")
    assert ProcessPoolTaskRunner().max_workers == 3
    assert ProcessPoolTaskRunner(max_workers=5).max_workers == 5
    monkeypatch.setenv(variable, "many")
    with pytest.raises(ConfigError) as raised:
        ProcessPoolTaskRunner()
    assert str(raised.value) == (
        f"{variable} takes a whole number >= 1, e.g. {variable}=4; got 'many'"
    )


def test_map_and_submit_run_bodies_in_worker_processes_with_hooks_here(
    recorder: HookRecorder,
) -> None:
    hook_pids: list[tuple[str, int]] = []

    def record(task, task_run, state) -> None:  # type: ignore[no-untyped-def]
        hook_pids.append((state.name, os.getpid()))

    square = pid_and_square.with_options(on_running=[record], on_completion=[record])

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def squares(n: int) -> tuple[list[tuple[int, int]], tuple[int, int]]:
        return square.map(range(n)).result(), square.submit(10).result()

    mapped, submitted = squares(4)
    assert [value for _, value in mapped] == [0, 1, 4, 9]
    assert submitted[1] == 100
    worker_pids = {pid for pid, _ in [*mapped, submitted]}
    assert os.getpid() not in worker_pids
    assert 1 <= len(worker_pids) <= 2
    # every hook fired in the flow's process, exactly once per run and state
    assert sorted(hook_pids) == [("Completed", os.getpid())] * 5 + [("Running", os.getpid())] * 5
    assert len(recorder.called("on_task_run_completion")) == 5
    running = recorder.called("on_task_run_running")
    assert len(running) == 5
    assert all(call.state.message.startswith("on worker process ") for call in running)


def test_bodies_run_at_the_same_time_in_as_many_processes_as_max_workers(
    tmp_path: Path,
) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=3))
    def together() -> list[int]:
        return meet.map(unmapped(str(tmp_path)), range(3), unmapped(2)).result()

    pids = together()
    assert len(set(pids)) == 3
    assert os.getpid() not in pids


def test_a_worker_killed_mid_task_crashes_that_task_run_once_and_the_flow_goes_on(
    tmp_path: Path, recorder: HookRecorder
) -> None:
    crashed_hooks: list[str] = []
    victim = sleep_with_pid.with_options(
        on_crashed=[lambda t, run, state: crashed_hooks.append(state.message)]
    )
    pid_file = tmp_path / "pid"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def survives() -> tuple[StateType, str, int]:
        doomed = victim.submit(str(pid_file), 60)
        os.kill(int(_wait_for(pid_file)), signal.SIGKILL)
        doomed.wait()
        # the pool replaced the dead worker: the next task runs
        pid, value = pid_and_square.submit(7).result()
        assert pid != int(pid_file.read_text())
        return doomed.state.type, doomed.state.message or "", value

    state_type, message, value = survives()
    assert state_type is StateType.CRASHED
    assert "died (killed by signal SIGKILL)" in message
    assert value == 49
    assert len(crashed_hooks) == 1 and "SIGKILL" in crashed_hooks[0]
    assert len(recorder.called("on_task_run_crashed")) == 1
    assert recorder.state_names()[-1] == "Completed"  # the flow did not use the result


def test_a_flow_that_returns_a_killed_tasks_future_ends_crashed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def returns_it():  # type: ignore[no-untyped-def]
        doomed = sleep_with_pid.submit(str(pid_file), 60)
        os.kill(int(_wait_for(pid_file)), signal.SIGKILL)
        return doomed

    # Prefect's rule for a returned task run state (states.py return_value_to_state): a group
    # of one that did not complete, so the flow run fails
    state = returns_it(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == "1/1 states failed."


@task(retries=2)
def fails_until_third(counter: str) -> int:
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt < 3:
        raise ValueError(f"attempt {attempt} fails")
    return os.getpid()


@pytest.mark.parametrize("runner", [ProcessPoolTaskRunner, ThreadPoolTaskRunner])
def test_retries_run_each_attempt_in_a_worker_and_fire_hooks_here(
    tmp_path: Path, recorder: HookRecorder, runner: type[TaskRunner]
) -> None:
    @flow(task_runner=runner(max_workers=1))  # type: ignore[call-arg]
    def retried() -> tuple[int, int]:
        future = fails_until_third.submit(str(tmp_path / "count"))
        return future.result(), future.task_run.run_count

    pid, run_count = retried()
    assert (pid != os.getpid()) is (runner is ProcessPoolTaskRunner)
    assert run_count == 3
    assert recorder.state_names("on_task_run_state_change") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert recorder.called("on_task_run_failure") == []


@task
def raises_value_error(x: int) -> int:
    raise ValueError(f"bad input {x}")


def test_an_exception_in_a_worker_fails_the_task_run_with_its_type_and_where_it_was_raised() -> (
    None
):
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def failing():  # type: ignore[no-untyped-def]
        return raises_value_error.submit(3).result()

    with pytest.raises(ValueError, match="bad input 3") as raised:
        failing()
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "Raised in worker process " in notes
    assert "in raises_value_error" in notes
    assert "process_worker" not in notes  # the worker's own frames are cut


def test_a_time_limit_ends_the_run_timed_out_and_kills_its_worker(
    tmp_path: Path, recorder: HookRecorder
) -> None:
    pid_file = tmp_path / "pid"
    limited = sleep_with_pid.with_options(timeout_seconds=1)

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def timed() -> tuple[str, int]:
        limited.submit(str(pid_file), 60).wait()
        return "done", pid_and_square.submit(2).result()[1]

    started = time.monotonic()
    assert timed() == ("done", 4)
    assert time.monotonic() - started < 20
    failure = recorder.assert_called("on_task_run_failure", times=1)[0]
    assert failure.state.name == "TimedOut"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the body that ran over its limit still runs"


def test_cancelling_the_flow_cancels_the_bodies_no_worker_took(
    tmp_path: Path, recorder: HookRecorder
) -> None:
    pid_file = tmp_path / "pid"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def cancelled() -> None:
        running = sleep_with_pid.submit(str(pid_file), 3)  # long enough to cancel meanwhile
        queued = pid_and_square.map(range(3))
        _wait_for(pid_file)
        run = get_run_context().flow_run
        assert run is not None
        cancel_flow_run(run.id)
        running.wait()
        queued.wait()

    state = cancelled(return_state=True)
    assert state.type is StateType.CANCELLED
    finals = {
        call.kwargs["task_run"].task_name: call.state.name
        for call in recorder.called("on_task_run_state_change")
        if call.state.is_final()
    }
    assert finals == {"sleep_with_pid": "Completed", "pid_and_square": "Cancelled"}
    cancelled_runs = [
        call
        for call in recorder.called("on_task_run_state_change")
        if call.state.name == "Cancelled"
    ]
    assert len(cancelled_runs) == 3
    assert not any(
        call.kwargs["task_run"].task_name == "pid_and_square"
        for call in recorder.called("on_task_run_running")
    )


def test_an_unpicklable_body_argument_or_result_fails_its_task_run_with_a_clear_error() -> None:
    lock = threading.Lock()

    @task
    def takes(value: object) -> str:
        return "never"

    @task
    def closes_over_a_lock() -> bool:
        return lock.locked()

    @task
    def returns_a_lock() -> object:
        return threading.Lock()

    states = {}

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def unpicklable() -> None:
        for name, future in [
            ("argument", takes.submit(threading.Lock())),
            ("body", closes_over_a_lock.submit()),
            ("result", returns_a_lock.submit()),
        ]:
            future.wait()
            states[name] = future.state

    unpicklable()
    assert states["argument"].type is StateType.FAILED
    with pytest.raises(UnpicklableTaskError) as argument:
        states["argument"].result()
    assert "could not be pickled to be sent to a worker process" in str(argument.value)
    assert "ThreadPoolTaskRunner" in str(argument.value)
    with pytest.raises(
        UnpicklableTaskError, match=r"'test_an_unpicklable_body.*closes_over_a_lock'"
    ):
        states["body"].result()
    with pytest.raises(UnpicklableTaskError, match=r"return value .* could not be pickled"):
        states["result"].result()


def _set_env(name: str, value: str) -> None:
    os.environ[name] = value


def test_the_initializer_runs_in_each_worker(tmp_path: Path) -> None:
    @task
    def read_env() -> str:
        return os.environ.get("FLOWHOOK_TEST_INIT", "")

    runner = ProcessPoolTaskRunner(
        max_workers=1, initializer=_set_env, initargs=("FLOWHOOK_TEST_INIT", "set")
    )

    @flow(task_runner=runner)
    def initialized() -> str:
        return read_env.submit().result()

    assert initialized() == "set"
    assert "FLOWHOOK_TEST_INIT" not in os.environ
    assert initialized() == "set"  # the runner serves the next flow run with new workers


def test_async_tasks_run_in_the_flows_process() -> None:
    @task
    async def here() -> int:
        return os.getpid()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def mixed() -> int:
        return here.submit().result()

    assert mixed() == os.getpid()


def test_import_flowhook_loads_no_task_runner_or_futures_module_until_used() -> None:
    code = (
        "import sys, flowhook\n"
        "names = ['flowhook.task_runners', 'flowhook.futures', 'flowhook._engine.process_runner',"
        " 'flowhook._engine.process_pool', 'flowhook._engine.process_worker', 'cloudpickle',"
        " 'concurrent.futures.thread']\n"
        "print(sorted(name for name in names if name in sys.modules))\n"
        "import flowhook.task_runners\n"
        "print('flowhook._engine.process_pool' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert shown[:2] == ["[]", "True"]


@task(log_prints=True)
def logs_in_worker(x: int) -> tuple[str, int]:
    from flowhook import get_run_context, get_run_logger

    get_run_logger().info("squaring %d", x)
    print(f"printed {x}")
    run = get_run_context().task_run
    assert run is not None and run.parameters == {"x": x}
    return run.name, os.getpid()


def test_the_run_context_and_run_logger_work_in_a_worker_and_records_come_home(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def logged() -> tuple[tuple[str, int], TaskRun, str]:
        future = logs_in_worker.submit(4)
        flow_run = get_run_context().flow_run
        assert flow_run is not None
        return future.result(), future.task_run, str(flow_run.id)

    (name_there, pid), task_run, flow_run_id = logged()
    assert pid != os.getpid()
    assert name_there == task_run.name
    records = [r for r in caplog.records if getattr(r, "task_run_id", None) == str(task_run.id)]
    assert [r.getMessage() for r in records] == [
        f"Task run {task_run.name!r} - squaring 4",
        f"Task run {task_run.name!r} - printed 4",
    ]
    assert all(r.process == pid for r in records)  # logged there, handled here
    assert flowhook._runtime.attach.flush()
    store = open_store()
    try:
        stored = [(r.task_run_id, r.message) for r in store.run_logs(flow_run_id)]
    finally:
        store.close()
    assert stored == [(str(task_run.id), "squaring 4"), (str(task_run.id), "printed 4")]


@task
def append_line(path: str, line: int) -> None:
    with open(path, "a") as file:
        file.write(f"{line}\n")


def test_one_worker_runs_bodies_in_the_order_they_were_submitted(tmp_path: Path) -> None:
    log = tmp_path / "order"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def ordered() -> None:
        append_line.submit(str(log), -1).wait()
        append_line.map(unmapped(str(log)), range(8)).wait()

    ordered()
    assert log.read_text().split() == [str(n) for n in range(-1, 8)]


def test_workers_exit_when_the_flows_process_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "doomed_flow.py"
    script.write_text(
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from flowhook import flow, task\n"
        "from flowhook.task_runners import ProcessPoolTaskRunner\n"
        "@task\n"
        "def sleeper(path):\n"
        "    Path(path).write_text(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))\n"
        "def doomed():\n"
        "    sleeper.submit(sys.argv[1]).wait()\n"
        "doomed()\n"
    )
    flow_process = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        worker = int(_wait_for(pid_file))
        assert _alive(worker)
    finally:
        flow_process.kill()
        flow_process.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the worker outlived its flow's process"


@task(retries=1, retry_delay_seconds=60)
def fails_once_then_waits() -> None:
    raise ValueError("first attempt fails")


@pytest.mark.parametrize("runner", [ProcessPoolTaskRunner, ThreadPoolTaskRunner])
def test_cancelling_the_flow_ends_a_task_run_waiting_for_its_retry_at_once(
    recorder: HookRecorder, runner: type[TaskRunner]
) -> None:
    @flow(task_runner=runner(max_workers=1))  # type: ignore[call-arg]
    def cancelled_while_waiting() -> None:
        future = fails_once_then_waits.submit()
        deadline = time.monotonic() + 30
        while future.state.name != "AwaitingRetry":
            assert time.monotonic() < deadline, "the first attempt never failed"
            time.sleep(0.02)
        run = get_run_context().flow_run
        assert run is not None
        cancel_flow_run(run.id)
        future.wait()

    started = time.monotonic()
    assert cancelled_while_waiting(return_state=True).type is StateType.CANCELLED
    assert time.monotonic() - started < 30  # not the 60 s retry delay
    assert recorder.state_names("on_task_run_state_change") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Cancelling",
        "Cancelled",
    ]


def test_the_name_process_pool_is_a_new_process_pool_per_flow_run() -> None:
    @flow(task_runner="process_pool")
    def by_name() -> int:
        return pid_and_square.submit(3).result()[0]

    assert by_name() != os.getpid()


def test_a_runner_shared_by_a_flow_and_its_subflow_loses_no_task_run(tmp_path: Path) -> None:
    """The subflow's end shuts the shared runner down; the parent's task runs, running, queued
    or handed over later, all still run."""
    runner = ProcessPoolTaskRunner(max_workers=1)

    @flow(task_runner=runner)
    def child() -> int:
        return pid_and_square.submit(10).result()[1]

    @flow(task_runner=runner)
    def parent() -> tuple[int, int]:
        first = sleep_with_pid.submit(str(tmp_path / "pid"), 0.5)
        # queued when ``first`` ends: behind the child's body, before the child's end
        queued = pid_and_square.submit(3, wait_for=[first])
        from_child = child()
        return queued.result()[1], from_child

    assert parent() == (9, 100)


@task
def exits(code: int) -> None:
    sys.exit(code)


def test_system_exit_in_a_body_crashes_its_run_and_the_worker_serves_on(
    recorder: HookRecorder,
) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def exiting() -> tuple[str, int, int]:
        crashed = exits.submit(3)
        crashed.wait()
        first = pid_and_square.submit(1).result()[0]
        second = pid_and_square.submit(2).result()[0]
        return crashed.state.message or "", first, second

    message, first, second = exiting()
    assert message.startswith("the task raised SystemExit: 3 in worker process ")
    assert first == second  # the same worker: it did not exit
    assert len(recorder.called("on_task_run_crashed")) == 1


def test_an_async_flow_sends_its_sync_tasks_to_the_workers() -> None:
    import asyncio

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    async def async_flow() -> list[tuple[int, int]]:
        return pid_and_square.map(range(3)).result()

    results = asyncio.run(async_flow())
    assert [value for _, value in results] == [0, 1, 4]
    assert os.getpid() not in {pid for pid, _ in results}
