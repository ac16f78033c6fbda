"""``flowhook ui``: the web UI of the store, on 127.0.0.1 unless told otherwise.

:mod:`flowhook.ui` (Starlette, uvicorn) is imported only when the command runs, and only if
the ``ui`` extra is installed.
"""

from __future__ import annotations

import sys

import click

from .arguments import IntegerRange
from .stores import command_settings

__all__ = ["ui"]

#: The modules of the ``ui`` extra: without one of them the command says how to install them.
_EXTRA = {"starlette", "uvicorn", "jinja2", "anyio", "multipart", "python_multipart"}


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    default=4200,
    show_default=True,
    type=IntegerRange(minimum=1, maximum=65535),
    help="The port to listen on.",
)
def ui(host: str, port: int) -> None:
    """Serve the web UI of the runs recorded in the store (Ctrl-C stops it).

    It answers only requests addressed to HOST (a page of another site cannot reach it), and
    the cancel and retry buttons need the token of its own pages.
    """
    try:
        from ..ui import is_loopback, listen, serve
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in _EXTRA:
            raise
        click.echo("flowhook ui needs the ui extra: pip install 'flowhook[ui]'", err=True)
        sys.exit(1)
    settings = command_settings()
    if not is_loopback(host):
        click.echo(
            f"Warning: listening on {host}, not on this machine alone: anyone who can reach "
            f"it can see every run and cancel flow runs (there is no login).",
            err=True,
        )
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"flowhook ui on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(sock, host, settings)
