"""Annotations for the arguments of tasks and flows (Prefect's ``prefect.utilities.annotations``).

- ``unmapped(value)``: ``Task.map`` passes ``value`` whole to every run.
- ``allow_failure(future)``: the task runs even if that upstream run failed, and receives its
  exception as the value.
- ``quote(value)``: the value is passed on as it is, without looking inside it for futures.
- ``opaque(future)``: the task receives the future's result, not looked into for futures.

The task receives the wrapped value, never the annotation.
"""

from .._engine import BaseAnnotation, allow_failure, opaque, quote, unmapped

__all__ = ["BaseAnnotation", "allow_failure", "opaque", "quote", "unmapped"]
