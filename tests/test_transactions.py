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


# -- Prefect's transaction API (issue 14, item 8) ---------------------------------------------

from flowhook.transactions import (  # noqa: E402 - the import path Prefect users write
    CommitMode,
    IsolationLevel,
    TransactionState,
    get_transaction,
)
from flowhook.transactions import transaction as prefect_style_transaction  # noqa: E402


def test_the_import_path_is_the_same_transaction() -> None:
    assert prefect_style_transaction is transaction
    assert get_transaction() is None


def test_a_committed_key_is_not_rerun(flowhook_home) -> None:
    work: list[str] = []

    @flow
    def load() -> str:
        with transaction(key="load-2026-12-01") as txn:
            if txn.is_committed():
                return "skipped"
            work.append("loaded")
            txn.stage({"rows": 3})
        return "loaded"

    assert load() == "loaded"
    assert load() == "skipped"
    assert work == ["loaded"]
    assert (flowhook_home / "results" / "load-2026-12-01").is_file()
    with transaction(key="load-2026-12-01") as txn:
        assert txn.is_committed() and txn.read() == {"rows": 3}
    with transaction(key="load-2026-12-01", overwrite=True) as txn:
        assert not txn.is_committed()


def test_a_key_whose_block_raised_is_not_committed(tmp_path) -> None:
    with pytest.raises(RuntimeError), transaction(key="k", store=tmp_path) as txn:
        raise RuntimeError("half done")
    assert txn.is_rolled_back()
    with transaction(key="k", store=tmp_path) as again:
        assert not again.is_committed()


def test_each_task_run_has_its_own_child_transaction() -> None:
    seen: dict[str, object] = {}

    @task
    def t() -> int:
        seen["body"] = get_transaction()
        return 1

    @t.on_commit
    def committed(txn) -> None:
        seen["hook"] = txn
        seen["parent"] = txn.get_parent()
        seen["value"] = txn.get("batch")

    @flow
    def f() -> None:
        with transaction() as outer:
            outer.set("batch", 7)
            seen["outer"] = outer
            t()
            assert get_transaction() is outer

    f()
    assert seen["hook"] is seen["body"]
    assert seen["hook"] is not seen["outer"]
    assert seen["parent"] is seen["outer"]
    assert seen["value"] == 7
    assert seen["hook"].is_committed()


def test_a_rollback_shows_rolled_back_in_the_task_history_without_hooks() -> None:
    completions: list[str] = []
    runs = []

    @task
    def t() -> int:
        return 1

    @t.on_completion
    def done(task, task_run, state) -> None:
        completions.append(state.name)
        runs.append(task_run)

    children = []

    @t.on_rollback
    def undo(txn) -> None:
        children.append(txn)

    @flow
    def f() -> None:
        with transaction():
            t()
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        f()
    assert [s.name for s in runs[0].state_history] == [
        "Pending",
        "Running",
        "Completed",
        "RolledBack",
    ]
    assert runs[0].state_history[-1].is_completed()
    assert completions == ["Completed"]  # a rollback fires no state hook, as in Prefect
    assert children[0].is_rolled_back() and children[0].state is TransactionState.ROLLED_BACK


def test_a_failed_task_is_not_staged_and_a_cached_one_runs_no_commit_hook(tmp_path) -> None:
    log: list[str] = []

    @task(cache_key_fn=lambda c, p: "cached", result_storage=tmp_path)
    def cached() -> int:
        return 1

    @cached.on_commit
    def committed(txn) -> None:
        log.append("commit")

    @task
    def fails() -> None:
        raise ValueError("no")

    @fails.on_rollback
    def never(txn) -> None:
        log.append("rollback of a failed task")

    staged = []

    @flow
    def f() -> None:
        with transaction() as txn:
            cached()
            staged.append([run.task_name for run in txn.staged_task_runs])
        with transaction() as other:
            fails(return_state=True)
            staged.append([run.task_name for run in other.staged_task_runs])

    f()
    f()
    assert staged == [["cached"], [], [], []]
    assert log == ["commit"]  # the second run was Cached: nothing to commit


def test_commit_modes(tmp_path) -> None:
    log: list[str] = []
    a = make_task("a", log)

    @flow
    def eager() -> None:
        with transaction(), transaction(commit_mode=CommitMode.EAGER):
            a()  # its child transaction inherits EAGER: it commits as soon as the task ends
            assert log == ["commit a"]

    eager()
    log.clear()

    @flow
    def off() -> None:
        with transaction(key="off", store=tmp_path, commit_mode=CommitMode.OFF) as txn:
            a()
        assert not txn.is_committed() and txn.is_rolled_back()

    off()
    assert log == ["rollback a"]  # nothing committed the top-level OFF block: it rolled back
    assert not (tmp_path / "off").exists()


def test_a_bad_commit_mode_or_serializable_without_a_key_is_an_error() -> None:
    with pytest.raises(TypeError, match="commit_mode takes a CommitMode"):
        transaction(commit_mode="eager")  # type: ignore[arg-type]
    with (
        pytest.raises(ValueError, match="SERIALIZABLE needs a key"),
        transaction(isolation_level=IsolationLevel.SERIALIZABLE),
    ):
        pass


def test_async_transactions() -> None:
    import asyncio

    log: list[str] = []
    a = make_task("a", log)

    @task
    async def b() -> str:
        log.append(f"b sees its own txn: {get_transaction() is not None}")
        return "b"

    @flow
    async def f() -> None:
        async with transaction() as txn:
            assert get_transaction() is txn
            a()
            await b()
        async with transaction():
            a()
            raise KeyError("abort")

    with pytest.raises(KeyError):
        asyncio.run(f())
    assert log == ["b sees its own txn: True", "commit a", "rollback a"]


SERIAL_WORKER = """
import sys, time
from flowhook.transactions import IsolationLevel, transaction

store, log = sys.argv[1], sys.argv[2]
with transaction(key="once", store=store, isolation_level=IsolationLevel.SERIALIZABLE) as txn:
    if not txn.is_committed():
        with open(log, "a") as f:
            f.write("work\\n")
        time.sleep(0.3)
        txn.stage("done")
"""


@pytest.mark.slow
def test_serializable_lets_one_process_do_the_work_of_a_key(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "worker.py"
    script.write_text(SERIAL_WORKER)
    log = tmp_path / "log"
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "store"), str(log)])
        for _ in range(3)
    ]
    assert [p.wait() for p in procs] == [0, 0, 0]
    assert log.read_text() == "work\n"
