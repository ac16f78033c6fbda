"""The run context: ``from flowhook.context import get_run_context``."""

from ._engine import RunContext, get_run_context

__all__ = ["RunContext", "get_run_context"]
