"""Exceptions shared by the engine and its plugins.

Each name says what went wrong; each message says what to do about it.
"""

from __future__ import annotations


class FlowhookError(Exception):
    """Base class of every error flowhook raises on purpose."""


class RunError(FlowhookError):
    """Base class of the errors that stand for a run's outcome."""


class FailedRun(RunError):
    """A run failed without an exception of its own (it returned a ``Failed`` state)."""


class UpstreamTaskError(FailedRun):
    """A task run never ran: a run it depended on did not complete (its ``UpstreamFailed``
    state carries this error)."""


class SerializationError(FlowhookError, TypeError):
    """A value cannot be serialized by the serializer asked for (a result the serializer
    cannot hold)."""


class MappingLengthMismatch(FlowhookError, ValueError):
    """``Task.map`` was given iterables of different lengths."""


class MappingMissingIterable(FlowhookError, TypeError):
    """``Task.map`` was given an argument it cannot iterate over (and not wrapped in
    ``unmapped``)."""


class CrashedRun(RunError):
    """A run was interrupted from outside its code (KeyboardInterrupt, SystemExit, a dead process).

    When the crash had a cause in this process, it is chained as ``__cause__``.
    """


class CancelledRun(RunError):
    """A run was cancelled before it could finish."""


class NotPausedError(FlowhookError):
    """A flow run that is not paused was asked to resume."""


class FlowPauseTimeout(FlowhookError):
    """A paused flow run was not resumed in time: raised where it paused, and by a resume that
    came too late."""


class UnfinishedRun(RunError):
    """The result of a run that has not reached a final state was asked for."""


class MissingContextError(FlowhookError, RuntimeError):
    """``get_run_context()`` or ``get_run_logger()`` was called outside any flow or task run."""


class IllegalTransitionError(FlowhookError, RuntimeError):
    """The engine tried a state transition the contract does not allow. Always a bug in flowhook."""


class PluginError(FlowhookError):
    """A plugin could not be registered: it failed to import, or its hooks do not match the contract."""


class ConfigError(FlowhookError):
    """Configuration (environment variables, ``flowhook.toml``) is invalid."""


class NotificationError(FlowhookError):
    """A notifier could not deliver a message.

    ``permanent`` says whether trying again can help (an invalid webhook will never work;
    a rate limit or a timeout may pass). ``retry_after`` is the number of seconds the
    service asked us to wait, when it said so.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
