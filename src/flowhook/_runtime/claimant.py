"""The commands that claim work (``flowhook watch``, ``deliver``, ``runs reap``, ``ui``) as
registered processes, as every process that runs flows is.

A claim (an outbox message being sent, a crashed run's hooks being fired) carries its
claimant's id, ``<process id>:<pid>``. A registered process beats every
``FLOWHOOK_HEARTBEAT_SECONDS``; so when one dies, on whatever host, a reaper anywhere finds it
dead (by its pid on its own host, by its silence on another one) and frees its claims for
another process to take over (see :func:`~flowhook._runtime.reaper.claimant_is_dead`).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from .._version import __version__
from ..store import Heartbeat, Store, StoreSettings, current_process, local_worker_id, open_store

__all__ = ["Claimant"]

logger = logging.getLogger("flowhook.store")


class Claimant:
    """This command's process row and heartbeat, made on first use, in a store of its own (the
    heartbeat's thread writes there while the command opens and closes its own).

    Where the store cannot be written (a read-only database), the command still works, with an
    id that only a reaper on this host can tell dead (:func:`~flowhook.store.local_worker_id`).
    """

    def __init__(self, command: str, settings: StoreSettings) -> None:
        self.command = command
        self.settings = settings
        self._id: str | None = None
        self._store: Store | None = None
        self._heartbeat: Heartbeat | None = None
        self._process_id: int | None = None
        self._lock = threading.Lock()  # watch claims from two threads

    def id(self, register: bool = True) -> str:
        """The id this command's claims carry; registers it first when its store exists (and
        ``register``: a command with nothing to claim leaves no process row)."""
        with self._lock:
            if self._id is None:
                if not register or not self.settings.exists():
                    return local_worker_id(self.command)
                self._id = self._register()
            return self._id

    def _register(self) -> str:
        try:
            store = open_store(self.settings, create=False)
        except Exception as exc:
            logger.warning("could not open %s to register: %s", self.settings.location, exc)
            return local_worker_id(self.command)
        try:
            process_id = store.register_process(current_process(__version__))
        except Exception as exc:
            store.close()
            logger.warning("could not register in %s: %s", self.settings.location, exc)
            return local_worker_id(self.command)
        self._store, self._process_id = store, process_id
        self._heartbeat = Heartbeat(store, process_id, self.settings.heartbeat_seconds, None)
        self._heartbeat.run_started()  # beats until close(), whether or not anything runs
        return f"{process_id}:{os.getpid()}"

    def close(self) -> None:
        """Stop the heartbeat and record that this command exited normally."""
        store, self._store = self._store, None
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if store is None or self._process_id is None:
            return
        try:
            store.record_exit(self._process_id, time.time())
        except Exception as exc:
            logger.warning("could not record the exit in %s: %s", self.settings.location, exc)
        finally:
            store.close()
