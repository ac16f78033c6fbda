"""The options of ``@flow``, ``@task`` and ``with_options``, as typed dicts for type checkers.

A module of its own that the engine imports only under ``TYPE_CHECKING``: building typed dicts
compiles each field's annotation, a cost ``import flowhook`` need not pay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from datetime import timedelta

    from flowhook_hookspec.runners import TaskRunner

    from .caching import CachePolicy
    from .retries import RetryDelay
    from .runnables import StateHook

__all__ = ["CommonOptions", "FlowOptions", "TaskOptions"]


class CommonOptions(TypedDict, total=False):
    """Options that flows and tasks both take (see the user guide for each)."""

    name: str
    description: str | None
    version: str | None
    tags: Iterable[str]
    retries: int
    retry_delay_seconds: RetryDelay
    timeout_seconds: float | None
    validate_parameters: bool
    log_prints: bool | None
    on_running: list[StateHook]
    on_retry: list[StateHook]
    on_completion: list[StateHook]
    on_failure: list[StateHook]
    on_cancellation: list[StateHook]
    on_crashed: list[StateHook]


class FlowOptions(CommonOptions, total=False):
    """Options of ``@flow`` and ``Flow.with_options``."""

    flow_run_name: str | Callable[..., str] | None
    task_runner: TaskRunner | str | None
    persist_result: bool | None
    result_storage: Any
    result_serializer: Any
    cache_result_in_memory: bool


class TaskOptions(CommonOptions, total=False):
    """Options of ``@task`` and ``Task.with_options``."""

    task_run_name: str | Callable[..., str] | None
    retry_jitter_factor: float
    retry_condition_fn: Callable[..., Any] | None
    on_commit: list[Callable[..., Any]]
    on_rollback: list[Callable[..., Any]]
    persist_result: bool | None
    result_storage: Any
    result_serializer: Any
    result_storage_key: str | None
    cache_policy: CachePolicy | type[CachePolicy] | None
    cache_key_fn: Callable[..., str | None] | None
    cache_expiration: timedelta | float | None
    refresh_cache: bool | None
    cache_result_in_memory: bool
