"""Plugins: every hookspec fires as specified, discovery, isolation, validation, disabling."""

from __future__ import annotations

import importlib
import logging
import re

import pytest
from environments import fake_distribution

import flowhook
from flowhook import PluginError, flow, hookimpl, task
from flowhook._plugins import set_plugin_manager
from flowhook.states import Cancelled
from flowhook.testing import PluginManager


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Install fake distributions in a directory on sys.path; returns a function that adds one."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        fake_distribution(tmp_path, name, entry_points, modules)

    return install


@pytest.fixture
def entrypoint_manager():
    manager = PluginManager(load_entrypoints=True)
    previous = set_plugin_manager(manager)
    yield manager
    set_plugin_manager(previous)


GOOD_PLUGIN = """
    from flowhook import hookimpl
    seen = []

    @hookimpl
    def on_flow_run_state_change(flow_run, new_state):
        seen.append(new_state.name)
"""


# -- every hookspec fires exactly when specified ------------------------------------------------


def test_hook_on_flow_run_state_change_sees_every_transition(recorder) -> None:
    flow(lambda: 1)()
    calls = recorder.called("on_flow_run_state_change")
    assert [
        (c.kwargs["old_state"] and c.kwargs["old_state"].name, c.state.name) for c in calls
    ] == [
        (None, "Pending"),
        ("Pending", "Running"),
        ("Running", "Completed"),
    ]
    assert calls[0].kwargs["flow_run"] is calls[-1].kwargs["flow_run"]


def test_hook_on_task_run_state_change_sees_every_transition(recorder) -> None:
    task(lambda: 1)()
    assert recorder.state_names("on_task_run_state_change") == ["Pending", "Running", "Completed"]
    assert recorder.called("on_task_run_state_change")[0].kwargs["old_state"] is None


def test_state_change_comes_before_the_per_state_hook_and_after_run_hooks(recorder) -> None:
    order = []
    f = flow(on_completion=[lambda *a: order.append(len(recorder.calls))])(lambda: 1)
    f()
    names = recorder.names(prefix="on_flow_run")
    assert names[-2:] == ["on_flow_run_state_change", "on_flow_run_completion"]
    # the run's own hook ran when the recorder had not yet seen the Completed transition
    assert order == [names.index("on_flow_run_state_change", 2)]


@pytest.mark.parametrize("kind", ["flow", "task"])
def test_hook_per_state_hooks_fire_once_each_with_arguments(recorder, kind) -> None:
    decorator = flow if kind == "flow" else task
    attempts = []

    def body() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first")
        return 7

    decorator(retries=1)(body)()
    prefix = f"on_{kind}_run_"
    assert [n for n in recorder.names(prefix=prefix) if not n.endswith("state_change")] == [
        f"{prefix}running",
        f"{prefix}retry",
        f"{prefix}running",
        f"{prefix}completion",
    ]
    completion = recorder.called(f"{prefix}completion")[0]
    assert set(completion.kwargs) == {kind, f"{kind}_run", "state"}
    assert completion.kwargs[f"{kind}_run"].run_count == 2 and completion.state.result() == 7


@pytest.mark.parametrize("kind", ["flow", "task"])
def test_hook_failure_fires_only_on_the_final_failure(recorder, kind) -> None:
    decorator = flow if kind == "flow" else task

    def boom() -> None:
        raise ValueError("x")

    decorator(retries=2)(boom)(return_state=True)
    assert len(recorder.called(f"on_{kind}_run_failure")) == 1
    assert len(recorder.called(f"on_{kind}_run_retry")) == 2
    assert recorder.called(f"on_{kind}_run_failure")[0].kwargs[f"{kind}_run"].run_count == 3
    assert recorder.called(f"on_{kind}_run_completion") == []


@pytest.mark.parametrize("kind", ["flow", "task"])
def test_hook_cancellation_fires_on_cancelling_only(recorder, kind) -> None:
    decorator = flow if kind == "flow" else task
    decorator(lambda: Cancelled())(return_state=True)
    cancellations = recorder.called(f"on_{kind}_run_cancellation")
    assert [c.state.name for c in cancellations] == ["Cancelling"]
    assert recorder.called(f"on_{kind}_run_failure") == []
    flow(lambda: 1)()
    assert len(recorder.called(f"on_{kind}_run_cancellation")) == 1


