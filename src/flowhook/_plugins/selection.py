"""Which installed plugins load: ``FLOWHOOK_LOAD_PLUGINS`` and ``FLOWHOOK_DISABLE_PLUGINS``."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection

import attrs

__all__ = ["Selection", "close_match"]

logger = logging.getLogger("flowhook.plugins")


def close_match(word: str, choices: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or nothing."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _names_in(variable: str) -> set[str] | None:
    """The comma-separated names in environment variable ``variable``; None when it is unset."""
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


@attrs.frozen
class Selection:
    """Which installed plugins load: ``FLOWHOOK_LOAD_PLUGINS`` (only these; set but empty:
    none) and ``FLOWHOOK_DISABLE_PLUGINS`` (not these; ``all``: none)."""

    allowed: set[str] | None
    disabled: set[str]

    @classmethod
    def from_environment(cls) -> Selection:
        return cls(
            _names_in("FLOWHOOK_LOAD_PLUGINS"), _names_in("FLOWHOOK_DISABLE_PLUGINS") or set()
        )

    def refusal(self, name: str) -> str | None:
        """Why the installed plugin ``name`` is not loaded, or None when it is."""
        if "all" in self.disabled or name in self.disabled:
            return "disabled by FLOWHOOK_DISABLE_PLUGINS; remove it from that variable to enable it"
        if self.allowed is not None and name not in self.allowed:
            return "not in FLOWHOOK_LOAD_PLUGINS; add it to that variable (or unset it) to load it"
        return None

    def warn_unknown(self, installed: Collection[str]) -> None:
        """Log each name of the two variables that no installed plugin has (a typo, mostly)."""
        for variable, names in (
            ("FLOWHOOK_LOAD_PLUGINS", self.allowed or set()),
            ("FLOWHOOK_DISABLE_PLUGINS", self.disabled - {"all"}),
        ):
            for name in sorted(names - set(installed)):
                logger.warning(
                    "%s names %r, which is not an installed plugin%s (installed: %s)",
                    variable,
                    name,
                    close_match(name, installed),
                    ", ".join(sorted(installed)) or "none",
                )
