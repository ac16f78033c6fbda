from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowhook import ConfigError
from flowhook._config import load_config
from flowhook.notifications import MessageTemplate, compile_rules, matching, snapshot
from flowhook_hookspec.runs import FlowRun
from flowhook_hookspec.states import Completed, Failed, TimedOut

RULE = """
[[notifications]]
on = ["Failed", "CRASHED", "TimedOut"]
flows = ["etl-*"]
tags = ["prod"]
blocks = ["slack-webhook/ops", "email/oncall"]
subject = "{{ flow_run.name }} is {{ state.name }}"

[blocks."slack-webhook/ops"]
url = { env = "SLACK_WEBHOOK_URL" }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def in_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWHOOK_CONFIG", raising=False)
    return tmp_path


def test_no_config_is_fine(in_dir) -> None:
    assert load_config().notifications == ()


def test_flowhook_toml_then_pyproject_then_env(in_dir, monkeypatch) -> None:
    write(
        in_dir,
        "pyproject.toml",
        "[tool.flowhook]\n"
        + RULE.replace("[[notifications]]", "[[tool.flowhook.notifications]]").replace(
            '[blocks."', '[tool.flowhook.blocks."'
        ),
    )
    config = load_config()
    assert config.source.endswith("pyproject.toml [tool.flowhook]")
    assert config.notifications[0].blocks == ("slack-webhook/ops", "email/oncall")
    write(in_dir, "flowhook.toml", RULE)
    assert load_config().source.endswith("flowhook.toml")
    other = write(in_dir, "elsewhere.toml", "")
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(other))
    assert load_config().source == str(other)
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(in_dir / "missing.toml"))
    with pytest.raises(ConfigError, match=r"FLOWHOOK_CONFIG names .*missing\.toml"):
        load_config()


def test_the_nearest_config_up_the_tree_is_found_from_a_subdirectory(in_dir, monkeypatch) -> None:
    project = in_dir / "project"
    deep = project / "jobs" / "nightly"
    deep.mkdir(parents=True)
    write(project, "flowhook.toml", RULE)
    # A pyproject.toml without [tool.flowhook] on the way up is not a config: the search goes on.
    write(project / "jobs", "pyproject.toml", "[tool.ruff]\nline-length = 99\n")
    monkeypatch.chdir(deep)
    assert load_config().source == str(project / "flowhook.toml")
    write(project / "jobs", "pyproject.toml", "[tool.flowhook]\n")
    assert load_config().source == f"{project / 'jobs' / 'pyproject.toml'} [tool.flowhook]"


def test_the_search_stops_at_a_repository_root(in_dir, monkeypatch) -> None:
    write(in_dir, "flowhook.toml", RULE)  # above the repository: another project's
    repository = in_dir / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "src").mkdir()
    monkeypatch.chdir(repository / "src")
    assert load_config().source is None


def test_the_user_wide_config_in_flowhook_home_comes_last(in_dir, monkeypatch) -> None:
    home = in_dir / "home"
    home.mkdir()
    monkeypatch.setenv("FLOWHOOK_HOME", str(home))
    (in_dir / "repo" / ".git").mkdir(parents=True)
    monkeypatch.chdir(in_dir / "repo")
    write(home, "flowhook.toml", RULE)
    assert load_config().source == str(home / "flowhook.toml")
    write(in_dir / "repo", "flowhook.toml", RULE)
    assert load_config().source == str(in_dir / "repo" / "flowhook.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[notifications]]\nonn = ['Failed']\nblocks = ['log/x']\non = ['Failed']\n", "onn"),
        ("[[notifications]]\non = 'Failed'\nblocks = ['log/x']\n", "notifications"),
        ("not toml at all =", "not valid TOML"),
        ("[[notifications]]\non = ['Failed']\n", "blocks"),
    ],
)
def test_structure_errors_name_the_file_and_key(in_dir, text, message) -> None:
    write(in_dir, "flowhook.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config()
    assert "flowhook.toml" in str(info.value)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("on = ['Exploded']\nblocks = ['log/x']", r"unknown state 'Exploded'.*Failed"),
        ("on = ['Failed']\nblocks = ['x']", "type/name"),
        ("on = ['Failed']\nblocks = ['log/missing']", r"unknown block 'log/missing'.*log/x"),
        ("on = ['Failed']\nblocks = ['log/x']\nflows = ['a']\ntasks = ['b']", "not both"),
        (
            "on = ['Failed']\nblocks = ['log/x']\nsubject = '{{ oops'",
            r"notifications\[0\].*subject.*line 1",
        ),
    ],
)
def test_rule_errors_are_clear(in_dir, rule, message) -> None:
    write(in_dir, "flowhook.toml", "[[notifications]]\n" + rule + "\n")
    with pytest.raises(ConfigError, match=message):
        compile_rules(load_config(), known_blocks=["log/x"])


def test_matching_by_name_type_glob_and_tags(in_dir) -> None:
    write(in_dir, "flowhook.toml", RULE)
    rules = compile_rules(load_config())
    assert matching(rules, "flow", "etl-daily", ["prod"], Failed())
    assert matching(rules, "flow", "etl-daily", ["prod", "eu"], TimedOut())
    from flowhook.states import Crashed

    assert matching(rules, "flow", "etl-daily", ["prod"], Crashed())  # by type
    assert not matching(rules, "flow", "etl-daily", ["prod"], Completed())
    assert not matching(rules, "flow", "report", ["prod"], Failed())
    assert not matching(rules, "flow", "etl-daily", ["dev"], Failed())
    assert not matching(rules, "task", "etl-daily", ["prod"], Failed())


def make_run(**kwargs) -> FlowRun:
    import uuid

    return FlowRun(
        id=uuid.uuid4(),
        name="etl-7",
        state=Failed(),
        flow_name="etl",
        parameters={"n": 7},
        **kwargs,
    )


def test_templates_render_a_snapshot_and_fall_back_on_errors() -> None:
    run = make_run(tags=("prod",))
    state = Failed(message="boom", data=ValueError("bad row"))
    context = snapshot("flow", None, run, state)
    template = MessageTemplate("{{ flow_run.name }} is {{ state.name }}", None, "rule")
    message = template.render(context)
    assert message.subject == "etl-7 is Failed"
    assert "ValueError: bad row" in message.body and "boom" in message.body
    broken = MessageTemplate("{{ flow_run.nope.deeper }}", "{{ 1 / 0 }}", "rule")
    fallback = broken.render(context)
    assert fallback.subject == "flow run etl-7 entered Failed"
    assert "template failed" in fallback.body and str(run.id) in fallback.body


def test_templates_are_sandboxed() -> None:
    context = snapshot("flow", None, make_run(), Failed())
    message = MessageTemplate("{{ ''.__class__.__mro__ }}", "x", "rule").render(context)
    assert "template failed" in message.body  # unsafe attribute access is refused


def test_the_default_body_names_the_run_once_and_says_how_to_see_it() -> None:
    from flowhook import flow, task

    contexts = []

    @task(name="load")
    def load() -> None:
        raise ValueError("disk full")

    @flow(name="etl", flow_run_name="nightly")
    def etl() -> None:
        load()

    @load.on_failure
    def seen_task(task, task_run, state):
        from flowhook import get_run_context

        contexts.append(snapshot("task", task, task_run, state, get_run_context().flow_run))

    @etl.on_failure
    def seen_flow(flow, flow_run, state):
        contexts.append(snapshot("flow", flow, flow_run, state))

    etl(return_state=True)
    task_body, flow_body = (MessageTemplate(None, None, "rule").render(c).body for c in contexts)
    task_run, flow_run = (c["run"] for c in contexts)
    assert task_body.count("disk full") == 1 and flow_body.count("disk full") == 1
    assert task_body.startswith(
        f"Task run {task_run['name']} of task load (in flow run nightly of flow etl) entered "
        "Failed at "
    )
    assert task_body.endswith(
        "Task run encountered an exception: ValueError: disk full\n"
        f"Run id: {task_run['id']} (attempt 1)\n"
        f"Details: flowhook runs show {task_run['id']}"
    )
    assert flow_body.startswith("Flow run nightly of flow etl entered Failed at ")
    assert flow_body.endswith(
        f"Run id: {flow_run['id']} (attempt 1)\nDetails: flowhook runs show {flow_run['id']}"
    )
    other = snapshot("flow", None, make_run(), Failed(message="boom", data=ValueError("bad row")))
    assert (
        MessageTemplate(None, None, "rule").render(other).body.count("\nValueError: bad row\n") == 1
    )


def test_the_router_finds_a_states_rules_by_kind_name_and_type_whatever_came_first(
    in_dir,
) -> None:
    from flowhook.notifications import Router
    from flowhook.states import Crashed
    from flowhook_hookspec.states import State, StateType

    write(in_dir, "flowhook.toml", RULE)
    [rule] = compile_rules(load_config())
    router = Router((rule,))
    assert router.candidates("flow", Completed()) == ()
    assert router.candidates("flow", Failed()) == (rule,)
    assert router.candidates("task", Failed()) == ()  # a flow rule
    assert router.candidates("flow", Crashed()) == (rule,)  # by type: CRASHED
    # a custom name is looked up with its type: the same name under another type is another key
    assert router.candidates("flow", State(type=StateType.CRASHED, name="Evicted")) == (rule,)
    assert router.candidates("flow", State(type=StateType.COMPLETED, name="Evicted")) == ()
    assert router.candidates("flow", Failed()) == (rule,)  # asked again: the same answer