def test_hook_crashed_fires_for_task_and_flow(recorder) -> None:
    @task
    def t() -> None:
        raise KeyboardInterrupt

    @flow
    def f() -> None:
        t()

    with pytest.raises(KeyboardInterrupt):
        f()
    assert [c.state.name for c in recorder.called("on_task_run_crashed")] == ["Crashed"]
    assert [c.state.name for c in recorder.called("on_flow_run_crashed")] == ["Crashed"]
    assert len(recorder.called("on_task_run_running")) == 1
    assert (
        recorder.called("on_flow_run_failure") == []
        and recorder.called("on_task_run_failure") == []
    )


def test_hook_running_fires_each_attempt_and_not_on_pending(recorder) -> None:
    def boom() -> None:
        raise ValueError

    task(retries=1)(boom)(return_state=True)
    assert [c.state.name for c in recorder.called("on_task_run_running")] == ["Running", "Retrying"]
    assert recorder.called("on_flow_run_running") == []


def test_hook_retry_flow_sees_scheduled_time(recorder) -> None:
    def boom() -> None:
        raise ValueError

    flow(retries=1, retry_delay_seconds=0.01)(boom)(return_state=True)
    retry = recorder.called("on_flow_run_retry")[0].state
    assert retry.name == "AwaitingRetry" and retry.scheduled_time > retry.timestamp


def test_plugins_may_take_a_subset_of_arguments(plugin_manager) -> None:
    seen = []

    class Narrow:
        @hookimpl
        def on_flow_run_completion(self, state):
            seen.append(state.name)

    plugin_manager.register(Narrow())
    flow(lambda: 1)()
    assert seen == ["Completed"]


def test_hook_order_follows_pluggy_tryfirst(plugin_manager) -> None:
    order = []

    class First:
        @hookimpl(tryfirst=True)
        def on_flow_run_completion(self):
            order.append("first")

    class Plain:
        @hookimpl
        def on_flow_run_completion(self):
            order.append("plain")

    plugin_manager.register(First(), "first")
    plugin_manager.register(Plain(), "plain")
    flow(lambda: 1)()
    assert order == ["first", "plain"]


# -- isolation --------------------------------------------------------------------------------


def test_a_plugin_raising_in_a_hook_never_breaks_the_run(plugin_manager, recorder, caplog) -> None:
    class Broken:
        @hookimpl
        def on_flow_run_completion(self, flow_run):
            raise RuntimeError("plugin bug")

    plugin_manager.register(Broken(), name="broken")
    with caplog.at_level(logging.ERROR, logger="flowhook.hooks"):
        assert flow(lambda: 3)() == 3
    assert len(recorder.called("on_flow_run_completion")) == 1
    message = next(r.getMessage() for r in caplog.records if r.name == "flowhook.hooks")
    assert "plugin 'broken'" in message and "on_flow_run_completion" in message
    assert "plugin bug" in message


def test_a_plugin_raising_keyboard_interrupt_lets_others_run_then_propagates(
    plugin_manager, recorder
) -> None:
    class Interrupting:
        @hookimpl(tryfirst=True)
        def on_flow_run_completion(self):
            raise KeyboardInterrupt

    plugin_manager.register(Interrupting(), name="interrupting")
    with pytest.raises(KeyboardInterrupt):
        flow(lambda: 3)()
    assert len(recorder.called("on_flow_run_completion")) == 1
    assert recorder.state_names()[-1] == "Completed"


def test_unknown_hook_name_is_rejected_with_a_suggestion(plugin_manager) -> None:
    class Typo:
        @hookimpl
        def on_flow_run_failed(self, flow_run):
            pass

    with pytest.raises(
        PluginError, match=r"unknown hook 'on_flow_run_failed'; did you mean 'on_flow_run_failure'"
    ):
        plugin_manager.register(Typo(), name="typo")
    assert plugin_manager.list() == []
    flow(lambda: 1)()  # nothing half-registered remains


def test_wrong_arguments_and_wrappers_are_rejected(plugin_manager) -> None:
    class WrongArgs:
        @hookimpl
        def on_flow_run_completion(self, flow_run, nonsense):
            pass

    class Wrapper:
        @hookimpl(wrapper=True)
        def on_flow_run_completion(self):
            yield

    with pytest.raises(PluginError, match="nonsense"):
        plugin_manager.register(WrongArgs())
    with pytest.raises(PluginError, match="wrapper"):
        plugin_manager.register(Wrapper())


