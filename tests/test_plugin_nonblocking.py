"""An async run calls on its event loop the plugin hooks that say they never block
(``flowhook_nonblocking``, see ``flowhook._plugins.nonblocking``), and in a worker thread every
other hook, so that a slow one never stalls the loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from flowhook import flow, hookimpl, task
from flowhook.testing import PluginManager
from flowhook_hookspec.errors import PluginError


def running_plugin(threads: list[int], nonblocking: object = None) -> object:
    """A plugin whose task Running hook notes the thread it is called in."""

    class Noting:
        @hookimpl
        def on_task_run_running(self, task_run: Any, state: Any) -> None:
            threads.append(threading.get_ident())

        if nonblocking is not None:
            on_task_run_running.flowhook_nonblocking = nonblocking  # type: ignore[attr-defined]

    return Noting()


@task
async def double(x: int) -> int:
    return 2 * x


@flow
async def doubles() -> tuple[int, list[int]]:
    loop_thread = threading.get_ident()
    return loop_thread, [await double(x) for x in range(3)]


def test_a_hook_that_says_it_never_blocks_is_called_on_the_event_loop(
    plugin_manager: PluginManager,
) -> None:
    threads: list[int] = []
    plugin_manager.register(running_plugin(threads, nonblocking=True), name="quick")

    loop_thread, results = asyncio.run(doubles())

    assert results == [0, 2, 4]
    assert threads == [loop_thread] * 3


@pytest.mark.parametrize("nonblocking", [None, False])
def test_any_other_hook_is_called_in_a_worker_thread(
    plugin_manager: PluginManager, nonblocking: object
) -> None:
    threads: list[int] = []
    plugin_manager.register(running_plugin(threads, nonblocking), name="plain")

    loop_thread, results = asyncio.run(doubles())

    assert results == [0, 2, 4]
    assert len(threads) == 3 and loop_thread not in threads


def test_one_implementation_that_may_block_moves_the_hook_off_the_loop(
    plugin_manager: PluginManager,
) -> None:
    quick: list[int] = []
    plain: list[int] = []
    plugin_manager.register(running_plugin(quick, nonblocking=True), name="quick")
    plugin_manager.register(running_plugin(plain), name="plain")

    loop_thread, _ = asyncio.run(doubles())

    assert len(quick) == len(plain) == 3
    assert loop_thread not in quick + plain


def test_a_nonblocking_flag_that_is_not_a_boolean_is_refused_at_registration(
    plugin_manager: PluginManager,
) -> None:
    with pytest.raises(PluginError) as raised:
        plugin_manager.register(running_plugin([], nonblocking="yes"), name="vague")

    message = str(raised.value)
    assert "'vague'" in message and "'on_task_run_running'" in message
    assert "flowhook_nonblocking of 'yes'" in message and "must be True" in message
