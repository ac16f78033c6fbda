"""Blocks in the store, on both stores: saved once unless overwritten, listed byte by byte."""

from __future__ import annotations

from flowhook.store import Store


def test_save_load_list_and_delete_blocks(store: Store) -> None:
    assert store.save_block("slack", "team", {"url": "https://127.0.0.1/a"})
    assert not store.save_block("slack", "team", {"url": "https://127.0.0.1/b"})
    assert store.load_block("slack", "team") == {"url": "https://127.0.0.1/a"}
    assert store.save_block("slack", "team", {"url": "https://127.0.0.1/b"}, overwrite=True)
    assert store.load_block("slack", "team") == {"url": "https://127.0.0.1/b"}
    for name in ("b", "B", "a-1", "a_1"):
        store.save_block("email", name, {})
    # Byte order on both stores, whatever PostgreSQL's locale says.
    assert store.list_blocks() == [
        ("email", "B"),
        ("email", "a-1"),
        ("email", "a_1"),
        ("email", "b"),
        ("slack", "team"),
    ]
    assert store.delete_block("email", "B") and not store.delete_block("email", "B")
    assert store.load_block("email", "B") is None
