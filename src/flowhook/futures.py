"""Futures of submitted task runs: ``from flowhook.futures import wait, as_completed``."""

from ._engine import DoneAndNotDoneFutures, TaskRunFuture, as_completed, wait

__all__ = ["DoneAndNotDoneFutures", "TaskRunFuture", "as_completed", "wait"]
