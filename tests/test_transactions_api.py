"""Prefect's transaction API (issue 24, item 1): the low-level calls, ``atransaction`` and
``AsyncTransaction``, and the lines logged about transaction hooks.

Each test cites where Prefect's source says so (``PrefectHQ/prefect`` at commit ce79dd3d6c).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from flowhook import flow, task
from flowhook.transactions import (
    AsyncTransaction,
    BaseTransaction,
    CommitMode,
    Transaction,
    atransaction,
    get_transaction,
    transaction,
)

# -- hook log lines, as Prefect writes them -----------------------------------------------------


def test_hook_lines_are_prefects_and_go_to_the_task_run_logger(caplog) -> None:
    """transactions.py:398-416 (``run_hook``); test_task_engine.py:3324-3398."""

    @task
    def foo() -> None: ...

    @foo.on_commit
    def commit(txn) -> None: ...

    @foo.on_rollback
    def rollback(txn) -> None:
        raise RuntimeError("whoops!")

    @flow
    def txn_flow(fail: bool) -> None:
        with transaction():
            foo()
            if fail:
                raise ValueError("txn failed")

    with caplog.at_level(logging.INFO):
        txn_flow(False)
        txn_flow(True, return_state=True)
    lines = [
        (r.name, r.getMessage().split(" - ", 1)[1])
        for r in caplog.records
        if " hook " in r.getMessage()
    ]
    assert lines == [
        ("flowhook.task_runs", "Running commit hook 'commit'"),
        ("flowhook.task_runs", "Commit hook 'commit' finished running successfully"),
        ("flowhook.task_runs", "Running rollback hook 'rollback'"),
        ("flowhook.task_runs", "An error was encountered while running rollback hook 'rollback'"),
    ]
    assert "RuntimeError: whoops!" in caplog.text


# -- the low-level API ------------------------------------------------------------------------


def test_the_low_level_api(tmp_path) -> None:
    """``stage``, ``add_child``, ``get_parent``, ``is_committed``/``is_rolled_back``, and ``get``
    returning a copy or raising ``ValueError`` for an unknown key (transactions.py:109-169,
    217-247; test_transactions.py:910-975)."""
    log: list[str] = []
    with transaction(key="parent", store=tmp_path) as parent:
        parent.set("rows", [1, 2])
        assert parent.get_parent() is None
        with transaction(key="child") as child:
            assert child.get_parent() is parent
            rows = child.get("rows")
            rows.append(3)  # a copy: the stored value is unchanged
            assert child.get("rows") == [1, 2] and parent.get("rows") == [1, 2]
            child.set("rows", rows)
            assert child.get("rows") == [1, 2, 3] and parent.get("rows") == [1, 2]
            child.stage({"n": 3}, on_commit_hooks=[lambda t: log.append(f"commit {t.key}")])
        with pytest.raises(ValueError, match="unknown key: missing"):
            parent.get("missing")
        assert parent.get("missing", None) is None
        extra = Transaction(key="extra")
        extra.stage("x", on_rollback_hooks=[lambda t: log.append("rollback extra")])
        parent.add_child(extra)
        parent.stage("all", on_commit_hooks=[lambda t: log.append("commit parent")])
    assert log == ["commit child", "commit parent"]
    assert parent.is_committed() and child.is_committed() and extra.is_committed()
    assert not parent.is_rolled_back()
    assert isinstance(parent, BaseTransaction) and get_transaction() is None
    with transaction(key="child", store=tmp_path) as again:
        assert again.is_committed() and again.read() == {"n": 3}


def test_async_transaction_api() -> None:
    """``atransaction``/``AsyncTransaction``: ``async with`` only (transactions.py:646-654),
    awaitable ``commit``/``rollback``, sync and async hooks (test_transactions.py:1184-1228)."""
    log: list[str] = []

    async def async_hook(txn) -> None:  # type: ignore[no-untyped-def]
        log.append(f"async {txn.key}")

    async def main() -> None:
        async with atransaction(key="a") as txn:
            assert get_transaction() is txn and isinstance(txn, AsyncTransaction)
            txn.stage("foo", on_commit_hooks=[lambda t: log.append("sync a"), async_hook])
            async with AsyncTransaction(key="inner") as inner:
                assert inner.get_parent() is txn
        assert txn.is_committed() and inner.is_committed()
        async with AsyncTransaction() as rolled:
            rolled.stage("x", on_rollback_hooks=[async_hook])
            assert await rolled.rollback() is True
        assert rolled.is_rolled_back() and not await rolled.commit()

    asyncio.run(main())
    assert log == ["sync a", "async a", "async None"]
    with pytest.raises(NotImplementedError, match="async with"), AsyncTransaction():
        pass


def test_the_async_transaction_module_loads_when_first_used() -> None:
    """``import flowhook`` (and ``flowhook.transactions``) loads neither the async transaction
    nor the remote runner's attempts (issue 24: new modules load when used)."""
    import subprocess
    import sys

    code = (
        "import sys, flowhook, flowhook.transactions as t; "
        "names = ('flowhook._engine.async_transactions', 'flowhook._engine.remote_attempts'); "
        "print([n in sys.modules for n in names]); t.atransaction; "
        "print('flowhook._engine.async_transactions' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[False, False]", "True"]


def test_hook_lines_go_to_the_logger_given(caplog) -> None:
    """``transaction(logger=...)`` (transactions.py:669 and 697): the block's own hooks log there."""
    chosen = logging.getLogger("my.pipeline")

    def announce(txn) -> None: ...

    with caplog.at_level(logging.INFO), transaction(logger=chosen) as txn:
        txn.stage(None, on_commit_hooks=[announce])
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("my.pipeline", "Running commit hook 'announce'"),
        ("my.pipeline", "Commit hook 'announce' finished running successfully"),
    ]


def test_transaction_and_atransaction_take_prefects_arguments() -> None:
    """Both take Prefect's parameters, as help shows them, and a call that does not fit them is
    refused naming the function called."""
    import inspect

    expected = (
        "(key: 'str | None' = None, store: 'Any' = None, commit_mode: 'CommitMode | None' = None, "
        "isolation_level: 'IsolationLevel | None' = None, overwrite: 'bool' = False, "
        "write_on_commit: 'bool' = True, logger: 'Logger | None' = None, *, "
        "serializer: 'Any' = None)"
    )
    assert str(inspect.signature(transaction)) == f"{expected} -> 'Transaction'"
    assert str(inspect.signature(atransaction)) == f"{expected} -> 'AsyncTransaction'"
    with pytest.raises(TypeError, match=r"^atransaction\(\): .*'kye'"):
        atransaction(kye="a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^transaction\(\): too many positional"):
        transaction("k", None, None, None, False, True, None, None)  # type: ignore[call-arg]
    txn = atransaction("k", overwrite=True, commit_mode=CommitMode.EAGER)
    assert isinstance(txn, AsyncTransaction) and txn.key == "k" and txn.overwrite
    assert txn.commit_mode is CommitMode.EAGER
