"""``FLOWHOOK_STORE_WRITER=auto`` (the default): the writer process where it can have a core of
its own, the writer thread otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import environment, execute, write_module

from flowhook._runtime.writer_choice import usable_cores, writer_kind
from flowhook.store import Store, load_settings

#: ``{flows}`` flows of ``{tasks}`` task runs each in a process whose usable cores are
#: ``{cores}``; it prints the writer process's id, or -1 when the thread wrote them all.
FLOWS = """
import flowhook._runtime.attach as attach
import flowhook._runtime.writer_choice as choice
from flowhook import flow, task

choice.usable_cores = lambda: {cores}

@task
def step(i: int) -> int:
    return i

@flow
def steps(n: int) -> None:
    for i in range(n):
        step(i)

for _ in range({flows}):
    steps({tasks})
writer = attach.current().writer
started = writer.wait_started(60) if getattr(writer, "pid", None) else False
print("writer", writer.pid if started else -1, flush=True)
"""


def run_flows(modules: Path, flows: int, tasks: int, cores: float, **env: str) -> str:
    """Run FLOWS in a process of its own, ``env`` added; what it printed."""
    script = write_module(modules, "steps", FLOWS.format(flows=flows, tasks=tasks, cores=cores))
    environ = environment(modules, **env)
    for name in ("FLOWHOOK_STORE_WRITER", "FLOWHOOK_STORE_WRITER_WAIT"):
        if name not in env:
            environ.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(script)], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "writer process" not in done.stderr
    return done.stdout


def test_auto_is_the_default() -> None:
    assert load_settings({}).writer == "auto"
    assert load_settings({"FLOWHOOK_STORE_WRITER": " Auto "}).writer == "auto"


@pytest.mark.parametrize(
    ("setting", "cores", "chosen"),
    [
        ("auto", 1.0, "thread"),
        ("auto", 1.5, "thread"),
        ("auto", 2.0, "process"),
        ("auto", 16.0, "process"),
        ("thread", 16.0, "thread"),
        ("process", 1.0, "process"),
    ],
)
def test_auto_picks_the_process_with_two_cores_or_more(
    setting: str, cores: float, chosen: str
) -> None:
    assert writer_kind(setting, cores) == chosen


def test_auto_picks_the_thread_in_a_frozen_application(monkeypatch: pytest.MonkeyPatch) -> None:
    """There, ``sys.executable`` is the application itself: never started as the writer."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert writer_kind("auto", 8.0) == "thread"
    assert writer_kind("process", 8.0) == "process"  # asked for: tried, and said why not


def _affinity() -> float:
    return float(len(os.sched_getaffinity(0)))


