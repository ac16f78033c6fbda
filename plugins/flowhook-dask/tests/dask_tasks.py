"""Task functions the tests send to workers: an importable module, so workers can load them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flowhook_dask import should_stop

from flowhook import task

#: The arguments of every cluster these tests start: nothing listens beyond 127.0.0.1.
CLUSTER = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
    "dashboard_address": "127.0.0.1:0",  # None would still serve HTTP on every interface
    "host": "127.0.0.1",
}


@task
def square(x: int) -> int:
    return x * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def fail(message: str) -> int:
    raise ValueError(message)


@task
def where() -> str:
    from distributed import get_worker

    return str(get_worker().address)


def flaky(counter: str) -> int:
    """Fails twice then returns 42; appends this attempt's Dask key to ``counter``."""
    from distributed import get_worker

    path = Path(counter)
    with path.open("a") as out:
        out.write(f"{get_worker().get_current_task()}\n")
    attempts = len(path.read_text().splitlines())
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} fails")
    return 42


@task
def die() -> None:
    os._exit(1)


@task
def be_killed() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@task
def wait_to_be_stopped(seconds: float = 30.0) -> str:
    """Runs until its run ended in the flow's process (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    while not should_stop():
        if time.monotonic() > deadline:
            return "never stopped"
        time.sleep(0.02)
    return "stopped"


class Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = __import__("threading").Lock()


@task
def raise_unpicklable() -> None:
    raise Unpicklable("the body failed holding a lock")


@task
def return_unpicklable() -> object:
    import threading

    return threading.Lock()


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


#: The processes in which a :class:`Heavy` was unpickled (each process has its own list).
UNPICKLED_IN: list[int] = []


def _rebuild(data: bytes) -> Heavy:
    UNPICKLED_IN.append(os.getpid())
    return Heavy(data)


class Heavy:
    """A large value that notes each process where it is unpickled."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return _rebuild, (self.data,)


@task
def make_heavy(megabytes: int) -> Heavy:
    return Heavy(b"x" * (megabytes * 1024 * 1024))


@task
def measure(heavy: Heavy) -> tuple[int, list[int], int]:
    """The size of ``heavy``, the processes that unpickled one, and this worker's process."""
    import dask_tasks  # a task's function travels by value: its globals would be copies

    return len(heavy.data), list(dask_tasks.UNPICKLED_IN), os.getpid()