def test_register_and_unregister_plugin_public_api() -> None:
    seen = []

    class Audit:
        @hookimpl
        def on_flow_run_completion(self, flow_run):
            seen.append(flow_run.name)

    name = flowhook.register_plugin(Audit(), name="audit")
    assert name == "audit"
    info = {i.name: i for i in flowhook.list_plugins()}["audit"]
    assert info.status == "active" and info.hooks == ("on_flow_run_completion",)
    with pytest.raises(PluginError, match="already registered"):
        flowhook.register_plugin(Audit(), name="audit")
    flow(lambda: 1, flow_run_name="one")()
    flowhook.unregister_plugin("audit")
    flow(lambda: 1, flow_run_name="two")()
    assert seen == ["one"]
    with pytest.raises(KeyError, match="audit"):
        flowhook.unregister_plugin("audit")


def test_registering_a_class_instantiates_it(plugin_manager) -> None:
    seen = []

    class Audit:
        @hookimpl
        def on_flow_run_completion(self):
            seen.append(self)

    plugin_manager.register(Audit, name="cls")
    flow(lambda: 1)()
    assert isinstance(seen[0], Audit)


# -- discovery through entry points -----------------------------------------------------------


def test_entry_points_load_lazily_module_class_and_instance(installed, entrypoint_manager) -> None:
    installed(
        "flowhook-audit",
        {"audit": "audit_mod", "cls": "audit_cls:Audit", "inst": "audit_cls:instance"},
        {
            "audit_mod": GOOD_PLUGIN,
            "audit_cls": """
                from flowhook import hookimpl
                created = []

                class Audit:
                    def __init__(self):
                        created.append(self)

                    @hookimpl
                    def on_flow_run_completion(self, flow_run):
                        created.append(flow_run.name)

                instance = Audit()
            """,
        },
    )
    import sys

    assert "audit_mod" not in sys.modules  # nothing imported before first use
    flow(lambda: 1, flow_run_name="r")()
    import audit_cls
    import audit_mod

    assert audit_mod.seen == ["Pending", "Running", "Completed"]
    assert [c for c in audit_cls.created if isinstance(c, str)] == ["r", "r"]
    infos = {i.name: i for i in entrypoint_manager.list()}
    assert infos["audit"].status == "active" and infos["audit"].version == "1.2.3"
    assert infos["audit"].distribution == "flowhook-audit"
    assert infos["audit"].hooks == ("on_flow_run_state_change",)


def test_a_plugin_failing_to_import_is_reported_and_others_load(
    installed, entrypoint_manager, caplog
) -> None:
    installed("flowhook-good", {"good": "good_mod"}, {"good_mod": GOOD_PLUGIN})
    installed(
        "flowhook-broken",
        {"broken": "broken_mod"},
        {"broken_mod": "raise ImportError('needs libfoo')"},
    )
    with caplog.at_level(logging.WARNING, logger="flowhook.plugins"):
        assert flow(lambda: 1)() == 1
    import good_mod

    assert good_mod.seen[-1] == "Completed"
    infos = {i.name: i for i in entrypoint_manager.list()}
    assert infos["broken"].status == "failed"
    assert "needs libfoo" in infos["broken"].error
    assert "FLOWHOOK_DISABLE_PLUGINS=broken" in infos["broken"].error
    assert any(
        "broken" in r.getMessage() and "needs libfoo" in r.getMessage() for r in caplog.records
    )


def test_an_entry_point_with_an_unknown_hook_is_rejected(installed, entrypoint_manager) -> None:
    installed(
        "flowhook-typo",
        {"typo": "typo_mod"},
        {
            "typo_mod": "from flowhook import hookimpl\n@hookimpl\ndef on_task_run_complete(task_run): pass\n"
        },
    )
    flow(lambda: 1)()
    info = {i.name: i for i in entrypoint_manager.list()}["typo"]
    assert info.status == "rejected"
    assert "did you mean 'on_task_run_completion'" in info.error


@pytest.mark.parametrize("setting", ["noisy", "other, noisy", "all"])
def test_disabled_plugins_are_never_imported(
    installed, entrypoint_manager, monkeypatch, tmp_path, setting
) -> None:
    marker = tmp_path / "imported"
    installed(
        "flowhook-noisy",
        {"noisy": "noisy_mod"},
        {"noisy_mod": f"open({str(marker)!r}, 'w').close()\n"},
    )
    monkeypatch.setenv("FLOWHOOK_DISABLE_PLUGINS", setting)
    flow(lambda: 1)()
    assert not marker.exists()
    info = {i.name: i for i in entrypoint_manager.list()}["noisy"]
    assert info.status == "disabled" and "FLOWHOOK_DISABLE_PLUGINS" in info.error


