"""What both servers share: the address they listen on, a free port, the context-manager base."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["HOST", "BackgroundServer", "closed_port"]

#: The only address the test servers listen on.
HOST = "127.0.0.1"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for "connection refused" tests).

    The system hands out ports in sequence, so the port just released is not reused at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


class BackgroundServer:
    """A server running in a background thread: ``with Server() as server:`` starts it and
    stops it, whatever happens inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
