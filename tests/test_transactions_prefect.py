"""Transactions as Prefect 3 runs them (issue 24, item 2); the API is in test_transactions_api.py.

Each test states Prefect's behaviour and where its source says so (``PrefectHQ/prefect`` at
commit ce79dd3d6c; the line numbers refer to it).
"""

from __future__ import annotations

import asyncio

import pytest

from flowhook import flow, task
from flowhook.transactions import (
    CommitMode,
    IsolationLevel,
    atransaction,
    transaction,
)


def recording_task(name: str, log: list[str], *, fails: int = 0, retries: int = 0):  # type: ignore[no-untyped-def]
    """A task named ``name`` whose first ``fails`` attempts raise, and whose transaction hooks
    append "commit <name>" / "rollback <name>" to ``log``."""
    attempts = []

    def body() -> str:
        attempts.append(1)
        if len(attempts) <= fails:
            raise RuntimeError(f"{name} attempt {len(attempts)} failed")
        return name

    body.__name__ = name
    t = task(body, retries=retries)
    t.on_commit(lambda txn: log.append(f"commit {name}"))
    t.on_rollback(lambda txn: log.append(f"rollback {name}"))
    return t


# -- a failed attempt rolls the enclosing transaction back --------------------------------------


def test_a_failed_attempt_rolls_back_the_transaction_even_when_a_retry_succeeds() -> None:
    """Prefect opens a transaction per attempt (task_engine.py:1676-1683, ``run_task_sync``:
    ``transaction_context()`` inside the retry loop); an attempt that raises rolls it back
    (transactions.py:276-279) and so its parent (transactions.py:331-333, ``reset``). The docs
    say so: "This transaction fails before it can be staged, causing a rollback in its parent
    transaction" (docs/v3/advanced/transactions.mdx:109-111)."""
    log: list[str] = []
    first = recording_task("first", log)
    flaky = recording_task("flaky", log, fails=1, retries=1)
    outcome = {}

    @flow
    def f() -> str:
        with transaction() as txn:
            first()
            assert log == []
            state = flaky(return_state=True)
            assert log[0] == "rollback first"  # at the failed attempt, before the retry ended
        outcome.update(txn=txn, state=state)
        return "done"

    assert f() == "done"
    assert outcome["state"].is_completed()
    assert outcome["txn"].is_rolled_back() and not outcome["txn"].is_committed()
    # The retry's work joined a transaction rolled back already: flowhook rolls it back too
    # (Prefect leaves it staged: neither its commit nor its rollback hooks ever run).
    assert log == ["rollback first", "rollback flaky"]


@pytest.mark.parametrize("call", ["return_state", "submit"])
def test_a_failed_task_rolls_back_the_transaction_without_raising_through_it(call) -> None:
    """The rollback comes from the task's transaction (transactions.py:276-279 and 331-333),
    not from the exception reaching the block: a task called with ``return_state=True`` or
    submitted, whose failure the flow never raises, rolls the transaction back all the same
    (test_task_engine.py:3324, ``test_rollback_errors_are_logged``; test_flows.py:5735)."""
    log: list[str] = []
    first = recording_task("first", log)
    broken = recording_task("broken", log, fails=1)
    seen = {}

    @flow
    def f() -> None:
        with transaction() as txn:
            first()
            if call == "submit":
                future = broken.submit()
                future.wait()
                seen["state"] = future.state
            else:
                seen["state"] = broken(return_state=True)
        seen["txn"] = txn

    assert f(return_state=True).is_completed()
    assert seen["state"].is_failed() and seen["txn"].is_rolled_back()
    assert log == ["rollback first"]  # the failed task staged nothing: no hook of its own


def test_a_keyed_transaction_with_a_failed_attempt_writes_no_record(tmp_path) -> None:
    """A rolled-back transaction never commits (transactions.py:336-345: ``commit`` returns at
    once on ROLLED_BACK), so its key has no record and the next run does the work again."""
    log: list[str] = []
    flaky = recording_task("flaky", log, fails=1, retries=1)
    work: list[str] = []

    @flow
    def f() -> None:
        with transaction(key="daily", store=tmp_path) as txn:
            if txn.is_committed():
                return
            work.append("ran")
            flaky()

    f()
    assert not (tmp_path / "daily").exists()
    f()  # the work is done again; this time no attempt fails and the key is committed
    f()
    assert work == ["ran", "ran"]
    assert (tmp_path / "daily").is_file()