def test_import_flowhook_loads_no_plugin(installed) -> None:
    import subprocess
    import sys

    code = "import flowhook, sys; print('noisy_mod' in sys.modules, 'importlib.metadata' in sys.modules)"
    installed("flowhook-noisy", {"noisy": "noisy_mod"}, {"noisy_mod": ""})
    env_path = sys.path[0]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
    ).stdout
    assert out.split()[0] == "False"


# -- choosing plugins: FLOWHOOK_LOAD_PLUGINS, FLOWHOOK_DISABLE_PLUGINS --------------------------


def _install_two(installed, tmp_path):
    """Plugins ``pager`` and ``ledger``, each leaving a file when imported (its module's name is
    the test's own: a module imported by an earlier test would not be imported again)."""
    for name in ("pager", "ledger"):
        marker = tmp_path / f"imported-{name}"
        module = re.sub(r"\W", "_", f"{name}_{tmp_path.name}")
        installed(
            f"flowhook-{name}",
            {name: module},
            {module: f"open({str(marker)!r}, 'w').close()\n"},
        )


@pytest.mark.parametrize(
    ("setting", "loaded"),
    [("pager", {"pager"}), ("pager, ledger", {"pager", "ledger"}), ("", set())],
)
def test_load_plugins_is_an_allow_list(
    installed, entrypoint_manager, monkeypatch, tmp_path, setting, loaded
) -> None:
    _install_two(installed, tmp_path)
    monkeypatch.setenv("FLOWHOOK_LOAD_PLUGINS", setting)
    flow(lambda: 1)()
    assert {n for n in ("pager", "ledger") if (tmp_path / f"imported-{n}").exists()} == loaded
    infos = {i.name: i for i in entrypoint_manager.list()}
    for name in {"pager", "ledger"} - loaded:
        assert infos[name].status == "disabled"
        assert infos[name].error == (
            "not in FLOWHOOK_LOAD_PLUGINS; add it to that variable (or unset it) to load it"
        )
    assert all(infos[name].status == "active" for name in loaded)


@pytest.mark.parametrize("variable", ["FLOWHOOK_DISABLE_PLUGINS", "FLOWHOOK_LOAD_PLUGINS"])
def test_a_misspelt_plugin_name_is_warned_about_with_a_suggestion(
    installed, entrypoint_manager, monkeypatch, tmp_path, caplog, variable
) -> None:
    _install_two(installed, tmp_path)
    monkeypatch.setenv(variable, "pagr")
    with caplog.at_level(logging.WARNING, logger="flowhook.plugins"):
        flow(lambda: 1)()
    [warning] = [r.getMessage() for r in caplog.records if r.name == "flowhook.plugins"]
    assert warning.startswith(
        f"{variable} names 'pagr', which is not an installed plugin; did you mean 'pager'? "
        "(installed: "
    )
    assert "ledger, " in warning and "pager" in warning


AUDIT_MODULE = """
    from flowhook import hookimpl
    seen = []

    @hookimpl
    def on_flow_run_completion(flow_run):
        seen.append(flow_run.name)
"""


@pytest.mark.parametrize("first_run", ["before", "after"])
def test_registering_an_installed_module_by_hand_has_one_outcome_whenever_it_is_done(
    installed, entrypoint_manager, first_run
) -> None:
    module = f"audit_hand_{first_run}"
    installed("flowhook-audit", {"audit": module}, {module: AUDIT_MODULE})
    audit_hand = importlib.import_module(module)
    if first_run == "before":
        flow(lambda: 1, flow_run_name="first")()
    assert flowhook.register_plugin(audit_hand, name="audit") == "audit"
    assert flowhook.register_plugin(audit_hand, name="other") == "audit"  # already there: as is
    if first_run == "after":
        flow(lambda: 1, flow_run_name="first")()
    flow(lambda: 1, flow_run_name="second")()
    assert audit_hand.seen == ["first", "second"]  # its hooks run once per transition
    [info] = [i for i in entrypoint_manager.list() if i.name == "audit"]
    assert (info.status, info.distribution) == ("active", "flowhook-audit")


def test_a_name_of_a_disabled_installed_plugin_cannot_be_taken_by_hand(
    installed, entrypoint_manager, monkeypatch
) -> None:
    installed("flowhook-audit", {"audit": "audit_blocked"}, {"audit_blocked": AUDIT_MODULE})
    monkeypatch.setenv("FLOWHOOK_DISABLE_PLUGINS", "audit")

    class Other:
        @hookimpl
        def on_flow_run_completion(self):
            pass

    with pytest.raises(PluginError, match="the name 'audit' belongs to an installed plugin"):
        flowhook.register_plugin(Other(), name="audit")
    assert flowhook.register_plugin(Other(), name="mine") == "mine"
