"""A plugin costs nothing on the transitions it has no work for: a hook implementation's
``flowhook_active`` test (see ``flowhook._plugins.gates``), asked on every transition, and the
engine dispatching a transition only when a plugin implements a hook of that transition."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import flowhook
from flowhook import _engine as engine
from flowhook import flow, hookimpl, task
from flowhook.testing import HookRecorder, PluginManager
from flowhook_hookspec.errors import PluginError


class Switch:
    """A test that answers what it is set to, and counts how often it was asked."""

    def __init__(self, on: bool = False) -> None:
        self.on = on
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.on


def gated_plugin(switch: Any, seen: list[str]) -> object:
    """A plugin whose task state-change hook has ``switch`` as its test."""

    class Gated:
        @hookimpl
        def on_task_run_state_change(self, task_run: Any, old_state: Any, new_state: Any) -> None:
            seen.append(new_state.name)

        on_task_run_state_change.flowhook_active = switch  # type: ignore[attr-defined]

    return Gated()


@task
def one() -> int:
    return 1


def test_an_idle_implementation_is_not_called_until_its_test_says_so(
    plugin_manager: PluginManager,
) -> None:
    switch, seen = Switch(), []
    plugin_manager.register(gated_plugin(switch, seen), name="gated")

    @task
    def turn_on() -> None:
        switch.on = True

    @flow
    def work() -> None:
        one()
        turn_on()  # its own Running is before the switch; its Completed after
        one()

    work()

    assert seen == ["Completed", "Pending", "Running", "Completed"]
    assert switch.asked > 0
    assert "on_task_run_state_change" in plugin_manager.implemented()  # listed all along


def test_an_implementation_turned_idle_stops_being_called(plugin_manager: PluginManager) -> None:
    switch, seen = Switch(on=True), []
    plugin_manager.register(gated_plugin(switch, seen), name="gated")

    one()
    switch.on = False
    one()

    assert seen == ["Pending", "Running", "Completed"]


def test_an_idle_implementation_is_left_out_when_another_plugin_gets_the_hook(
    plugin_manager: PluginManager,
) -> None:
    seen: list[str] = []
    switch = Switch()
    plugin_manager.register(gated_plugin(switch, seen), name="gated")
    recorder = HookRecorder()
    plugin_manager.register(recorder, name="recorder")

    one()
    switch.on = True
    one()

    assert (
        recorder.state_names("on_task_run_state_change") == ["Pending", "Running", "Completed"] * 2
    )
    assert seen == ["Pending", "Running", "Completed"]


def test_each_plugin_is_gated_by_its_own_test(plugin_manager: PluginManager) -> None:
    first_seen: list[str] = []
    second_seen: list[str] = []
    first, second = Switch(on=True), Switch(on=False)
    plugin_manager.register(gated_plugin(first, first_seen), name="first")

    class Second:
        @hookimpl
        def on_task_run_completion(self, task_run: Any, state: Any) -> None:
            second_seen.append(state.name)

        on_task_run_completion.flowhook_active = second  # type: ignore[attr-defined]

    plugin_manager.register(Second(), name="second")

    one()
    first.on, second.on = False, True
    one()

    assert first_seen == ["Pending", "Running", "Completed"]
    assert second_seen == ["Completed"]
    hooks = flowhook._plugins.implemented_hooks()
    assert "on_task_run_completion" in hooks
    assert "on_task_run_state_change" not in hooks


def test_a_test_that_raises_is_logged_once_and_its_hooks_are_called(
    plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise RuntimeError("no answer")

    seen: list[str] = []
    plugin_manager.register(gated_plugin(broken, seen), name="gated")

    with caplog.at_level(logging.ERROR, logger="flowhook.plugins"):
        one()
        one()

    assert seen == ["Pending", "Running", "Completed"] * 2
    errors = [record for record in caplog.records if record.name == "flowhook.plugins"]
    assert len(errors) == 1
    assert "flowhook_active" in errors[0].getMessage()


def test_a_test_that_answers_neither_true_nor_false_is_logged_once_and_its_hooks_are_called(
    plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    plugin_manager.register(gated_plugin(lambda: ["yes"], seen), name="gated")

    with caplog.at_level(logging.ERROR, logger="flowhook.plugins"):
        one()
        one()

    assert seen == ["Pending", "Running", "Completed"] * 2
    [error] = [record for record in caplog.records if record.name == "flowhook.plugins"]
    assert "answered ['yes'], not True or False" in error.getMessage()


def test_a_test_that_cannot_be_called_is_refused_at_registration(
    plugin_manager: PluginManager,
) -> None:
    with pytest.raises(
        PluginError, match="'gated' gives 'on_task_run_state_change' a flowhook_active of True"
    ):
        plugin_manager.register(gated_plugin(True, []), name="gated")
    assert "gated" not in {info.name for info in flowhook.list_plugins()}


def test_a_transition_no_plugin_hook_is_about_is_not_dispatched(
    plugin_manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin with a failure hook only costs nothing on a task run that completes."""
    fired: list[str] = []
    dispatch = engine.transitions._fire_hooks

    def counting(kind: Any, owner: Any, run: Any, old: Any, state: Any) -> Any:
        fired.append(state.name)
        return dispatch(kind, owner, run, old, state)

    monkeypatch.setattr(engine.transitions, "_fire_hooks", counting)
    failures: list[str] = []

    class FailuresOnly:
        @hookimpl
        def on_task_run_failure(self, task_run: Any, state: Any) -> None:
            failures.append(state.name)

    plugin_manager.register(FailuresOnly(), name="failures")

    @task
    def boom() -> None:
        raise ValueError("no")

    one()
    assert boom(return_state=True).is_failed()

    assert fired == ["Failed"]
    assert failures == ["Failed"]


def test_run_kinds_stay_values_with_their_hooks_by_state_type() -> None:
    flow_kind, task_kind = engine.transitions.FLOW, engine.transitions.TASK
    assert {flow_kind, task_kind, engine.transitions.RunKind.of("flow")} == {flow_kind, task_kind}
    for kind in (flow_kind, task_kind):
        by_type = [hooks for _, hooks in kind.by_type.values()]
        assert frozenset().union(*by_type) == kind.plugin_hooks
