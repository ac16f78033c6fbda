"""The hook specifications: what a flowhook plugin may implement.

A plugin is a module, a class or an instance with functions marked ``@hookimpl`` whose names
are the hooks below. An implementation may accept any subset of a hook's arguments, by name.

Conventions shared by every hook here:

- Hooks are observers. Their return value is ignored, and an exception they raise is logged on
  logger ``flowhook.hooks`` and skipped: it never changes the run's state or result, and the
  other implementations still run. ``FLOWHOOK_STRICT_HOOKS=1`` makes such errors propagate,
  which is what a plugin's own test suite wants.
- Transition hooks run synchronously, in the thread that moves the run, after the run's own
  hooks (``on_failure=[...]`` and friends). Runs move in several threads at once when tasks are
  submitted to a task runner, so an implementation may be called from several threads at once
  and must guard shared state. For one run, hooks always fire in the order of its transitions.
- ``flow``/``task`` is the ``flowhook.Flow``/``flowhook.Task`` being run; ``flow_run`` and
  ``task_run`` are the engine's live :class:`~flowhook_hookspec.runs.FlowRun` and
  :class:`~flowhook_hookspec.runs.TaskRun`, already updated to the new state. Treat all of
  them as read-only.
- New arguments are only ever added with a default, so an implementation written today keeps
  working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from .notify import Notifier
    from .runners import TaskRunner
    from .runs import FlowRun, TaskRun
    from .states import State

__all__ = [
    "ALL_SPECS",
    "PROJECT_NAME",
    "TRANSITION_SPECS",
    "FlowRunSpecs",
    "RegistrationSpecs",
    "TaskRunSpecs",
    "hook_names",
    "hookimpl",
    "hookspec",
]

#: The pluggy project name, and the entry-point group plugins are discovered in.
PROJECT_NAME = "flowhook"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class FlowRunSpecs:
    """Hooks about flow runs."""

    @hookspec
    def on_flow_run_state_change(
        self, flow: Any, flow_run: FlowRun, old_state: State | None, new_state: State
    ) -> None:
        """Called on every transition of every flow run, before the per-state hook.

        ``old_state`` is ``None`` when the run is created (it enters ``Pending``). A run that
        pauses (``Paused``, ``Suspended``: no per-state hook) is seen only here.
        """

    @hookspec
    def on_flow_run_running(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a flow run starts an attempt: ``Running`` on the first, ``Retrying`` after.

        ``flow_run.run_count`` is the number of the attempt, 1 for the first.
        """

    @hookspec
    def on_flow_run_retry(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a failed attempt will be retried: the run entered ``AwaitingRetry``.

        ``state.message`` says why the attempt failed, ``state.exception`` holds the exception
        when there was one, and ``state.scheduled_time`` says when the next attempt starts.
        """

    @hookspec
    def on_flow_run_completion(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a flow run completes. ``state.result()`` is its return value."""

    @hookspec
    def on_flow_run_failure(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a flow run fails for good: ``Failed``, ``TimedOut`` or another FAILED state.

        Never called for a failed attempt that will be retried (see ``on_flow_run_retry``).
        ``state.exception`` is the exception, when the run raised one.
        """

    @hookspec
    def on_flow_run_cancellation(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a flow run enters ``Cancelling``. It then stops and ends ``Cancelled``."""

    @hookspec
    def on_flow_run_crashed(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        """Called when a flow run crashes: it was interrupted from outside its own code.

        ``state.exception`` is the interrupting exception (KeyboardInterrupt, SystemExit) when it
        happened in this process; it is ``None`` when another process found the run's process
        dead.
        """


class TaskRunSpecs:
    """Hooks about task runs. Each mirrors the flow-run hook of the same event."""

    @hookspec
    def on_task_run_state_change(
        self, task: Any, task_run: TaskRun, old_state: State | None, new_state: State
    ) -> None:
        """Called on every transition of every task run, before the per-state hook.

        ``old_state`` is ``None`` when the run is created (it enters ``Pending``).
        """

    @hookspec
    def on_task_run_running(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a task run starts an attempt: ``Running`` on the first, ``Retrying`` after."""

    @hookspec
    def on_task_run_retry(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a failed attempt of a task will be retried (``AwaitingRetry``)."""

    @hookspec
    def on_task_run_completion(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a task run completes. ``state.result()`` is its return value."""

    @hookspec
    def on_task_run_failure(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a task run fails for good (never for an attempt that will be retried)."""

    @hookspec
    def on_task_run_cancellation(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a task run enters ``Cancelling``."""

    @hookspec
    def on_task_run_crashed(self, task: Any, task_run: TaskRun, state: State) -> None:
        """Called when a task run crashes: it was interrupted from outside its own code."""


class RegistrationSpecs:
    """Hooks through which plugins add to flowhook itself."""

    @hookspec
    def register_commands(self, cli: Any) -> None:
        """Add subcommands to the ``flowhook`` command line.

        ``cli`` is the top-level ``click.Group``; call ``cli.add_command(...)`` on it. Called
        once, when the command line starts. A command named like a built-in one (or one another
        plugin added first) is ignored, with a warning: the built-in command is kept.
        """

    @hookspec
    def register_notifiers(self, register: Callable[[type[Notifier]], object]) -> None:
        """Make notifier classes known: call ``register(NotifierClass)`` once for each.

        Each class is a :class:`~flowhook_hookspec.notify.Notifier` subclass with a unique
        ``block_type``. Two plugins registering the same block type is an error naming both.
        """

    @hookspec
    def register_task_runners(
        self, register: Callable[[str, Callable[[], TaskRunner]], object]
    ) -> None:
        """Make task runners known by name: call ``register(name, factory)`` once for each.

        ``factory()`` returns a new :class:`~flowhook_hookspec.runners.TaskRunner`; a flow
        declared with ``task_runner="<name>"`` gets one per flow run. Two plugins registering
        the same name is an error naming both.
        """


#: Every class of hookspecs: the one declaration of the hooks' names and arguments, from which
#: flowhook's plugin manager, typed caller, transition tables and test recorder are made or
#: checked.
ALL_SPECS = (FlowRunSpecs, TaskRunSpecs, RegistrationSpecs)
#: The hooks a transition of each kind of run fires, by the kind's name.
TRANSITION_SPECS = {"flow": FlowRunSpecs, "task": TaskRunSpecs}


def hook_names(*specs: type) -> tuple[str, ...]:
    """The names of the hooks ``specs`` declare (every hook, without ``specs``), in the order
    they are declared."""
    return tuple(
        name
        for spec in specs or ALL_SPECS
        for name, function in vars(spec).items()
        if callable(function) and not name.startswith("_")
    )
