"""The demo of the README: a small ETL flow with retries and state hooks.

Run it with `make demo`. The installed flowhook-logging plugin logs every transition of every
run on logger ``flowhook.transitions``; the flow's own hooks print what they saw.
"""

from __future__ import annotations

import logging
import sys

from flowhook import flow, get_run_logger, task

logging.basicConfig(
    level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s", stream=sys.stdout
)


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
    print("result:", etl(5))
    print("a bad parameter fails the run and fires on_failure:")
    etl("five", return_state=True)
