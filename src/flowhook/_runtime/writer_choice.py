"""Which writer records a process's runs: ``FLOWHOOK_STORE_WRITER``, where ``auto`` (the
default) picks the writer process when it can have a core of its own.

The writer thread shares the interpreter's lock with the runs, so its work adds to theirs; the
writer process does the same work beside them, on another core. With one core (a machine's, or
a container's CPU quota) the two processes would take turns on it, and the thread is cheaper.
The writer process starts once a process has recorded enough for its start to pay off.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from ..store import COMPLETED_RUN_FIELDS, COMPLETED_RUN_STATES, Write

__all__ = [
    "AUTO_START_AFTER", "START_AFTER", "interpreter_problem", "transitions_counted",
    "usable_cores", "writer_kind",
]  # fmt: skip

#: The writer process starts after this many transitions (about 300 task runs). A wait (a flow
#: run's start, its end) takes 0.1 ms longer through it: worth it for a run that long, not less.
START_AFTER = 1000
#: With ``auto`` the process must also have recorded this many transitions in all: the writer
#: process's start costs a script about what the thread costs more in that many.
AUTO_START_AFTER = 10_000

#: Where the cgroup file systems are mounted, and which groups this process belongs to.
CGROUPS = Path("/sys/fs/cgroup")
MEMBERSHIP = Path("/proc/self/cgroup")


def writer_kind(setting: str, cores: float | None = None) -> str:
    """``"thread"`` or ``"process"`` for the setting's value (``auto``, ``thread`` or
    ``process``); ``cores``: how many this process may use (default: :func:`usable_cores`)."""
    if setting != "auto":
        return setting
    if interpreter_problem() is not None:
        return "thread"
    return "process" if (usable_cores() if cores is None else cores) >= 2 else "thread"


def interpreter_problem() -> str | None:
    """Why no Python interpreter can be started for the writer process, or None."""
    if not sys.executable:
        return "no Python interpreter to start"
    if getattr(sys, "frozen", False):  # sys.executable is the application itself
        return "a frozen application has no Python interpreter to start"
    return None


def usable_cores(root: Path = CGROUPS, membership: Path = MEMBERSHIP) -> float:
    """How many cores this process may use: those its CPU affinity allows, fewer when a CPU
    quota of its cgroup or of one above it (a container's ``--cpus``, a systemd unit's
    ``CPUQuota=``) allows less time than that."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = float(os.cpu_count() or 1)
    return min([cores, *_quotas(root, membership)])


def _quotas(root: Path, membership: Path) -> list[float]:
    """The CPU quotas, in cores, of this process's cgroups and of the groups above them: v2's
    ``cpu.max`` (``"0::/path"`` in ``membership``; mounted at ``root``, or at
    ``root/unified`` beside v1), v1's ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return []
    quotas = []
    for line in lines:
        _, controllers, group = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if not group.startswith("/") or "/.." in group:  # outside this namespace's view
            continue
        if controllers == "":  # v2
            for mount in (root, root / "unified"):
                quotas += _each_level(mount, group, ("cpu.max",))
        elif "cpu" in controllers.split(","):  # v1
            files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
            quotas += _each_level(root / controllers, group, files)
    return quotas


def _each_level(mount: Path, group: str, files: tuple[str, ...]) -> list[float]:
    """The quota at ``group`` under ``mount`` and at each group above it, where there is one."""
    parts = [part for part in group.split("/") if part]
    found = []
    for depth in range(len(parts), -1, -1):
        directory = mount.joinpath(*parts[:depth])
        try:
            words = " ".join((directory / name).read_text() for name in files).split()
            quota = int(words[0]) / int(words[1])
        except (OSError, ValueError, IndexError, ZeroDivisionError):  # none, or "max"
            continue
        if quota > 0 and math.isfinite(quota):  # v1's -1: none
            found.append(quota)
    return found


def transitions_counted(writes: tuple[Write, ...]) -> int:
    """How many transitions a submit of ``writes`` counts towards :data:`START_AFTER`: three
    for a completed run's record (:func:`~flowhook.store.completed_run_record`), else one (a
    transition's writes, mostly)."""
    first = writes[0] if writes else None
    completed = type(first) is tuple and len(first) == COMPLETED_RUN_FIELDS
    return len(COMPLETED_RUN_STATES) if completed else 1
