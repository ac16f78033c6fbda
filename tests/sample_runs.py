"""A small, real run history that the command-line tests read."""

from __future__ import annotations

import flowhook._runtime.attach
from flowhook import flow, task


def record_sample_runs() -> None:
    """Three flow runs of two flows (completed, failed with a failing task, completed), written
    to the store of ``FLOWHOOK_HOME``; the recorder is detached, so everything is on disk."""

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def explode() -> None:
        raise ZeroDivisionError("no way")

    @flow(flow_run_name="load-{n}")
    def load(n: int) -> int:
        return sum(double(i) for i in range(n))

    @flow(flow_run_name="report")
    def report() -> None:
        double(1)
        explode()

    load(2)
    report(return_state=True)
    load(3)
    flowhook._runtime.attach.detach()
