"""Pydantic's lax rules for scalar parameters, reproduced: how ``"false"`` becomes ``False``,
why ``5.7`` is no ``int`` and ``"tomorrow"`` no ``date``.

Prefect validates flow parameters with pydantic in lax mode. Pydantic itself would cost more
than ``import flowhook`` takes (about 150 ms the first time), so these functions follow its
documented conversion table for the scalar types, and cattrs applies them inside containers,
optionals and unions. ``tests/test_parameter_coercion.py`` checks every row of its table against
pydantic itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["LAX_SCALARS"]

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    return None


def lax_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is not None:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("a valid boolean: unable to interpret input")
    if isinstance(value, (int, float, decimal.Decimal)) and value in (0, 1):
        return bool(value)
    raise ValueError("a valid boolean")


_INT = re.compile(r"[+-]?\d+(_\d+)*(\.0*)?")


def lax_int(value: Any, _: type) -> int:
    if isinstance(value, int):  # bool too: True is 1
        return int(value)
    if isinstance(value, (float, decimal.Decimal)):
        if not math.isfinite(value):
            raise ValueError("a finite number")
        if value != int(value):
            raise ValueError("a valid integer, got a number with a fractional part")
        return int(value)
    text = _text(value)
    if text is not None:
        stripped = text.strip()
        if _INT.fullmatch(stripped):
            return int(stripped.split(".")[0])
        raise ValueError("a valid integer, unable to parse string as an integer")
    if hasattr(value, "__index__"):
        return int(value.__index__())
    raise ValueError("a valid integer")


def lax_float(value: Any, _: type) -> float:
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    text = _text(value)
    if text is not None:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("a valid number, unable to parse string as a number") from None
    raise ValueError("a valid number")


def lax_str(value: Any, _: type) -> str:
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise ValueError("a valid string, unable to parse raw data as unicode") from None
    raise ValueError("a valid string")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})([T t](\d{2}):(\d{2})(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})?)?"
)
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _from_timestamp(seconds: float) -> dt.datetime:
    if abs(seconds) > 2e10:  # pydantic reads larger numbers as milliseconds
        seconds /= 1000
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def lax_datetime(value: Any, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_timestamp(value)
    text = _text(value)
    if text is not None:
        if _NUMBER.fullmatch(text):
            return _from_timestamp(float(text))
        if _DATETIME.fullmatch(text):
            return dt.datetime.fromisoformat(text.replace("z", "Z"))
        raise ValueError("a valid datetime or date")
    raise ValueError("a valid datetime")


def lax_date(value: Any, _: type) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = _text(value)
    if text is not None and _DATE.fullmatch(text):
        return dt.date.fromisoformat(text)
    moment = lax_datetime(value, dt.datetime)
    if moment.time() != dt.time(0):
        raise ValueError("a date: datetimes given for dates must have zero time")
    return moment.date()


#: The structure hooks for the scalar types, by type.
LAX_SCALARS: dict[type, Callable[[Any, type], Any]] = {
    bool: lax_bool,
    int: lax_int,
    float: lax_float,
    str: lax_str,
    dt.datetime: lax_datetime,
    dt.date: lax_date,
}
