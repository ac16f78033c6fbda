"""``python -m flowhook.cli``: the ``flowhook`` command."""

from . import main

main()
