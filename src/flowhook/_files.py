"""Writing a file whole or not at all, for every layer that keeps one (results, secrets)."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes, prefix: str, suffix: str = "") -> None:
    """Replace ``path`` with ``data`` so that no reader ever sees half of it.

    ``data`` goes to a temporary file beside ``path`` (named ``prefix``…``suffix``, readable by
    its owner alone), reaches the disk, and is renamed over ``path``: rename is atomic on POSIX
    and Windows. On any error the temporary file is removed and ``path`` is as it was.
    """
    import tempfile  # only a writer pays for it

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
