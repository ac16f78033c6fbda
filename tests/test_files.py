"""``write_atomically``: a file is replaced whole or not at all (result records use it)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from flowhook._files import write_atomically


def test_the_file_is_replaced_whole_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "record"
    path.write_bytes(b"old")
    write_atomically(path, b"new contents", prefix=".record.", suffix=".tmp")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["record"]
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "record"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomically(path, "not bytes", prefix=".record.")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["record"]


def test_a_result_record_is_written_through_it(tmp_path: Path) -> None:
    from flowhook.results import LocalFileSystem

    storage = LocalFileSystem(tmp_path)
    storage.write("key", b"value")
    assert storage.read("key") == b"value"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]