def test_async_tasks_roll_back_the_transaction_too() -> None:
    """The async engine does the same (task_engine.py:1706-1716, ``run_task_async``)."""
    log: list[str] = []

    @task
    async def first() -> None: ...

    first.on_rollback(lambda txn: log.append("rollback first"))

    @task
    async def broken() -> None:
        raise ValueError("no")

    @flow
    async def f() -> bool:
        async with atransaction() as txn:
            await first()
            await broken(return_state=True)
        return txn.is_rolled_back()

    assert asyncio.run(f()) is True
    assert log == ["rollback first"]


# -- commit modes -------------------------------------------------------------------------------


def test_a_parent_commits_its_off_children() -> None:
    """``commit`` commits every child, whatever its mode (transactions.py:347-352); an OFF
    transaction inside another hands itself over (transactions.py:284-287)."""
    log: list[str] = []
    a = recording_task("a", log)

    with transaction() as outer:
        with transaction(commit_mode=CommitMode.OFF) as off:
            a()
        assert log == [] and not off.is_committed()
    assert log == ["commit a"]
    assert off.is_committed() and outer.is_committed()


def test_a_top_level_off_transaction_rolls_back_at_the_end_of_its_block() -> None:
    """ "if no one took responsibility to commit, rolling back" (transactions.py:289-292;
    test_transactions.py:266, ``test_txns_commit_off_rolls_back_on_exit``). The task runs
    inside inherit OFF (transactions.py:194-195) and roll back with it."""
    log: list[str] = []
    a = recording_task("a", log)

    with transaction(commit_mode=CommitMode.OFF) as txn:
        txn.stage("value", on_rollback_hooks=[lambda t: log.append("rollback block")])
        a()
    assert txn.is_rolled_back() and not txn.is_committed()
    assert log == ["rollback block", "rollback a"]

    with transaction(commit_mode=CommitMode.OFF) as committed:
        committed.commit()  # test_transactions.py:272: a committed one stays committed
    assert committed.is_committed() and not committed.is_rolled_back()


def test_children_inherit_commit_mode_and_isolation_level(tmp_path) -> None:
    """``prepare_transaction`` (transactions.py:193-200): what a transaction is not given is its
    parent's, else LAZY and READ_COMMITTED (test_transactions.py:1044-1061)."""
    with transaction(key="plain") as plain:
        assert plain.commit_mode is CommitMode.LAZY
        assert plain.isolation_level is IsolationLevel.READ_COMMITTED
    with (
        transaction(key="top", store=tmp_path, isolation_level=IsolationLevel.SERIALIZABLE) as top,
        transaction(key="nested", commit_mode=CommitMode.EAGER) as nested,
        transaction() as inner,  # no key: inherits SERIALIZABLE, and has nothing to lock
    ):
        assert nested.isolation_level is top.isolation_level is IsolationLevel.SERIALIZABLE
        assert inner.isolation_level is IsolationLevel.SERIALIZABLE
        assert inner.commit_mode is CommitMode.EAGER
    assert nested.is_committed() and (tmp_path / "nested").is_file()


# -- rollbacks propagate up ---------------------------------------------------------------------


def test_a_child_that_ends_rolled_back_rolls_its_parent_back() -> None:
    """``reset`` rolls the parent back when the child ended rolled back (transactions.py:331-333;
    test_transactions.py:388, ``test_rollback_flag_propagates_up``), even when the child's
    exception was caught in between (test_transactions.py:151)."""
    with transaction(key="outer") as outer, transaction(key="inner") as inner:
        with transaction(key="nested") as nested:
            nested.rollback()
        assert inner.is_rolled_back()
    assert outer.is_rolled_back()

    parents = []
    with transaction() as top:
        with transaction(key="done") as done:
            done.stage("v", on_rollback_hooks=[lambda t: parents.append(t.get_parent())])
        try:
            with transaction(key="trouble"):
                raise ValueError("caught")
        except ValueError:
            pass
    assert parents == [top] and top.is_rolled_back()


