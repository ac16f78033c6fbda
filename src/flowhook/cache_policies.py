"""Cache policies, at the import path Prefect users write: ``from flowhook.cache_policies import INPUTS``."""

from ._engine import (
    DEFAULT,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CachePolicy,
    CompoundCachePolicy,
    Inputs,
)

__all__ = [
    "DEFAULT",
    "INPUTS",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CachePolicy",
    "CompoundCachePolicy",
    "Inputs",
]
