"""Utilities by Prefect's import paths: :mod:`flowhook.utilities.annotations`."""
