"""A flow body that returns a Cancelling state fires ``on_cancellation``, in every hook context
Prefect's tests check (issue 24, item 2).

Prefect: a returned state becomes the run's state (``return_value_to_state``, states.py:308), and
a Cancelling one selects the ``on_cancellation`` hooks (flow_engine.py:1019-1036, ``call_hooks``;
its async twin flow_engine.py:1715-1732). flowhook then ends the run Cancelled, a documented
difference (docs/prefect.md): a run always ends in a final state.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from flowhook import CancelledRun, State, StateType, flow, get_run_context
from flowhook.states import Cancelling

RETURNED = {
    "Cancelling()": lambda: Cancelling(),
    "State(type=StateType.CANCELLING)": lambda: State(type=StateType.CANCELLING),
}


@pytest.mark.parametrize("returned", RETURNED.values(), ids=list(RETURNED))
@pytest.mark.parametrize("form", ["keyword", "decorator"])
def test_hooks_run_in_order_by_either_registration(returned, form, calls) -> None:
    """test_flows.py:3603 (decorated) and :3621 (keyword), both returning
    ``State(type=StateType.CANCELLING)``; :3669, the other hooks run when one raises."""

    def broken(flow, flow_run, state) -> None:
        raise RuntimeError("this hook fails; the others still run")

    hooks = [calls.hook("first"), broken, calls.hook("third")]

    def body() -> State:
        return returned()

    if form == "keyword":
        stopping = flow(on_cancellation=hooks)(body)
    else:
        stopping = flow(body)
        for hook in hooks:
            stopping.on_cancellation(hook)

    state = stopping(return_state=True)
    assert state.is_cancelled()
    assert calls == [("first", "Cancelling", 1), ("third", "Cancelling", 1)]


def test_hooks_run_within_the_flow_run_context(caplog) -> None:
    """test_flows.py:3152 (``test_hooks_are_called_within_flow_run_context``, its
    on_cancellation case): the hook sees the flow run's context, its run and its state, and
    "Hook 'hook' finished running successfully" is logged. Calling the flow raises (Prefect:
    ``UnfinishedRun``, the run staying Cancelling; flowhook: ``CancelledRun``)."""
    seen = []

    def hook(flow, flow_run, state) -> None:
        context = get_run_context()
        seen.append(
            (context.flow_run is flow_run, context.flow_run.state == state, context.flow is flow)
        )

    @flow(on_cancellation=[hook])
    def foo_flow() -> State:
        return Cancelling()

    with caplog.at_level(logging.INFO), pytest.raises(CancelledRun):
        foo_flow()
    assert seen == [(True, True, True)]
    assert "Hook 'hook' finished running successfully" in caplog.text


@pytest.mark.parametrize("first_async", [False, True])
@pytest.mark.parametrize("second_async", [False, True])
def test_sync_and_async_hooks(first_async, second_async) -> None:
    """test_flows.py:3717 (``test_on_cancellation_hooks_work_with_sync_and_async``)."""
    ran: list[str] = []

    def make(label: str, is_async: bool):  # type: ignore[no-untyped-def]
        if is_async:

            async def async_hook(flow, flow_run, state) -> None:
                ran.append(label)

            return async_hook

        def sync_hook(flow, flow_run, state) -> None:
            ran.append(label)

        return sync_hook

    @flow(on_cancellation=[make("one", first_async), make("two", second_async)])
    def my_flow() -> State:
        return Cancelling()

    my_flow(return_state=True)
    assert ran == ["one", "two"]


def test_a_subflow_fires_its_hook_then_the_parent_fails(calls) -> None:
    """test_flows.py:3688 (``test_on_cancelled_hook_on_subflow_succeeds``): the subflow's
    on_cancellation, then the parent's on_failure."""

    @flow(on_cancellation=[calls.hook("cancelled")])
    def subflow() -> State:
        return Cancelling()

    @flow(on_failure=[calls.hook("failed")])
    def my_flow() -> None:
        subflow()

    assert my_flow(return_state=True).is_failed()
    assert calls == [("cancelled", "Cancelling", 1), ("failed", "Failed", 1)]


def test_an_async_flow_too(calls) -> None:
    """The async engine selects the same hooks (flow_engine.py:1715-1732)."""

    @flow(on_cancellation=[calls.hook("cancelled")])
    async def stopping() -> State:
        await asyncio.sleep(0)
        return Cancelling()

    assert asyncio.run(stopping(return_state=True)).is_cancelled()
    assert calls == [("cancelled", "Cancelling", 1)]
