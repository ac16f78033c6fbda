"""The two examples of Prefect's state-change-hook documentation, translated to flowhook."""

from __future__ import annotations

from functools import partial

from flowhook import flow, task


def test_flow_on_failure_runs_once_after_the_retry() -> None:
    hook_calls = []

    @flow(retries=1)
    def failing_flow() -> None:
        raise ValueError("oops!")

    @failing_flow.on_failure
    def notify_slack(flow, flow_run, state) -> None:
        hook_calls.append((flow_run.run_count, state.name, state.message))

    state = failing_flow(return_state=True)
    assert state.is_failed()
    assert hook_calls == [(2, "Failed", "Flow run encountered an exception: ValueError: oops!")]


def test_partial_hook_receives_extra_keyword_arguments() -> None:
    data = {}

    def my_hook(task, task_run, state, **kwargs) -> None:
        data.update(state=state, **kwargs)

    @task
    def bad_task() -> None:
        raise Exception("foo")

    @flow
    def ok_with_failure_flow(x: str = "foo", y: int = 42):  # type: ignore[no-untyped-def]
        bad_task_with_a_hook = bad_task.with_options(on_failure=[partial(my_hook, x=x, y=y)])
        return "bar", bad_task_with_a_hook(return_state=True)

    _, task_state = ok_with_failure_flow()
    assert data == {"x": "foo", "y": 42, "state": task_state}
    assert task_state.is_failed()


def test_the_migrated_script_differs_from_prefects_by_the_imports_only() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "prefect.md").read_text()
    section = page.split("## A Prefect script, before and after", 1)[1].split("\n## ", 1)[0]
    prefect = re.search(r"```\{code-block\} python\n(.*?)```", section, re.S)
    flowhook = re.search(r"```python\n(.*?)```", section, re.S)
    assert prefect is not None and flowhook is not None
    assert "from prefect" in prefect.group(1)
    assert prefect.group(1).replace("prefect", "flowhook") == flowhook.group(1)
