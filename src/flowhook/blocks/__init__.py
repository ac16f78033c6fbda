"""Blocks, where Prefect users look for them: ``from flowhook.blocks.core import Block``."""
