"""How a run's id is shown short: the command line, the web UI and their messages agree.

The short form is a prefix of the id's text, so ``flowhook runs show SHORT`` finds the run.
Run ids are time-ordered (version 7) UUIDs: their first 13 characters are the millisecond the
run was created, and the 3 hex digits after the version are the fraction of that millisecond,
at least one more for each id a process makes. Their first 18 characters
(``0193a2b4-5c6d-7e8f``) therefore tell apart the runs of one process, and almost surely those
of processes running at once; the first 8 only tell apart runs more than a minute apart.
Random (version 4) ids, recorded before, differ from their first digits: 8 are shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line's start need not import uuid
    from uuid import UUID

__all__ = ["short_run_id"]

_TIME_ORDERED_SHORT = 18  # through the millisecond's fraction: 0193a2b4-5c6d-7e8f
_RANDOM_SHORT = 8


def short_run_id(run_id: str | UUID) -> str:
    """The shortest prefix of ``run_id``'s text that is shown for it (see the module)."""
    text = str(run_id)
    if text[14:15] == "7":  # the version digit
        return text[:_TIME_ORDERED_SHORT]
    return text[:_RANDOM_SHORT]
