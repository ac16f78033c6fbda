"""Flows, where Prefect users look for them: ``from flowhook.flows import flow, Flow``."""

from ._engine import Flow, flow

__all__ = ["Flow", "flow"]