#: cgroup files under the mount root, by path, and what /proc/self/cgroup says.
Files = dict[str, str]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux: CPU affinity")
@pytest.mark.parametrize(
    ("membership", "files", "quota"),
    [
        # cgroup v2, the container's own namespace: its group is the root
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # docker run --cpus=1.5
        # v2 without a namespace: a systemd unit's group, and the slice above it
        (
            "0::/system.slice/job.service\n",
            {"system.slice/job.service/cpu.max": "50000 100000"},
            0.5,
        ),
        ("0::/a/b\n", {"a/b/cpu.max": "max 100000", "a/cpu.max": "300000 100000"}, 3.0),
        ("0::/a/b\n", {"a/b/cpu.max": "400000 100000", "a/cpu.max": "300000 100000"}, 3.0),
        # v2 beside v1 (hybrid), mounted at unified/
        ("0::/x\n", {"unified/x/cpu.max": "100000 100000"}, 1.0),
        # cgroup v1, cpu and cpuacct mounted together
        (
            "3:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n",
            {
                "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
                "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            },
            2.0,
        ),
        (
            "1:cpu:/\n",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
        ),
        ("0::/\n", {}, None),  # no file
        ("0::/\n", {"cpu.max": "garbage"}, None),
        ("0::/\n", {"cpu.max": "100000 0"}, None),
        ("", {"cpu.max": "100000 100000"}, None),  # no membership: not ours
        ("0::/../x\n", {"cpu.max": "100000 100000"}, None),  # outside the namespace's view
    ],
)
def test_usable_cores_are_the_affinity_lowered_by_a_cgroup_quota(
    tmp_path: Path, membership: str, files: Files, quota: float | None
) -> None:
    """A quota of the process's cgroup, or of a group above it, lowers the count; the least
    one counts."""
    root, proc = tmp_path / "cgroup", tmp_path / "self-cgroup"
    proc.write_text(membership)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    expected = _affinity() if quota is None else min(_affinity(), quota)
    assert usable_cores(root, proc) == expected


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux: CPU affinity")
def test_usable_cores_without_a_membership_file_are_the_affinity(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000")  # not known to be this process's
    assert usable_cores(tmp_path, tmp_path / "missing") == _affinity()


@pytest.mark.parametrize(("cores", "child"), [(2.0, True), (1.0, False)])
def test_a_long_flow_is_written_by_the_child_only_with_a_core_to_spare(
    modules: Path, store: Store, cores: float, child: bool
) -> None:
    """4,000 task runs in one flow: past the 10,000 writes (1,000 of them in one run) that
    start the child."""
    printed = run_flows(modules, 1, 4000, cores)
    assert (printed.split()[1] != "-1") is child, printed
    assert execute(store, "SELECT count(*) FROM task_runs") == [(4000,)]
    assert execute(store, "SELECT state_type FROM flow_runs") == [("COMPLETED",)]


@pytest.mark.parametrize(("setting", "child"), [("auto", False), ("process", True)])
def test_auto_never_starts_the_child_for_short_flows(
    modules: Path, store: Store, setting: str, child: bool
) -> None:
    """400 flows of 10 task runs, about 12,800 writes in all but 32 between two waits: each
    wait would take longer through the child. Asked for, the child starts all the same."""
    printed = run_flows(modules, 400, 10, 2.0, FLOWHOOK_STORE_WRITER=setting)
    assert (printed.split()[1] != "-1") is child, printed
    assert execute(store, "SELECT count(*) FROM task_runs") == [(4000,)]
    assert execute(store, "SELECT count(*) FROM flow_runs WHERE state_type = 'COMPLETED'") == [
        (400,)
    ]


def test_the_child_imports_flowhook_from_where_the_flow_process_found_it(
    modules: Path, store: Store, tmp_path: Path
) -> None:
    """An interpreter that has no flowhook of its own (a zip application, a PEX file, a
    script that extends ``sys.path``): the child finds it through the flow's ``sys.path``."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    no_flowhook = subprocess.run([python, "-c", "import flowhook"], capture_output=True)
    assert no_flowhook.returncode != 0  # the interpreter alone cannot import it
    script = write_module(
        modules,
        "extended",
        f"import sys\nsys.path[1:1] = {sys.path!r}\n"
        + FLOWS.format(flows=1, tasks=4000, cores=2.0),
    )
    environ = environment(modules, FLOWHOOK_STORE_WRITER="auto")
    environ.pop("FLOWHOOK_STORE_WRITER_WAIT", None)
    done = subprocess.run(
        [python, str(script)], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] != "-1", done.stdout + done.stderr
    assert "writer process" not in done.stderr
    assert execute(store, "SELECT count(*) FROM task_runs") == [(4000,)]


def test_auto_starts_the_child_only_past_10_000_writes_in_all(modules: Path, store: Store) -> None:
    """One flow of 2,000 task runs (about 6,000 writes): the child's start would cost the
    script more than it saves."""
    printed = run_flows(modules, 1, 2000, 2.0)
    assert printed.split()[1] == "-1", printed
    assert execute(store, "SELECT count(*) FROM task_runs") == [(2000,)]
