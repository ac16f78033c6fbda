"""The logging notifier: notifications as records of a Python logger."""

from __future__ import annotations

import logging
from typing import ClassVar

import attrs

from flowhook_hookspec import Notifier

__all__ = ["DEFAULT_LOGGER", "LogNotifier"]

#: The logger notifications go to unless told otherwise.
DEFAULT_LOGGER = "flowhook.notifications"


def _level_name(value: str | int) -> str:
    """The canonical name of a level given by name (any case) or by number."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"LogNotifier level must be a level name or number, not {value!r}")
    if isinstance(value, int):
        name = logging.getLevelName(value)
        return name if isinstance(name, str) and not name.startswith("Level ") else str(value)
    return value.strip().upper()


def _level_number(name: str) -> int | None:
    number = logging.getLevelName(name)
    return number if isinstance(number, int) and number > logging.NOTSET else None


def _check_level(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if _level_number(value) is None:
        raise ValueError(
            f"LogNotifier level must be DEBUG, INFO, WARNING, ERROR, CRITICAL or another "
            f"registered level name, not {value!r}"
        )


def _check_logger_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"LogNotifier logger_name must be a logger name, not {value!r}")


@attrs.define
class LogNotifier(Notifier):
    """Writes each notification as one record of the logger ``logger_name`` at ``level``.

    The record's message is ``"<subject>: <body>"`` (or the body alone); the subject and the
    body are also on the record as ``notification_subject`` and ``notification_body``, for
    structured formatters.
    """

    block_type: ClassVar[str] = "log"
    description: ClassVar[str] = "Write notifications to a Python logger"

    logger_name: str = attrs.field(default=DEFAULT_LOGGER, validator=_check_logger_name)
    level: str = attrs.field(default="INFO", converter=_level_name, validator=_check_level)

    def notify(self, body: str, subject: str | None = None, *, key: str | None = None) -> None:
        """Log one message. Logging never fails a delivery: handlers report their own errors.

        ``key``, the message's idempotency key, is on the record as ``notification_key``.
        """
        level = _level_number(self.level)
        logger = logging.getLogger(self.logger_name)
        if level is None or not logger.isEnabledFor(level):
            return
        extra = {
            "notification_subject": subject,
            "notification_body": body,
            "notification_key": key,
        }
        if subject:
            logger.log(level, "%s: %s", subject, body, extra=extra)
        else:
            logger.log(level, "%s", body, extra=extra)
