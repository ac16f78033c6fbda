"""``flowhook install`` and ``flowhook uninstall``: pip, run in flowhook's own environment.

A plugin is found only if it is installed where flowhook runs; ``pip install`` from another
shell, virtual environment or pipx-managed tool often puts it elsewhere. These commands run
``python -m pip`` with the very interpreter that runs flowhook, so a plugin always lands where
flowhook can see it.
"""

from __future__ import annotations

import subprocess
import sys

import click

__all__ = ["install", "uninstall"]

#: What ``flowhook uninstall`` refuses to remove: the command itself would stop working.
_CORE = frozenset({"flowhook", "flowhook-hookspec", "flowhook_hookspec"})


def _pip(*args: str) -> None:
    """Run pip with flowhook's interpreter, its output shown as it comes; fail in one line."""
    try:
        done = subprocess.run([sys.executable, "-m", "pip", *args], check=False)
    except OSError as exc:
        raise click.ClickException(f"cannot run {sys.executable}: {exc.strerror}") from None
    if done.returncode != 0:
        raise click.ClickException(
            f"pip {args[0]} failed (exit status {done.returncode}); its output is above. If pip "
            f"is missing from flowhook's environment, run: {sys.executable} -m ensurepip"
        )


@click.command(
    "install", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True}
)
@click.argument("packages", nargs=-1, required=True, type=click.UNPROCESSED)
def install(packages: tuple[str, ...]) -> None:
    """Install plugins (PACKAGES: names, paths, wheels) into flowhook's own environment.

    Runs `python -m pip install PACKAGES` with the interpreter that runs flowhook; pip's options
    pass through: `flowhook install -U flowhook-slack`, `flowhook install -e ./flowhook-audit`,
    `flowhook install --no-index --find-links dist/ flowhook-slack`.
    """
    _pip("install", *packages)
    click.echo(f"Installed into {sys.prefix}. `flowhook plugins` lists the plugins.")


@click.command("uninstall", context_settings={"ignore_unknown_options": True})
@click.argument("packages", nargs=-1, required=True, type=click.UNPROCESSED)
def uninstall(packages: tuple[str, ...]) -> None:
    """Uninstall plugins (distribution names) from flowhook's own environment, without asking.

    Runs `python -m pip uninstall -y PACKAGES` with the interpreter that runs flowhook.
    """
    core = sorted(name for name in packages if name.lower() in _CORE)
    if core:
        raise click.UsageError(
            f"{', '.join(core)} is flowhook itself, not a plugin; uninstall it with pip if you "
            "mean to"
        )
    _pip("uninstall", "-y", *packages)
    click.echo(f"Uninstalled from {sys.prefix}.")
