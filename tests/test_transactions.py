from __future__ import annotations

import logging

import pytest

from flowhook import flow, task, transaction


def make_task(name: str, log: list[str], *, fail: bool = False, commit_error: bool = False):
    def body() -> str:
        if fail:
            raise RuntimeError(f"{name} failed")
        return name

    body.__name__ = name
    t = task(body)

    @t.on_commit
    def committed(txn) -> None:
        log.append(f"commit {name}")
        if commit_error:
            raise ValueError(f"commit of {name} failed")

    @t.on_rollback
    def rolled_back(txn) -> None:
        log.append(f"rollback {name}")

    return t


def test_commit_hooks_run_in_completion_order_on_normal_exit() -> None:
    log: list[str] = []
    a, b = make_task("a", log), make_task("b", log)

    @flow
    def f() -> None:
        with transaction() as txn:
            a()
            b()
            assert log == []  # nothing runs before the block ends
            assert [r.task_name for r in txn.staged_task_runs] == ["a", "b"]

    f()
    assert log == ["commit a", "commit b"]


def test_rollback_in_reverse_order_when_the_block_raises() -> None:
    log: list[str] = []
    a, b, c = make_task("a", log), make_task("b", log), make_task("c", log, fail=True)

    @flow
    def f() -> None:
        with transaction():
            a()
            b()
            c()

    with pytest.raises(RuntimeError, match="c failed"):
        f()
    assert log == ["rollback b", "rollback a"]  # c never completed: nothing staged for it


def test_commit_error_rolls_back_then_raises_from_the_with_block() -> None:
    log: list[str] = []
    a, b = make_task("a", log), make_task("b", log, commit_error=True)

    @flow
    def f() -> str:
        try:
            with transaction():
                a()
                b()
        except ValueError as exc:
            return str(exc)
        return "no error"

    assert f() == "commit of b failed"
    assert log == ["commit a", "commit b", "rollback b", "rollback a"]


def test_a_failing_rollback_hook_is_logged_and_the_others_still_run(caplog) -> None:
    log: list[str] = []
    a, b = make_task("a", log), make_task("b", log)

    @b.on_rollback
    def broken(txn) -> None:
        raise OSError("cannot undo")

    @flow
    def f() -> None:
        with transaction():
            a()
            b()
            raise KeyError("abort")

    with caplog.at_level(logging.ERROR, logger="flowhook.transactions"), pytest.raises(KeyError):
        f()
    assert log == ["rollback b", "rollback a"]
    assert any("broken" in r.getMessage() for r in caplog.records)


def test_nested_inner_commits_into_outer_and_outer_rollback_undoes_both() -> None:
    log: list[str] = []
    a, b, c = make_task("a", log), make_task("b", log), make_task("c", log)

    @flow
    def f() -> None:
        with transaction():
            a()
            with transaction():
                b()
            assert log == []  # the inner commit only hands its work to the outer
            c()
            raise RuntimeError("outer fails")

    with pytest.raises(RuntimeError):
        f()
    assert log == ["rollback c", "rollback b", "rollback a"]


def test_set_get_shares_values_with_hooks_and_async_hooks_run() -> None:
    seen = []

    @task
    def t() -> None: ...

    @t.on_commit
    async def announce(txn) -> None:
        seen.append((txn.get("batch"), txn.get("missing", "default")))

    @flow
    def f() -> None:
        with transaction() as outer:
            outer.set("batch", 7)
            with transaction():
                t()

    f()
    assert seen == [(7, "default")]


def test_submitted_tasks_stage_into_the_transaction() -> None:
    log: list[str] = []
    a = make_task("a", log)

    @flow
    def f() -> None:
        with transaction():
            a.submit().wait()

    f()
    assert log == ["commit a"]


def test_transaction_hooks_are_validated() -> None:
    with pytest.raises(TypeError, match=r"hook\(txn\)"):
        task(lambda: 1).on_commit(lambda a, b: None)
