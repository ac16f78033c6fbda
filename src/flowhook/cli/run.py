"""``flowhook run FILE.py:FLOW``: run a flow in this process, with its progress on the terminal.

The flow is found by :mod:`.loading`, its parameters checked and converted before the run by the
flow's own validation (:func:`flowhook._runtime.launching.flow_arguments`), and its transitions
watched through :func:`flowhook._runtime.observing.transitions_observed`: counted for the live
display (:mod:`.live`) on a terminal, or written one line each (:mod:`.progress`) otherwise.

Exit status: 0 when the flow run ends Completed; 1 when it ends Failed (TimedOut included),
Crashed, or Cancelled from elsewhere (a hook, ``flowhook runs cancel``); 130 on Ctrl-C (the run
ends Crashed); 143 on SIGTERM (the run ends Cancelled, the engine's own handling); 2 for a bad
command line (no such file, module, flow or parameter, a value that does not convert); 1 when
the user's module raises while it is imported (their traceback is shown).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, redirect_stdout
from typing import Any, Literal

import click

from flowhook_hookspec.errors import FlowhookError
from flowhook_hookspec.run_ids import short_run_id
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State, StateType

from .._config import did_you_mean
from .._runtime.attach import current as current_recorder
from .._runtime.launching import Flow, flow_arguments
from .._runtime.observing import TransitionCallback, transitions_observed
from .errors import BadArgument, one_line
from .interrupts import INTERRUPTED, exit_on_second_interrupt
from .loading import load_flow
from .progress import PlainLines, RunTally, summary_line

__all__ = ["run_command"]

#: Exit status after SIGTERM: 128 + the signal, as a shell reports a process the signal ended.
TERMINATED = 128 + signal.SIGTERM


@click.command("run")
@click.argument("target", metavar="FILE.py:FLOW|MODULE:FLOW")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter of the flow, converted to its annotated type (-p n=3 for n: int). "
    "Repeat for several; overrides --params-json.",
)
@click.option(
    "--params-json",
    metavar="JSON",
    help="The parameters as a JSON object, for structured values: '{\"ids\": [1, 2]}'.",
)
@click.option("--name", "run_name", metavar="RUN_NAME", help="The name of the flow run.")
@click.option(
    "--no-progress",
    is_flag=True,
    help="One line per transition instead of the live display (the default off a terminal).",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    target: str,
    params: tuple[str, ...],
    params_json: str | None,
    run_name: str | None,
    no_progress: bool,
) -> None:
    """Run a flow in this process and show its progress; the exit status is its outcome.

    The flow is given as path/to/file.py:FLOW or package.module:FLOW (FLOW may be left out when
    the module defines one flow); -p NAME=VALUE and --params-json give its parameters. On a
    terminal a live display shows the flow run's state and, per task, how many runs are
    pending, running, completed and failed; elsewhere (or with --no-progress) each transition
    is one line. The exit status is 0 for Completed, 1 for Failed, TimedOut,
    Crashed or Cancelled, 130 after Ctrl-C (the run ends Crashed), 143 after SIGTERM (the run
    ends Cancelled) and 2 for a bad command line.
    """
    given = _given_parameters(params, params_json)
    flow = load_flow(target)
    _check_names(flow, given)
    try:
        args, kwargs = flow_arguments(flow, given)
    except FlowhookError as exc:
        raise BadArgument(str(exc)) from None
    if run_name is not None:
        flow = flow.with_options(flow_run_name=lambda: run_name)
    tally = RunTally()
    status = _run(flow, args, kwargs, tally, no_progress)
    ctx.exit(status)


def _given_parameters(params: tuple[str, ...], params_json: str | None) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if params_json is not None:
        try:
            decoded = json.loads(params_json)
        except ValueError as exc:
            raise BadArgument(f"--params-json is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise BadArgument(
                f"--params-json takes a JSON object of parameters, e.g. '{{\"n\": 3}}', got "
                f"{type(decoded).__name__}"
            )
        given.update(decoded)
    for param in params:
        name, equals, value = param.partition("=")
        name = name.strip()
        if not equals or not name:
            raise BadArgument(f"-p {param!r}: give NAME=VALUE, e.g. -p n=3")
        given[name] = value
    return given


def _check_names(flow: Flow[..., Any], given: Mapping[str, Any]) -> None:
    """One line naming the flow's parameters for a name it does not have or one it needs."""
    parameters = flow.signature.parameters
    names = [
        name
        for name, parameter in parameters.items()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    listed = f"its parameters: {', '.join(names)}" if names else "it takes no parameters"
    if not any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()):
        for name in given:
            if name not in names:
                hint = did_you_mean(name, names)
                raise BadArgument(f"flow {flow.name!r} has no parameter {name!r}; {listed}{hint}")
    for name, parameter in parameters.items():
        required = parameter.default is parameter.empty and name in names
        if required and name not in given:
            raise BadArgument(
                f"flow {flow.name!r} needs the parameter {name!r}: give -p {name}=VALUE; {listed}"
            )


def _run(
    flow: Flow[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    tally: RunTally,
    no_progress: bool,
) -> int:
    """Run ``flow`` under the display; the exit status."""
    stdout = sys.stdout
    display: AbstractContextManager[Any] | None = None
    lines: PlainLines | None = None
    if not no_progress:
        from .live import LiveDisplay, terminal_console  # rich, only for a terminal

        console = terminal_console(stdout)
        if console is not None:
            display = LiveDisplay(tally, console)
    if display is None:
        lines = PlainLines(stdout)
        display = redirect_stdout(lines.standard_output())
    exit_on_second_interrupt()
    observe: TransitionCallback = tally.observe  # the live display only counts
    if lines is not None:
        write = lines.write

        def observe(
            kind: Literal["flow", "task"], run: FlowRun | TaskRun, old: State | None, new: State
        ) -> None:
            if tally.observe(kind, run, old, new):
                write(kind, run, new)

    try:
        with transitions_observed(observe), display:
            state = _call(flow, args, kwargs)
    except KeyboardInterrupt:
        status = INTERRUPTED
    except SystemExit as exc:
        # The engine's after SIGTERM cancelled the run; any other (the flow called sys.exit)
        # crashed it, and a crashed run exits 1.
        cancelled = tally.state is not None and tally.state.type is StateType.CANCELLED
        status = TERMINATED if exc.code == TERMINATED and cancelled else 1
    else:
        status = 0 if state.type is StateType.COMPLETED else 1
    final = summary_line(tally, _details(tally))
    if lines is not None:
        lines.echo(final)
        lines.close()
    else:
        click.echo(final)
    return status


def _call(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> State:
    if flow.is_async:
        state = asyncio.run(flow(*args, **kwargs, return_state=True))
    else:
        state = flow(*args, **kwargs, return_state=True)
    assert isinstance(state, State)
    return state


def _details(tally: RunTally) -> str | None:
    """Where to read more about the run: its history, when the store keeps it."""
    if tally.flow_run is None or current_recorder() is None:
        return None
    return one_line(f"flowhook runs show {short_run_id(tally.flow_run.id)}")
