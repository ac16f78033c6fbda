"""The one way to call a plugin hook: :class:`PluginHooks`, a typed method per hookspec.

Nothing in flowhook calls ``pluggy``'s ``pm.hook.<name>(...)``: the engine, the reaper and the
command line call these methods, so that every call of a hook can be found by its name, its
arguments are checked by mypy, and every implementation is called in isolation
(:func:`~flowhook._plugins.isolation.call_isolated`). Each method calls every implementation and
returns the exception its caller must re-raise once all have run (KeyboardInterrupt, or any
error under ``FLOWHOOK_STRICT_HOOKS``), or ``None``. A plugin's ``SystemExit`` is logged like any
other error: a plugin never ends the process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .isolation import call_isolated

if TYPE_CHECKING:
    from collections.abc import Callable

    from flowhook_hookspec.runs import FlowRun, TaskRun
    from flowhook_hookspec.states import State

    from .manager import PluginManager
    from .records import HookCaller

__all__ = ["PluginHooks"]

logger = logging.getLogger("flowhook.plugins")

Pending = BaseException | None


class PluginHooks:
    """The hooks of one :class:`~flowhook._plugins.manager.PluginManager`, one method each."""

    __slots__ = ("_manager",)

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager

    # -- flow runs ---------------------------------------------------------------------------

    def on_flow_run_state_change(
        self, flow: Any, flow_run: FlowRun, old_state: State | None, new_state: State
    ) -> Pending:
        if not self._manager.callers("on_flow_run_state_change"):
            return None
        return self._manager.dispatch(
            "on_flow_run_state_change",
            {"flow": flow, "flow_run": flow_run, "old_state": old_state, "new_state": new_state},
        )

    def on_flow_run_running(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_running", flow, flow_run, state)

    def on_flow_run_retry(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_retry", flow, flow_run, state)

    def on_flow_run_completion(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_completion", flow, flow_run, state)

    def on_flow_run_failure(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_failure", flow, flow_run, state)

    def on_flow_run_cancellation(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_cancellation", flow, flow_run, state)

    def on_flow_run_crashed(self, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        return self._flow("on_flow_run_crashed", flow, flow_run, state)

    # -- task runs ---------------------------------------------------------------------------

    def on_task_run_state_change(
        self, task: Any, task_run: TaskRun, old_state: State | None, new_state: State
    ) -> Pending:
        if not self._manager.callers("on_task_run_state_change"):
            return None
        return self._manager.dispatch(
            "on_task_run_state_change",
            {"task": task, "task_run": task_run, "old_state": old_state, "new_state": new_state},
        )

    def on_task_run_running(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_running", task, task_run, state)

    def on_task_run_retry(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_retry", task, task_run, state)

    def on_task_run_completion(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_completion", task, task_run, state)

    def on_task_run_failure(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_failure", task, task_run, state)

    def on_task_run_cancellation(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_cancellation", task, task_run, state)

    def on_task_run_crashed(self, task: Any, task_run: TaskRun, state: State) -> Pending:
        return self._task("on_task_run_crashed", task, task_run, state)

    # -- registration ------------------------------------------------------------------------

    def register_commands(self, cli: Any) -> Pending:
        """Let each plugin add its commands to ``cli`` (a click group), one plugin after another.

        A plugin adds commands; it never replaces one that is already there (a built-in
        command, or an earlier plugin's): a command it replaced or removed is put back, and the
        conflict is logged on ``flowhook.plugins``, so that the built-in command always wins.
        """
        pending: Pending = None
        for caller in self._manager.callers("register_commands"):
            before = dict(cli.commands)
            error = call_isolated(
                caller.function, [cli for _ in caller.argnames], caller.label, exit_is_error=True
            )
            for name, command in before.items():
                if cli.commands.get(name) is not command:
                    cli.commands[name] = command
                    logger.warning(
                        "plugin %r tried to replace the command %r, which flowhook (or a plugin "
                        "loaded before it) already has; that one is kept: give the plugin's "
                        "command another name",
                        caller.plugin_name,
                        name,
                    )
            if pending is None:
                pending = error
        return pending

    def register_notifiers(self) -> tuple[dict[str, list[object]], Pending]:
        """What each plugin registered, by plugin name, and the exception to re-raise.

        Each implementation registers into a list of its own: one that raises is logged and
        registers nothing, and the other plugins' notifier types are kept.
        """
        registered: dict[str, list[object]] = {}
        pending: Pending = None
        for caller in self._manager.callers("register_notifiers"):
            found, error = _registered_by(caller)
            if found is not None:
                registered[caller.plugin_name] = found
            if pending is None:
                pending = error
        return registered, pending

    def register_task_runners(self) -> tuple[dict[str, list[tuple[str, Any]]], Pending]:
        """The ``(name, factory)`` pairs each plugin registered, by plugin name, and the
        exception to re-raise; isolated per plugin like :meth:`register_notifiers`."""
        registered: dict[str, list[tuple[str, Any]]] = {}
        pending: Pending = None
        for caller in self._manager.callers("register_task_runners"):
            found, error = _registered_by(caller, _pair)
            if found is not None:
                registered[caller.plugin_name] = found  # type: ignore[assignment]
            if pending is None:
                pending = error
        return registered, pending

    # A plugin that implements some hooks costs nothing on the others: a hook nobody
    # implements returns before its arguments are even gathered.

    def _flow(self, hook: str, flow: Any, flow_run: FlowRun, state: State) -> Pending:
        if not self._manager.callers(hook):
            return None
        return self._manager.dispatch(hook, {"flow": flow, "flow_run": flow_run, "state": state})

    def _task(self, hook: str, task: Any, task_run: TaskRun, state: State) -> Pending:
        if not self._manager.callers(hook):
            return None
        return self._manager.dispatch(hook, {"task": task, "task_run": task_run, "state": state})


def _one(item: object) -> object:
    return item


def _pair(name: str, factory: object) -> tuple[str, object]:
    return name, factory


def _registered_by(
    caller: HookCaller, pack: Callable[..., object] = _one
) -> tuple[list[object] | None, Pending]:
    """What one registration hook's implementation registered (None when it raised).

    Each call of the ``register`` it is handed adds ``pack(*arguments)`` to the list.
    """
    found: list[object] = []
    finished = False

    def register(*arguments: object) -> None:
        found.append(pack(*arguments))

    def run() -> None:
        nonlocal finished
        caller.function(*[register for _ in caller.argnames])
        finished = True

    error = call_isolated(run, (), caller.label, exit_is_error=True)
    return (found if finished else None), error
