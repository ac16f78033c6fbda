"""A flow process that pauses, for the tests of resuming it from another process (the store's
and the UI's)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flowhook.store import RunQuery, RunRecord, Store

#: ``python script marker timeout``: a flow run named "gated" runs a task, writes the marker,
#: pauses for ``timeout`` seconds, runs a task again and prints "resumed".
PAUSING = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from flowhook import flow, pause_flow_run, task


    @task
    def step(i: int) -> int:
        return i


    @flow(flow_run_name="gated")
    def gated(marker: str, timeout: float) -> str:
        step(1)
        Path(marker).write_text("pausing")
        pause_flow_run(timeout=timeout)
        step(2)
        return "resumed"


    if __name__ == "__main__":
        print(gated(sys.argv[1], float(sys.argv[2])))
    """
)


def start_pausing(
    directory: Path, env: dict[str, str], timeout: float = 60.0
) -> subprocess.Popen[str]:
    """A process running the :data:`PAUSING` flow; ``directory / "marker"`` appears as it
    pauses."""
    script = directory / "pausing_flow.py"
    script.write_text(PAUSING)
    return subprocess.Popen(
        [sys.executable, str(script), str(directory / "marker"), str(timeout)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_paused(store: Store, child: subprocess.Popen[str], wait: float = 60) -> RunRecord:
    """The "gated" flow run once the store records it Paused."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = store.list_flow_runs(RunQuery(flow_name="gated"))
        if found and found[0].state_type == "PAUSED":
            return found[0]
        if child.poll() is not None:
            raise AssertionError(f"the flow process ended: {child.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"the flow run did not pause within {wait:g} s")


def wait_for_state(store: Store, run_id: str, *names: str, wait: float = 30) -> float:
    """The time (``time.monotonic()``) at which the flow run ``run_id`` was seen in one of the
    states ``names``."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        record = store.get_run("flow", run_id)
        if record is not None and record.state_name in names:
            return time.monotonic()
        time.sleep(0.005)
    record = store.get_run("flow", run_id)
    raise AssertionError(f"not {names} within {wait:g} s: {record and record.state_name}")
