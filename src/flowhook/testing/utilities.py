"""Test helpers by Prefect's names: ``prefect_test_harness()``, as Prefect users wrap their test
suites in it, ``exceptions_equal`` and ``assert_does_not_warn``."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator

__all__ = ["assert_does_not_warn", "exceptions_equal", "prefect_test_harness"]

_STORE_VARIABLES = ("FLOWHOOK_HOME", "FLOWHOOK_STORE", "FLOWHOOK_STORE_URL")


@contextlib.contextmanager
def prefect_test_harness(server_startup_timeout: int | None = None) -> Iterator[None]:
    """Inside the block, runs are recorded in a fresh temporary store (a SQLite file in a
    temporary ``FLOWHOOK_HOME``, which also holds results and blocks), as Prefect's harness
    points runs at a temporary database.

    On exit, what is queued is written, the store closed and the directory removed; the
    environment is as before. ``server_startup_timeout`` is accepted for Prefect's signature:
    there is no server to start.
    """
    from .._runtime import attach  # the runtime: only a test that asks for the harness needs it

    saved = {name: os.environ.get(name) for name in _STORE_VARIABLES}
    with tempfile.TemporaryDirectory(prefix="flowhook-test-harness-") as home:
        os.environ["FLOWHOOK_HOME"] = home
        os.environ.pop("FLOWHOOK_STORE", None)
        os.environ.pop("FLOWHOOK_STORE_URL", None)
        try:
            yield
        finally:
            attach.detach()  # before the directory goes: the store file is closed first
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def exceptions_equal(a: BaseException, b: BaseException) -> bool:
    """Whether two exceptions are the same object, or of one type with the same arguments."""
    if a is b:
        return True
    return type(a) is type(b) and a.args == b.args


@contextlib.contextmanager
def assert_does_not_warn(ignore_warnings: list[type[Warning]] | None = None) -> Iterator[None]:
    """Fail with an ``AssertionError`` naming the warning if the block warns (warnings of the
    classes in ``ignore_warnings`` excepted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for category in ignore_warnings or []:
            warnings.simplefilter("ignore", category)
        try:
            yield
        except Warning as warning:
            raise AssertionError(f"the block warned: {warning!r}") from warning
