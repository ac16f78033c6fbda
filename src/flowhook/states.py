"""State constructors and the ``State`` class, re-exported from the contract.

from flowhook.states import Completed, Failed, Cancelled
"""

from flowhook_hookspec.states import (
    FINAL_TYPES,
    LEGAL_TRANSITIONS,
    STATE_NAMES,
    AwaitingRetry,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Late,
    Paused,
    PauseDetails,
    Pending,
    Retrying,
    Running,
    Scheduled,
    State,
    StateType,
    Suspended,
    TimedOut,
    UpstreamFailed,
    is_legal_transition,
)

__all__ = [
    "FINAL_TYPES",
    "LEGAL_TRANSITIONS",
    "STATE_NAMES",
    "AwaitingRetry",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Late",
    "PauseDetails",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "Suspended",
    "TimedOut",
    "UpstreamFailed",
    "is_legal_transition",
]
