"""Helpers of the store's tests: subprocesses, fake processes and runs, waiting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowhook import flow, states, task
from flowhook.store import (
    HookError,
    NewRun,
    OutboxEntry,
    ProcessInfo,
    SQLiteStore,
    Store,
    Transition,
    Write,
    hostname,
    plain_record,
    start_token,
)

FLOWHOOK = str(Path(sys.executable).parent / "flowhook")


def write_module(root: Path, name: str, source: str) -> Path:
    path = root / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def make_distribution(root: Path, name: str, entry_points: dict[str, str]) -> None:
    """An installed distribution (a dist-info directory) whose entry points name modules in root."""
    dist_info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[flowhook]\n{lines}\n")


def environment(modules: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(modules), **extra}
    env.pop("FLOWHOOK_STRICT_HOOKS", None)
    return env


def flowhook_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWHOOK, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def execute(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` marks) in a write transaction of ``store``, as SQL a user might
    type; its rows. For PostgreSQL, the marks become ``%s`` and JSON columns are cast."""
    if isinstance(store, SQLiteStore):
        return store._write(lambda conn: conn.execute(sql, params).fetchall())
    statement = re.sub(r"json_array_length\((\w+)\)", r"json_array_length(\1::json)", sql)

    def run(cur: Any) -> list[tuple[Any, ...]]:
        cur.execute(statement.replace("?", "%s"), params)
        return list(cur.fetchall()) if cur.description else []

    return store._write(run)  # type: ignore[attr-defined,no-any-return]


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def fake_process(
    store: Store,
    *,
    pid: int,
    host: str | None = None,
    token: str | None = None,
    last_heartbeat: float | None = None,
) -> int:
    """A process row, as a process that runs flows would register itself."""
    process_id = store.register_process(
        ProcessInfo(
            pid=pid,
            host=host or hostname(),
            start_token=token,
            started=time.time() - 100,
            command="fake",
            flowhook_version="0",
        )
    )
    if last_heartbeat is not None:
        execute(
            store,
            "UPDATE processes SET last_heartbeat = ? WHERE id = ?",
            last_heartbeat,
            process_id,
        )
    return process_id


def fake_flow_run(
    store: Store,
    process_id: int,
    *,
    name: str = "ghost-run",
    flow_name: str = "ghost",
    import_path: str | None = None,
    with_task: bool = True,
) -> tuple[str, str | None]:
    """A flow run left Running (and a task run in it), as a killed process leaves them."""
    flow_run_id = uuid.uuid4()
    task_run_id = uuid.uuid4()
    now = time.time()
    pending = states.Pending(run_id=flow_run_id)
    running = states.Running(run_id=flow_run_id)
    writes: list[Any] = [
        NewRun("flow", flow_run_id, name, flow_name, import_path, now, process_id),
        Transition("flow", flow_run_id, flow_run_id, pending, 0, None, None),
        Transition("flow", flow_run_id, flow_run_id, running, 1, running.timestamp, None),
    ]
    if with_task:
        task_running = states.Running(run_id=task_run_id)
        writes += [
            NewRun("task", task_run_id, "step-1", "step", None, now, process_id, flow_run_id),
            Transition("task", task_run_id, flow_run_id, states.Pending(), 0, None, None),
            Transition(
                "task", task_run_id, flow_run_id, task_running, 1, task_running.timestamp, None
            ),
        ]
    store.write(writes)
    return str(flow_run_id), str(task_run_id) if with_task else None


def own_token() -> str | None:
    return start_token(os.getpid())


def fill_history(store: Store, runs: int) -> None:
    """``runs`` finished flow runs with a task run each, some hook errors and alerts, a block
    and a crashed run whose hooks are still due: every table a copy moves."""
    process = fake_process(store, pid=77, host="elsewhere", last_heartbeat=time.time() - 3600)
    for start in range(0, runs, 500):
        writes: list[object] = []
        for n in range(start, min(start + 500, runs)):
            flow_run, task_run = uuid.uuid4(), uuid.uuid4()
            created = 1_700_000_000.0 + n
            running = states.Running(run_id=flow_run)
            done = states.Completed(run_id=flow_run)
            writes += [
                NewRun("flow", flow_run, f"run-{n}", "copied", None, created, process),
                Transition("flow", flow_run, flow_run, states.Pending(), 0, None, None),
                Transition("flow", flow_run, flow_run, running, 1, running.timestamp, None),
                NewRun("task", task_run, "step-1", "step", None, created, process, flow_run),
                Transition("task", task_run, flow_run, states.Pending(), 0, None, None),
                Transition("task", task_run, flow_run, done, 1, done.timestamp, done.timestamp),
                Transition("flow", flow_run, flow_run, done, 1, running.timestamp, done.timestamp),
            ]
            if n % 50 == 0:
                writes += [
                    HookError("flow", flow_run, flow_run, created, "a hook raised", "Traceback"),
                    OutboxEntry(
                        f"key-{n}",
                        "slack",
                        "team",
                        "all",
                        "flow",
                        str(flow_run),
                        "Completed",
                        "subject",
                        "body \u00e9",
                        created,
                    ),
                ]
        store.write(writes)  # type: ignore[arg-type]
    store.save_block("slack", "team", {"url": "https://127.0.0.1/hook"})
    fake_flow_run(store, process, with_task=True)
    crashed = store.crash_runs(process, states.Crashed(message="gone"), hooks_by="a-reaper")
    assert len(crashed) == 2  # their hooks are due: two crash_hooks rows


#: A flow of 3,000 short tasks (a minute): long enough to be cancelled. Writes ``argv[1]`` once
#: it runs.
CANCELLABLE = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task

    @task
    def tick(i: int) -> int:
        time.sleep(0.02)
        return i

    @flow
    def long_job(marker: str) -> None:
        Path(marker).write_text("started")
        for i in range(3000):
            tick(i)

    if __name__ == "__main__":
        long_job(sys.argv[1])
"""


def start_cancellable(modules: Path, marker: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A process running the :data:`CANCELLABLE` flow; ``marker`` appears once it runs."""
    return start_script(write_module(modules, "cancellable", CANCELLABLE), marker, env)


def start_script(script: Path, marker: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``python script marker``, its output captured."""
    return subprocess.Popen(
        [sys.executable, str(script), str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@task
def doubled(i: int) -> int:
    return 2 * i


@task
def refused(i: int) -> int:
    raise ValueError(f"no {i}")


@flow
def doubling(n: int) -> list[int]:
    """A flow of one failed task run, then ``n`` that complete."""
    refused(-1, return_state=True)
    return [doubled(i) for i in range(n)]


#: The ways writes reach a store, for :func:`as_shipped`.
SHIPPED = ["records", "plain", "writer process"]


def as_shipped(writes: list[Write], shipped: str) -> list[Write]:
    """``writes`` as the store gets them: the named tuples themselves (``"records"``), the plain
    records the recorder makes (``"plain"``), or those records through the writer process's
    wire, as its child takes a frame (``"writer process"``)."""
    if shipped == "records":
        return writes
    plain = [plain_record(w) if isinstance(w, NewRun | Transition) else w for w in writes]
    if shipped == "plain":
        return plain
    from flowhook._runtime.writer_wire import frame_data, frame_writes

    return list(frame_writes(frame_data(1, plain, False)))
