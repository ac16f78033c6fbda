"""A plugin that records every transition hook call, for tests of flowhook and of plugins."""

from __future__ import annotations

import threading
from typing import Any

import attrs

from flowhook_hookspec import hookimpl
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

__all__ = ["HookCall", "HookRecorder"]


@attrs.frozen
class HookCall:
    """One recorded hook call: the hook's name and the arguments it received."""

    name: str
    kwargs: dict[str, Any]

    @property
    def state(self) -> State:
        """The state the run entered (``new_state`` for state-change hooks)."""
        state = self.kwargs.get("state", self.kwargs.get("new_state"))
        assert isinstance(state, State)
        return state


class HookRecorder:
    """Register it (``flowhook.register_plugin(HookRecorder())``) and read ``calls``.

    Records the 14 transition hooks. Safe to use from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[HookCall] = []

    def _record(self, name: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(HookCall(name, kwargs))

    def names(self, *, prefix: str = "") -> list[str]:
        """The names of the recorded calls, in order, optionally only those starting with ``prefix``."""
        return [call.name for call in self.calls if call.name.startswith(prefix)]

    def called(self, name: str) -> list[HookCall]:
        """The recorded calls of one hook."""
        return [call for call in self.calls if call.name == name]

    def state_names(self, hook: str = "on_flow_run_state_change") -> list[str]:
        """The names of the states entered, as seen by a state-change hook."""
        return [call.state.name for call in self.called(hook)]

    def assert_called(self, name: str, times: int | None = None) -> list[HookCall]:
        """Assert that hook ``name`` was called (exactly ``times`` times, if given); returns the calls."""
        calls = self.called(name)
        if times is None:
            assert calls, f"{name} was never called; calls were: {self.names()}"
        else:
            assert len(calls) == times, (
                f"{name} was called {len(calls)} times, expected {times}; calls were: {self.names()}"
            )
        return calls

    def assert_order(self, *names: str) -> None:
        """Assert that the hooks ``names`` were called in this order (others may come between)."""
        remaining = iter(self.names())
        for name in names:
            assert any(seen == name for seen in remaining), (
                f"expected the hooks {list(names)} in this order; calls were: {self.names()}"
            )

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    @hookimpl
    def on_flow_run_state_change(
        self, flow: Any, flow_run: FlowRun, old_state: State | None, new_state: State
    ) -> None:
        self._record(
            "on_flow_run_state_change",
            flow=flow,
            flow_run=flow_run,
            old_state=old_state,
            new_state=new_state,
        )

    @hookimpl
    def on_flow_run_running(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_running", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_flow_run_retry(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_retry", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_flow_run_completion(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_completion", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_flow_run_failure(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_failure", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_flow_run_cancellation(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_cancellation", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_flow_run_crashed(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._record("on_flow_run_crashed", flow=flow, flow_run=flow_run, state=state)

    @hookimpl
    def on_task_run_state_change(
        self, task: Any, task_run: TaskRun, old_state: State | None, new_state: State
    ) -> None:
        self._record(
            "on_task_run_state_change",
            task=task,
            task_run=task_run,
            old_state=old_state,
            new_state=new_state,
        )

    @hookimpl
    def on_task_run_running(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_running", task=task, task_run=task_run, state=state)

    @hookimpl
    def on_task_run_retry(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_retry", task=task, task_run=task_run, state=state)

    @hookimpl
    def on_task_run_completion(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_completion", task=task, task_run=task_run, state=state)

    @hookimpl
    def on_task_run_failure(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_failure", task=task, task_run=task_run, state=state)

    @hookimpl
    def on_task_run_cancellation(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_cancellation", task=task, task_run=task_run, state=state)

    @hookimpl
    def on_task_run_crashed(self, task: Any, task_run: TaskRun, state: State) -> None:
        self._record("on_task_run_crashed", task=task, task_run=task_run, state=state)
