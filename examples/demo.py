"""The demo of the README: a small ETL flow with retries, a failure hook and a plugin.

Run it with `make demo`. It shows the flow's result, the hooks that fired, and what an
installed plugin saw of every transition.
"""

from __future__ import annotations

import logging

import flowhook
from flowhook import flow, get_run_logger, hookimpl, task

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


class TransitionPrinter:
    """A plugin in three lines: it sees every transition of every run."""

    @hookimpl
    def on_task_run_state_change(self, task_run, old_state, new_state):
        print(f"  [plugin] {task_run.name}: {old_state and old_state.name} -> {new_state.name}")


attempts = 0


@task(retries=3, retry_delay_seconds=0.1)
def extract(n: int) -> list[int]:
    global attempts
    attempts += 1
    if attempts < 3:  # the source fails twice, then answers
        raise ConnectionError("the source is flaky")
    return list(range(n))


@task
def transform(rows: list[int]) -> list[int]:
    return [row * 10 for row in rows]


@flow(flow_run_name="etl-{n}")
def etl(n: int = 3) -> int:
    rows = transform(extract(n))
    get_run_logger().info("loaded %d rows", len(rows))
    return sum(rows)


@etl.on_completion
def report(flow, flow_run, state):
    print(f"{flow_run.name} entered {state.name}: result {state.result()}")


@etl.on_failure
def alert(flow, flow_run, state):
    print(f"{flow_run.name} entered {state.name}: {state.message}")


if __name__ == "__main__":
    flowhook.register_plugin(TransitionPrinter(), name="printer")
    print("result:", etl(5))
    print("a bad parameter fails the run and fires on_failure:")
    etl("five", return_state=True)
