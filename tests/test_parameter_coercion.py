"""Parameters follow pydantic's lax rules, as Prefect's validation does (issue 14 item 5).

Every row is checked twice: against flowhook, and against pydantic itself (a test dependency),
so that the table cannot drift from the rules it claims to reproduce.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest

from flowhook import flow
from flowhook.exceptions import ParameterTypeError

ERROR = object()


class Color(enum.Enum):
    RED = "red"


UTC = dt.timezone.utc

#: (type, value given, value the body receives, or ERROR)
CASES: list[tuple[Any, Any, Any]] = [
    (bool, True, True),
    (bool, "false", False),
    (bool, "no", False),
    (bool, "off", False),
    (bool, "0", False),
    (bool, "FALSE", False),
    (bool, "f", False),
    (bool, "n", False),
    (bool, "yes", True),
    (bool, "on", True),
    (bool, "1", True),
    (bool, "True", True),
    (bool, 0, False),
    (bool, 1, True),
    (bool, 1.0, True),
    (bool, 2, ERROR),
    (bool, "2", ERROR),
    (bool, "", ERROR),
    (bool, "maybe", ERROR),
    (bool, None, ERROR),
    (int, 5, 5),
    (int, True, 1),
    (int, 5.0, 5),
    (int, 5.7, ERROR),
    (int, "5", 5),
    (int, " 5 ", 5),
    (int, "5.0", 5),
    (int, "5.5", ERROR),
    (int, "1_000", 1000),
    (int, "-5", -5),
    (int, "0x10", ERROR),
    (int, "1e3", ERROR),
    (int, float("inf"), ERROR),
    (int, None, ERROR),
    (int, [], ERROR),
    (float, 1, 1.0),
    (float, "1.5", 1.5),
    (float, " 1.5 ", 1.5),
    (float, "1e3", 1000.0),
    (float, "x", ERROR),
    (float, None, ERROR),
    (str, "x", "x"),
    (str, b"bytes", "bytes"),
    (str, Color.RED, "red"),
    (str, 5, ERROR),
    (str, 5.0, ERROR),
    (str, True, ERROR),
    (str, None, ERROR),
    (dt.date, dt.date(2024, 1, 2), dt.date(2024, 1, 2)),
    (dt.date, "2024-01-02", dt.date(2024, 1, 2)),
    (dt.date, "tomorrow", ERROR),
    (dt.date, "2024-1-2", ERROR),
    (dt.date, dt.datetime(2024, 1, 2), dt.date(2024, 1, 2)),
    (dt.date, dt.datetime(2024, 1, 2, 3), ERROR),
    (dt.date, 1704153600, dt.date(2024, 1, 2)),
    (dt.date, 1704153601, ERROR),
    (dt.date, "2024-01-02T00:00:00", dt.date(2024, 1, 2)),
    (dt.date, None, ERROR),
    (dt.datetime, "2024-01-02T03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5)),
    (dt.datetime, "2024-01-02 03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5)),
    (dt.datetime, "2024-01-02T03:04:05Z", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (dt.datetime, "2024-01-02", dt.datetime(2024, 1, 2)),
    (dt.datetime, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2)),
    (dt.datetime, 1704153600, dt.datetime(2024, 1, 2, tzinfo=UTC)),
    (dt.datetime, "now", ERROR),
    (dt.datetime, None, ERROR),
    (list[int], [1, "2"], [1, 2]),
    (list[int], (1, 2), [1, 2]),
    (list[int], [1.5], ERROR),
    (list[bool], ["no", "yes"], [False, True]),
    (dict[str, int], {"a": "1"}, {"a": 1}),
    (dict[str, int], {"a": 1.5}, ERROR),
    (int | None, None, None),
    (int | None, "5", 5),
    (int | None, 5.5, ERROR),
    (dt.date | None, "2024-01-02", dt.date(2024, 1, 2)),
    (dt.date | None, "x", ERROR),
]


def _ids(case: tuple[Any, Any, Any]) -> str:
    hint, value, _ = case
    return f"{getattr(hint, '__name__', hint)}-{value!r}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_flowhook_coerces_as_the_table_says(case: tuple[Any, Any, Any]) -> None:
    hint, value, expected = case

    def body(x):  # type: ignore[no-untyped-def]
        return x

    body.__annotations__ = {"x": hint}
    coerced = flow(body)
    if expected is ERROR:
        state = coerced(value, return_state=True)
        assert state.is_failed()
        with pytest.raises(ParameterTypeError) as raised:
            coerced(value)
        message = str(raised.value)
        assert "parameter 'x' expects" in message and repr(value) in message
    else:
        received = coerced(value)
        assert received == expected and type(received) is type(expected)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_table_is_pydantics(case: tuple[Any, Any, Any]) -> None:
    from pydantic import TypeAdapter, ValidationError

    hint, value, expected = case
    if expected is ERROR:
        with pytest.raises(ValidationError):
            TypeAdapter(hint).validate_python(value)
    else:
        received = TypeAdapter(hint).validate_python(value)
        assert received == expected and type(received) is type(expected)


def test_a_bad_parameter_fails_the_run_and_fires_on_failure(calls) -> None:
    @flow(on_failure=[calls.hook("failure")])
    def f(when: dt.date) -> None: ...

    state = f("tomorrow", return_state=True)
    assert isinstance(state.exception, ParameterTypeError)
    assert "parameter 'when' expects date, got str 'tomorrow'" in state.message
    assert calls == [("failure", "Failed", 0)]
