"""Exceptions, where Prefect users import them from: ``from flowhook.exceptions import ...``.

``PrefectException`` is :class:`FlowhookError`, the base of every error flowhook raises on
purpose, so ``except PrefectException`` catches them as it catches Prefect's;
``ConfigurationError`` is :class:`ConfigError`.
"""

from __future__ import annotations

from typing import Any

from flowhook_hookspec.errors import (
    CancelledRun,
    ConfigError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    FlowPauseTimeout,
    IllegalTransitionError,
    MappingLengthMismatch,
    MappingMissingIterable,
    MissingContextError,
    NotificationError,
    NotPausedError,
    PluginError,
    RunError,
    SerializationError,
    UnfinishedRun,
    UpstreamTaskError,
)
from flowhook_hookspec.states import State

from ._engine import ParameterBindError, ParameterTypeError
from ._engine.hashing import HashError

__all__ = [
    "Abort",
    "CancelledRun",
    "ConfigError",
    "ConfigurationError",
    "CrashedRun",
    "ExternalSignal",
    "FailedRun",
    "FlowPauseTimeout",
    "FlowhookError",
    "HashError",
    "IllegalTransitionError",
    "MappingLengthMismatch",
    "MappingMissingIterable",
    "MissingContextError",
    "MissingResult",
    "NotPausedError",
    "NotificationError",
    "ObjectNotFound",
    "ParameterBindError",
    "ParameterTypeError",
    "Pause",
    "PluginError",
    "PrefectException",
    "PrefectSignal",
    "RunError",
    "SerializationError",
    "SignatureMismatchError",
    "TerminationSignal",
    "UnfinishedRun",
    "UpstreamTaskError",
]

PrefectException = FlowhookError
ConfigurationError = ConfigError


class MissingResult(FlowhookError):
    """A state's result is not available (it was not kept)."""


class SignatureMismatchError(FlowhookError, TypeError):
    """The parameters given to a function do not match its signature."""

    @classmethod
    def from_bad_params(cls, expected_params: list[str], provided_params: list[str]) -> Any:
        """The error for a function expecting ``expected_params``, given ``provided_params``."""
        return cls(
            f"the function takes the parameters {expected_params}, but was given {provided_params}"
        )


class ObjectNotFound(FlowhookError):
    """An object looked up by name or id does not exist; ``help_message`` says which.

    ``http_exc`` is the underlying error, as in Prefect (where it is the API's 404).
    """

    def __init__(
        self, http_exc: Exception, help_message: str | None = None, *args: Any, **kwargs: Any
    ) -> None:
        self.http_exc = http_exc
        self.help_message = help_message
        super().__init__(help_message, *args, **kwargs)

    def __str__(self) -> str:
        return self.help_message or super().__str__()


class PrefectSignal(BaseException):
    """Base of the signals a run's code must not catch (they derive from BaseException)."""


class Abort(PrefectSignal):
    """The run must stop at once."""


class Pause(PrefectSignal):
    """The flow run is paused; ``state`` is its Paused state."""

    def __init__(self, *args: Any, state: State | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state


class ExternalSignal(BaseException):
    """Base of the signals that come from outside the process."""


class TerminationSignal(ExternalSignal):
    """The process received a termination signal; ``signal`` is its number."""

    def __init__(self, signal: int) -> None:
        super().__init__(signal)
        self.signal = signal
