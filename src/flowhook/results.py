"""Result storage and serializers: ``result_storage=LocalFileSystem(...)``, a storage protocol for plugins."""

from ._engine.results import *  # noqa: F403  (its __all__ is the public part)
from ._engine.results import __all__ as __all__
