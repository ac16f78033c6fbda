"""Processes that shut down normally but could not record it: their exit notes.

At exit a process writes its last states and the time it exited in one batch. When the store
cannot take that batch (locked past the lock timeout, disk full), the process leaves a small
note in ``$FLOWHOOK_HOME/exits/`` instead. The next reaper reads it and marks the runs the
store still shows unfinished :data:`UNRECORDED` (a final state with the message "final state
not recorded"): no ``on_crashed`` hook fires and no crash alert is sent for a process that did
not crash.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from flowhook_hookspec.states import State, StateType

from .._files import write_atomically
from ..store import ProcessRecord, Store, StoreSettings, hostname

__all__ = [
    "UNRECORDED",
    "apply_exit_notes",
    "exit_notes_directory",
    "unrecorded_state",
    "utc",
    "write_exit_note",
]

logger = logging.getLogger("flowhook.store")

#: The name of :func:`unrecorded_state`.
UNRECORDED = "Unrecorded"


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def unrecorded_state(process: ProcessRecord, exited: float) -> State:
    """The final state of a run whose process shut down normally but could not record how the
    run ended: of type Crashed, as the outcome is unknown, but no crash: no hooks, no alerts."""
    return State(
        StateType.CRASHED,
        UNRECORDED,
        f"final state not recorded: the process (pid {process.pid} on {process.host}) exited "
        f"normally at {utc(exited)}, but the store could not take this run's last states",
    )


def exit_notes_directory(settings: StoreSettings) -> Path:
    """Where a process that exits normally, but cannot write to the store, says so."""
    return settings.home / "exits"


def write_exit_note(
    settings: StoreSettings, store: Store, process_id: int, held_back: int, error: str
) -> None:
    """Leave a note that process ``process_id`` exited normally with ``held_back`` states the
    store did not take: the next reaper marks its unfinished runs Unrecorded, not Crashed."""
    directory = exit_notes_directory(settings)
    note = {
        "store": store.location,
        "process_id": process_id,
        "pid": os.getpid(),
        "host": hostname(),
        "exited": time.time(),
        "held_back": held_back,
        "error": error,
    }
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / f"{process_id}-{os.getpid()}.json"
        write_atomically(path, json.dumps(note).encode(), prefix=".exit-", suffix=".tmp")
    except OSError as exc:
        logger.error("could not note in %s that this process exited normally: %s", directory, exc)


def apply_exit_notes(store: Store, settings: StoreSettings) -> None:
    """Mark Unrecorded the unfinished runs of the processes that left an exit note for
    ``store``, record their exit, and remove the notes."""
    directory = exit_notes_directory(settings)
    try:
        paths = sorted(directory.glob("*.json"))
    except OSError:
        return
    for path in paths:
        try:
            note = json.loads(path.read_text())
            if note.get("store") != store.location:
                continue
            process = store.process(int(note["process_id"]))
            exited = float(note["exited"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.error("ignoring the unreadable exit note %s: %s", path, exc)
            continue
        if process is not None and process.pid == note.get("pid"):
            marked = store.crash_runs(process.id, unrecorded_state(process, exited))
            store.record_exit(process.id, exited)
            if marked:
                logger.warning(
                    "%d runs of pid %d, which exited normally without recording how they ended, "
                    "are marked %s (see flowhook runs ls)",
                    len(marked),
                    process.pid,
                    UNRECORDED,
                )
        path.unlink(missing_ok=True)
