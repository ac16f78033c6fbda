"""Which writer records a process's runs: ``FLOWHOOK_STORE_WRITER``, where ``auto`` (the
default) picks the writer process when it can have a core of its own.

The writer thread shares the interpreter's lock with the runs, so its work adds to theirs; the
writer process does the same work beside them, on another core. With one core (a machine's, or
a container's CPU quota) the two processes would take turns on it, and the thread is cheaper.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["interpreter_problem", "usable_cores", "writer_kind"]

#: Where a cgroup (v2, then v1) says how much CPU time this process's group may use.
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


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


def usable_cores(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> float:
    """How many cores this process may use: those its CPU affinity allows, fewer when its
    cgroup's CPU quota (a container's ``--cpus``) allows less time than that."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = float(os.cpu_count() or 1)
    quota = _cgroup_quota(v2, v1)
    return cores if quota is None else min(cores, quota)


def _cgroup_quota(v2: Path, v1: tuple[Path, Path]) -> float | None:
    """The cgroup's CPU quota in cores (``quota / period``), or None without one."""
    try:
        quota, period = v2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = (path.read_text().strip() for path in v1)
        except (OSError, ValueError):
            return None
    try:
        cores = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):  # "max" (v2) means no quota
        return None
    return cores if cores > 0 and math.isfinite(cores) else None  # -1 (v1): no quota
