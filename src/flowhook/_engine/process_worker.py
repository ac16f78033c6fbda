"""The worker process of :class:`~flowhook.task_runners.ProcessPoolTaskRunner`.

The pool starts it as ``python -c`` loading this file by path (see :func:`command`), so a
worker starts with the interpreter and cloudpickle only; flowhook is imported with the first
body that has a run context. It speaks
to the flow's process over one socket of ``multiprocessing.connection`` frames, each a plain
pickled tuple (never a class of this module, which the flow's process knows under another name):

- first, from the pool: ``(sys.path, initializer)``, the initializer cloudpickled or ``None``;
- then, from the pool, one body at a time: ``(key, cloudpickled (fn, args, kwargs), run)``,
  ``run`` the pickled run context (:mod:`.process_context`) or ``None``;
- to the pool, for each body: ``("started", key, time, pid)``, any number of
  ``("log", key, record fields)`` (the run loggers' records), then
  ``("ended", key, status, payload, traceback text, started, ended)``: ``status`` is
  ``"returned"`` or ``"raised"`` (``payload`` the cloudpickled value or exception),
  ``"unpicklable"`` (``payload`` a message: the body, its value or its exception did not
  pickle) or ``"crashed"`` (``payload`` a message: the body raised a ``BaseException`` that is
  not an ``Exception``, such as ``SystemExit``).

The worker exits when the socket closes, or when the flow's process dies. Task bodies print to
the flow's stdout and stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import pickle
import sys
import threading
import time
import traceback
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def command(fd: int) -> list[str]:
    """The command line that starts a worker talking over file descriptor ``fd``."""
    boot = (
        "import importlib.util as u,sys;"
        "s=u.spec_from_file_location('flowhook_process_worker',sys.argv[1]);"
        "m=u.module_from_spec(s);s.loader.exec_module(m);m.main(int(sys.argv[2]))"
    )
    return [sys.executable, "-c", boot, str(Path(__file__).resolve()), str(fd)]


def _call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = asyncio.run(_awaited(value))
    return value


async def _awaited(value: Any) -> Any:
    return await value


class _Sender:
    """Sends frames to the pool, one at a time (a body's threads may log at once)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()

    def __call__(self, frame: tuple[Any, ...]) -> None:
        data = pickle.dumps(frame)
        with self.lock:
            self.connection.send_bytes(data)


def _run_context(
    key: str, run: bytes | None, call: tuple[Any, ...], send: _Sender
) -> AbstractContextManager[Any]:
    """The body's run context (``get_run_logger()`` works in it), when it has one."""
    if run is None:
        return contextlib.nullcontext()
    from flowhook._engine.process_context import enter  # the first body's cost: about 0.15 s

    return enter(run, call, lambda fields: send(("log", key, fields)))


def _run(key: str, blob: bytes, run: bytes | None, send: _Sender) -> tuple[Any, ...]:
    """Run one body; the ``ended`` frame that reports how it went. Never raises an Exception."""
    import cloudpickle  # type: ignore[import-untyped]

    try:
        fn, args, kwargs = cloudpickle.loads(blob)
        entered = _run_context(key, run, (fn, args, kwargs), send)
    except Exception as exc:
        message = f"the task could not be unpickled in the worker process: {_describe(exc)}"
        now = time.time()
        return ("ended", key, "unpicklable", message, "", now, now)
    started = time.time()  # once all is loaded: a time limit counts the body only
    send(("started", key, started, os.getpid()))
    try:
        with entered:
            value = _call(fn, args, kwargs)
    except Exception as exc:
        status, value, tb = "raised", exc, _user_traceback(exc)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: a crash, as in the flow's process
        message = f"the task raised {_describe(exc)} in worker process {os.getpid()}"
        return ("ended", key, "crashed", message, "", started, time.time())
    else:
        status, tb = "returned", ""
    ended = time.time()
    try:
        payload = cloudpickle.dumps(value)
    except Exception as exc:
        what = "exception" if status == "raised" else "return value"
        message = (
            f"the task's {what} ({type(value).__name__}: {value!s:.200}) could not be pickled "
            f"to leave the worker process: {_describe(exc)}"
        )
        return ("ended", key, "unpicklable", message, tb, started, ended)
    return ("ended", key, status, payload, tb, started, ended)


def _user_traceback(exc: BaseException) -> str:
    """The traceback text of ``exc`` from the task's function down (this module's frames cut)."""
    tb = exc.__traceback__
    for _ in range(2):  # _run's frame and _call's
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


#: How often a worker checks that the flow's process still lives (seconds).
PARENT_CHECK_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Exit at once when the flow's process is gone (killed, say) even while a body runs:
    no worker outlives its flow for longer than :data:`PARENT_CHECK_SECONDS`."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def main(fd: int) -> None:
    """Serve bodies over the socket ``fd`` until it closes."""
    import cloudpickle

    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()

    connection = Connection(fd)
    send = _Sender(connection)
    try:
        path, initializer = pickle.loads(connection.recv_bytes())
        sys.path[:] = path  # as multiprocessing's spawn does: the parent's modules import here
        if initializer is not None:
            fn, args, _ = cloudpickle.loads(initializer)
            fn(*args)
        while True:
            key, blob, run = pickle.loads(connection.recv_bytes())
            send(_run(key, blob, run, send))
    except (EOFError, OSError):  # the pool closed the socket (or went away): done
        return
