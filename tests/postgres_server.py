"""A real PostgreSQL server for the test session: ``initdb`` into a temporary directory,
``pg_ctl start`` on 127.0.0.1 at a free port (``fsync=off``), stopped at the end.

The server refuses to run as root: as root, its commands run as the ``postgres`` user (made by
Debian's package) through ``runuser``. ``make test`` (``make test-tools``) installs the server when it is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import attrs

__all__ = ["PostgresServer", "find_binaries", "start_server"]

USER = "flowhook"
PASSWORD = "s3cret-pw-for-tests"


def find_binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: Debian's newest, or on ``PATH``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: (
            int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class PostgresServer:
    directory: Path
    bin: Path
    port: int
    as_user: str | None

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)

    def pg_ctl(self, *arguments: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *arguments)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -k {self.directory}"
        )
        self.pg_ctl("-w", "-t", "60", "-l", str(self.directory / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_server() -> PostgresServer:
    """A new server, started; raises RuntimeError when none can be (the reason)."""
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError(
            "no PostgreSQL server binaries (initdb, pg_ctl): install them with "
            "`apt-get install -y postgresql` (make test-tools does, as root)"
        )
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user") from None
        as_user = "postgres"
    directory = Path(tempfile.mkdtemp(prefix="flowhook-pg-"))
    if as_user:
        shutil.chown(directory, as_user)
    password_file = directory / "password"
    password_file.write_text(PASSWORD)
    if as_user:
        shutil.chown(password_file, as_user)
    server = PostgresServer(directory, binaries, _free_port(), as_user)
    server._run(
        str(binaries / "initdb"),
        "-D",
        str(directory / "data"),
        "-U",
        USER,
        "--auth=scram-sha-256",
        f"--pwfile={password_file}",
        "--locale=C.UTF-8",
        "--encoding=UTF8",
        "--no-sync",
    )
    server.start()
    return server
