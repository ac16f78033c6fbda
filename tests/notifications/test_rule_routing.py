"""Which transitions a rule notifies, now that the rules a state may match are worked out when
the rules load: each rule still fires on exactly the transitions it names, by kind, by state
name and by state type, and the messages reach their block."""

from __future__ import annotations

import logging
import re

import pytest

from flowhook import flow, task
from flowhook._runtime.attach import detach, flush
from flowhook.states import Completed, Failed
from flowhook_hookspec.states import State, StateType

from .test_delivery import outbox, wait_for

RULES = """
[blocks."log/alerts"]
logger_name = "test.alerts"

# a rule for flow runs, by state name
[[notifications]]
on = ["Completed"]
flows = ["nightly*"]
blocks = ["log/alerts"]
subject = "flow {{ flow_run.name }} {{ state.name }}"

# for task runs, by a name that shares its type (FAILED) with Failed and UpstreamFailed
[[notifications]]
on = ["TimedOut"]
tasks = ["*"]
blocks = ["log/alerts"]
subject = "task {{ task_run.name }} {{ state.name }}"

# for flow runs, by type: any name of that type, a custom one included
[[notifications]]
on = ["CRASHED"]
flows = ["*"]
blocks = ["log/alerts"]
subject = "flow {{ flow_run.name }} {{ state.name }}"
"""


@pytest.fixture
def alerts(notifier_plugins, configure, caplog: pytest.LogCaptureFixture):
    """The subjects the ``log/alerts`` block received (each line is ``subject: body``), once
    everything the rules enqueued is delivered."""
    configure(RULES)
    caplog.set_level(logging.INFO, logger="test.alerts")

    def received() -> list[str]:
        flush()  # every message the transitions enqueued is in the outbox
        queued = len(outbox())
        wait_for(lambda: len(outbox("--status", "sent")) == queued)
        return [r.getMessage().split(":")[0] for r in caplog.records if r.name == "test.alerts"]

    yield received
    detach()


def test_a_rule_for_flow_runs_fires_and_one_for_other_flows_does_not(alerts) -> None:
    flow(name="nightly-load", flow_run_name="n1")(lambda: 1)()
    flow(name="hourly-load", flow_run_name="h1")(lambda: 1)()

    [subject] = alerts()
    assert subject == "flow n1 Completed"


def test_a_rule_by_name_fires_on_that_name_only_not_on_others_of_its_type(alerts) -> None:
    @task(timeout_seconds=0.05)
    def slow() -> None:
        import time

        time.sleep(1)

    @task
    def broken() -> None:
        raise ValueError("no")

    @flow(name="batch")
    def batch() -> None:
        slow(return_state=True)
        broken(return_state=True)

    batch(return_state=True)

    [subject] = alerts()
    assert re.fullmatch(r"task slow-\w+ TimedOut", subject)


def test_a_rule_by_type_fires_on_a_custom_state_name_of_that_type(alerts) -> None:
    @flow(name="evictable", flow_run_name="e1")
    def evictable() -> State:
        return State(type=StateType.CRASHED, name="Evicted")

    @flow(name="other", flow_run_name="o1")
    def other() -> State:
        return Failed(name="Evicted")  # the same name, another type: no rule

    evictable(return_state=True)
    other(return_state=True)

    [subject] = alerts()
    assert subject == "flow e1 Evicted"


def test_a_task_rule_is_not_fired_by_a_flow_nor_a_flow_rule_by_a_task(alerts) -> None:
    @task(name="nightly-task")
    def nightly_task() -> State:
        return Completed()

    @flow(name="wrapper", flow_run_name="w1")
    def wrapper() -> None:
        nightly_task()

    wrapper()

    assert alerts() == []
