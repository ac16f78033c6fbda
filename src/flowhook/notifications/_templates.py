"""Message templates: Jinja2 in an immutable sandbox, compiled when the config loads.

Templates see a *snapshot* taken when the state was entered (so a message never shows later
data): ``flow``, ``flow_run``, ``task_run`` (task rules), ``state``, ``exception`` and
``duration``. Rendering never raises: a template that fails at render time yields a plain
fallback message that still says what happened.
"""

from __future__ import annotations

import traceback
from typing import Any, Protocol

import attrs
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State

__all__ = ["DEFAULT_BODY", "DEFAULT_SUBJECT", "Message", "MessageTemplate", "snapshot"]

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

DEFAULT_SUBJECT = "{{ run_kind }} run {{ run.name }} entered {{ state.name }}"
#: The failure's text appears once: the state's message, then the exception only when that
#: message does not already quote it (the engine's "Flow run encountered an exception: ..." does).
DEFAULT_BODY = """\
{{ run_kind | capitalize }} run {{ run.name }} of {{ run_kind }} {{ name }}\
{% if run_kind == 'task' and flow_run is defined %} (in flow run {{ flow_run.name }} of flow \
{{ flow.name }}){% endif %} entered {{ state.name }} at {{ state.timestamp }}\
{% if duration is not none %} after {{ '%.1f' | format(duration) }} s{% endif %}.
{% if state.message %}{{ state.message }}
{% endif %}{% if exception %}{% set failure = exception.type ~ ': ' ~ exception.message %}\
{% if failure not in (state.message or '') %}{{ failure }}
{% endif %}{% endif %}Run id: {{ run.id }} (attempt {{ run.run_count }})
Details: flowhook runs show {{ run.id }}"""


@attrs.frozen
class Message:
    """A rendered notification."""

    subject: str
    body: str


class MessageTemplate:
    """A compiled subject and body. ``label`` names the rule in errors."""

    def __init__(self, subject: str | None, body: str | None, label: str) -> None:
        self.label = label
        self.subject_source = subject or DEFAULT_SUBJECT
        self.body_source = body or DEFAULT_BODY
        self._subject = self._compile(self.subject_source, "subject")
        self._body = self._compile(self.body_source, "body")

    def _compile(self, source: str, part: str) -> Any:
        try:
            return _environment.from_string(source)
        except TemplateSyntaxError as exc:
            raise ValueError(
                f"{self.label}: the {part} template has an error on line {exc.lineno}: {exc.message}"
            ) from None

    def render(self, context: dict[str, Any]) -> Message:
        """The message for ``context``; a plain fallback if a template fails."""
        try:
            return Message(self._subject.render(context).strip(), self._body.render(context))
        except (TemplateError, Exception) as exc:
            return fallback_message(context, f"{type(exc).__name__}: {exc}")


def fallback_message(context: dict[str, Any], problem: str) -> Message:
    run = context.get("run") or {}
    state = context.get("state") or {}
    kind = context.get("run_kind", "flow")
    subject = f"{kind} run {run.get('name')} entered {state.get('name')}"
    body = (
        f"{subject} ({state.get('message') or 'no message'}).\n"
        f"Run id: {run.get('id')}.\n"
        f"(The notification template failed, so this plain message was sent instead: {problem})"
    )
    return Message(subject, body)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


class RunOwner(Protocol):
    """The flow or task of a run, as far as a message needs it (the engine's, or the reaper's
    stand-in for one it could not import)."""

    @property
    def name(self) -> str: ...


def snapshot(
    kind: str,
    owner: RunOwner | None,
    run: FlowRun | TaskRun,
    state: State,
    flow_run: FlowRun | None = None,
) -> dict[str, Any]:
    """The template context of one transition, as plain data taken now."""
    exception = state.exception
    run_data = {
        "id": str(run.id),
        "name": run.name,
        "parameters": dict(run.parameters),
        "tags": list(run.tags),
        "run_count": run.run_count,
        "start_time": _iso(run.start_time),
        "end_time": _iso(run.end_time),
    }
    context: dict[str, Any] = {
        "run_kind": kind,
        "name": owner.name if owner is not None else getattr(run, f"{kind}_name", ""),
        "run": run_data,
        "state": {
            "name": state.name,
            "type": state.type.value,
            "message": state.message,
            "timestamp": state.timestamp.isoformat(),
        },
        "exception": None
        if exception is None
        else {
            "type": type(exception).__name__,
            "message": str(exception),
            "traceback": "".join(traceback.format_exception(exception)),
        },
        "duration": run.duration_seconds,
    }
    if kind == "flow":
        context["flow"] = {"name": context["name"], "version": getattr(owner, "version", None)}
        context["flow_run"] = run_data
    else:
        context["task"] = {"name": context["name"]}
        context["task_run"] = run_data
        if flow_run is not None:
            context["flow_run"] = {
                "id": str(flow_run.id),
                "name": flow_run.name,
                "tags": list(flow_run.tags),
            }
            context["flow"] = {"name": flow_run.flow_name}
    return context
