"""Cache policies, at the import path Prefect users write: ``from flowhook.cache_policies import INPUTS``."""

from ._engine.caching import *  # noqa: F403  (its __all__ is Prefect's list of names)
from ._engine.caching import __all__ as __all__
