"""Helpers of the fault tests that lock the SQLite store under a live process and wait for it
to open the store again: the locker, the script's wait for those attempts, and the outbox."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from store_helpers import execute, wait_for

from flowhook.store import OutboxRecord, open_store

#: Holds the database's write lock (BEGIN IMMEDIATE) until the file ``<argv[2]>`` exists.
LOCKER = """
    import sqlite3, sys, time
    from pathlib import Path
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    Path(sys.argv[2] + ".locked").write_text("locked")
    while not Path(sys.argv[2]).exists():
        time.sleep(0.02)
    conn.execute("ROLLBACK")
"""

#: The start of a script: ``retry_ended()`` waits (60 s at most) until flowhook's background attempts to
#: open the store, if any, have ended. The process's row appears in the store a moment before
#: the recorder those attempts opened is ready for the next run: a test that saw the row would
#: otherwise start that run too early now and then.
RETRY_ENDED = """
    import sys, threading, time

    def retry_ended():
        deadline = time.monotonic() + 60
        while any(t.name == "flowhook-store-retry" for t in threading.enumerate()):
            if time.monotonic() > deadline:
                sys.exit("flowhook's background attempts to open the store went on for 60 s")
            time.sleep(0.02)
"""

#: A rule that sends failed flow runs' alerts to block ``slack-webhook/ops``, whose URL a test
#: replaces with its server's (nothing listens at this one).
FAILED_RULE = """
[[notifications]]
on = ["Failed"]
blocks = ["slack-webhook/ops"]

[blocks."slack-webhook/ops"]
url = "http://127.0.0.1:9/nothing-listens-here"
"""


def lock_database(database: Path, release: Path) -> subprocess.Popen[bytes]:
    """A process holding ``database``'s write lock until the file ``release`` exists."""
    script = textwrap.dedent(LOCKER)
    locker = subprocess.Popen([sys.executable, "-c", script, str(database), str(release)])
    wait_for(Path(f"{release}.locked").exists, what="the lock")
    return locker


def touch(marker: Path, suffix: str) -> None:
    Path(f"{marker}{suffix}").write_text("go")


def wait_for_the_retry_to_register(child: subprocess.Popen[str]) -> None:
    """Wait until the background attempts of ``child`` to open the store succeed: it is then
    registered in the store (its retries are 1, 2, 4... s apart, each a lock timeout long)."""
    store = open_store()
    try:
        wait_for(
            lambda: execute(store, "SELECT id FROM processes WHERE pid = ?", child.pid),
            timeout=60,
            what="the process, retrying in the background, to register in the store",
        )
    finally:
        store.close()


def outbox_messages() -> list[OutboxRecord]:
    """The store's outbox, every message."""
    store = open_store()
    try:
        return store.list_outbox()
    finally:
        store.close()
