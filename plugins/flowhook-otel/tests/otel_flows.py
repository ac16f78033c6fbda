"""The flows the tests run."""

from __future__ import annotations

import flowhook


@flowhook.task
def double(x: int) -> int:
    return 2 * x


@flowhook.flow(tags=["nightly"])
def etl(n: int = 2) -> int:
    return double(n) + double(n + 1)


@flowhook.task(retries=1, retry_delay_seconds=0)
def flaky_once(calls: list[int]) -> str:
    calls.append(1)
    if len(calls) == 1:
        raise ConnectionError("first attempt fails")
    return "ok"


@flowhook.flow
def retrying() -> str:
    return flaky_once([])


@flowhook.task
def explode() -> None:
    raise ValueError("bad row 7")


@flowhook.flow
def doomed() -> None:
    explode()


@flowhook.flow
def parent() -> int:
    return etl(1)