# -- a failing commit hook (flowhook keeps its own rule; docs/prefect.md says why) --------------


def test_a_commit_hook_failing_where_the_task_commits_alone_is_logged(caplog) -> None:
    """A task's own transaction commits when the task ends (outside any transaction): as in
    Prefect, the error is logged ("An error was encountered while running commit hook",
    transactions.py:406-411), the run stays Completed, nothing is raised, and a task without
    rollback hooks logs no rollback (test_tasks.py:6094)."""

    @task(persist_result=True)
    def my_task() -> int:
        return 1

    @my_task.on_commit
    def commit(txn) -> None:
        raise RuntimeError("whoops!")

    state = my_task(return_state=True)
    assert state.is_completed() and state.result() == 1
    assert "An error was encountered while running commit hook 'commit'" in caplog.text
    assert "RuntimeError: whoops!" in caplog.text
    assert "Running rollback hook" not in caplog.text


def test_a_commit_hook_failing_in_a_block_rolls_back_everything_and_raises() -> None:
    """Prefect would roll back that task's transaction alone and commit the rest, the block's
    key included, raising nothing (transactions.py:347-391: the child's ``commit`` catches its
    hook's error). flowhook undoes the whole transaction and raises from the block, so that a
    key is never committed with part of its work undone (docs/prefect.md)."""
    log: list[str] = []
    a = recording_task("a", log)

    @task
    def b() -> None: ...

    @b.on_commit
    def publish(txn) -> None:
        raise ConnectionError("bus down")

    with pytest.raises(ConnectionError), transaction() as txn:
        a()
        b()
    assert txn.is_rolled_back()
    assert log == ["commit a", "rollback a"]


def test_a_commit_hook_failing_in_an_eager_transaction_rolls_its_parents_back(caplog) -> None:
    """In EAGER mode a task run's transaction commits when the task ends: as in Prefect, the
    failed commit is logged, that transaction rolls back, and so do its parents
    (transactions.py:281-287 and 331-333); what committed already stays so; nothing raised."""
    log: list[str] = []
    a = recording_task("a", log)

    @task
    def b() -> None: ...

    b.on_rollback(lambda txn: log.append("rollback b"))

    @b.on_commit
    def publish(txn) -> None:
        raise ConnectionError("bus down")

    with transaction() as outer, transaction(commit_mode=CommitMode.EAGER) as eager:
        a()
        b()
    assert log == ["commit a", "rollback b"]
    assert eager.is_rolled_back() and outer.is_rolled_back()
    assert "An error was encountered while committing transaction None" in caplog.text


def test_a_task_whose_nested_task_failed_still_stages_and_commits(tmp_path) -> None:
    """The nested task's failed attempt rolls back the transaction of the task that called it
    (transactions.py:331-333), but that task, completing, stages again: ``stage`` refuses only
    a committed transaction (transactions.py:243-247). So its result is still kept."""
    calls: list[str] = []

    @task
    def inner() -> None:
        raise ValueError("handled by the caller")

    @task(cache_key_fn=lambda context, parameters: "outer", result_storage=tmp_path)
    def outer() -> str:
        calls.append("outer")
        return inner(return_state=True).name

    assert outer() == "Failed"
    assert outer(return_state=True).name == "Cached"
    assert calls == ["outer"]


def test_a_result_the_serializer_cannot_take_rolls_back_that_task_alone(tmp_path, caplog) -> None:
    """A serialization error while committing is a warning; that transaction rolls back, the
    others commit, nothing is raised (transactions.py:376-383)."""
    log: list[str] = []
    a = recording_task("a", log)

    @task(cache_key_fn=lambda c, p: "set", result_storage=tmp_path, result_serializer="json")
    def as_set() -> set[int]:
        return {1}

    as_set.on_rollback(lambda txn: log.append("rollback as_set"))

    with transaction() as txn:
        a()
        as_set()
    assert txn.is_committed()
    assert log == ["commit a", "rollback as_set"]
    assert "Encountered an error while serializing result for transaction 'set'" in caplog.text
    assert not (tmp_path / "set").exists()
