"""Finding the flow that ``flowhook run`` names: ``path/to/file.py:flow`` or ``package.module:flow``.

A file is imported as the module that ``import`` would make of it from its directory (its stem,
or ``package.module`` when its directory is a package, so that relative imports work), with that
directory first on ``sys.path`` so that it can import the modules beside it; its
``if __name__ == "__main__":`` block does not run. Only when that name is taken by another
module (a file named ``json.py``) is it imported under a name of its own. A dotted module name
is imported as ``python -m`` would, the current directory first on ``sys.path``.

What the user typed wrong (no such file, module or flow; an attribute that is not a flow) is one
line, exit status 2. An error that the user's module raises while it is imported is theirs: the
traceback of their code (flowhook's and importlib's frames left out), then one line, exit
status 1.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import keyword
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import click

from .._config import did_you_mean
from .._runtime.launching import Flow, is_flow
from .errors import BadArgument, one_line
from .stores import importable_here

__all__ = ["UserCodeError", "load_flow"]


class UserCodeError(click.ClickException):
    """The user's module raised while it was imported: their traceback, then one line."""

    exit_code = 1

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(
            one_line(f"importing {what} raised {type(error).__name__}: {error}")
            + " (the traceback above is of your code)"
        )
        self.error = error

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo("".join(user_traceback(self.error)), file=file, err=True, nl=False)
        super().show(file)


#: Where frames that are not the user's come from: flowhook itself, and importlib.
_OURS = (str(Path(__file__).resolve().parents[1]), str(Path(importlib.__file__).parent))


def user_traceback(error: BaseException) -> list[str]:
    """The traceback of ``error`` without the frames of flowhook and of importlib."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_OURS) and not frame.filename.startswith("<frozen ")
    ]
    lines = traceback.format_list(frames)
    if lines:
        lines.insert(0, "Traceback (most recent call last):\n")
    return lines + traceback.format_exception_only(type(error), error)


@contextmanager
def _user_code(what: str) -> Iterator[None]:
    try:
        yield
    except (Exception, SystemExit) as exc:
        raise UserCodeError(what, exc) from None


def load_flow(target: str) -> Flow[..., Any]:
    """The flow that ``target`` names; :class:`BadArgument` or :class:`UserCodeError` otherwise."""
    where, colon, attribute = target.rpartition(":")
    if not colon or not attribute or "/" in attribute or "\\" in attribute:
        where, attribute = target, ""  # no flow named (or a Windows drive, "C:\\flows.py")
    if not where:
        raise BadArgument(f"{target!r} names no file or module: give path/to/file.py:FLOW")
    if where.endswith(".py") or "/" in where or "\\" in where or Path(where).is_file():
        module = _import_file(where)
    else:
        module = _import_module(where)
    return _flow_in(module, where, attribute)


def _import_file(text: str) -> ModuleType:
    path = Path(text)
    if path.is_dir():
        raise BadArgument(f"{text} is a directory: give a Python file, e.g. {text}/flows.py:FLOW")
    if not path.is_file():
        raise BadArgument(f"no file {text}: give the path of a Python file, e.g. flows.py:FLOW")
    if path.suffix != ".py":
        raise BadArgument(f"{text} is not a Python file: give a .py file")
    path = path.resolve()
    name, root = _module_name(path)
    if name is not None:
        module = _import_as(name, root, path, text)
        if module is not None:
            return module
    return _import_under_own_name(path, text)


def _module_name(path: Path) -> tuple[str | None, Path]:
    """The dotted name ``import`` gives ``path`` (inside its packages), and the directory to put
    on ``sys.path`` for it; no name when a part is not an identifier."""
    parts = [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file() and root.parent != root:
        parts.insert(0, root.name)
        root = root.parent
    if all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
        return ".".join(parts), root
    return None, path.parent


def _same_file(module: ModuleType | None, path: Path) -> bool:
    location = getattr(module, "__file__", None)
    return isinstance(location, str) and Path(location).resolve() == path


def _on_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _import_as(name: str, root: Path, path: Path, text: str) -> ModuleType | None:
    """``path`` imported as ``name``; None when ``name`` is another module."""
    if name in sys.modules:
        existing = sys.modules[name]
        return existing if _same_file(existing, path) else None
    _on_path(root)
    with _user_code(text):  # finding a package's module runs the package's __init__
        spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or Path(spec.origin).resolve() != path:
        return None
    with _user_code(text):
        return importlib.import_module(name)


def _import_under_own_name(path: Path, text: str) -> ModuleType:
    digest = hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    name = f"flowhook_run_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadArgument(f"{text} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    _on_path(path.parent)
    sys.modules[name] = module
    try:
        with _user_code(text):
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_module(name: str) -> ModuleType:
    if not all(part.isidentifier() for part in name.split(".")):
        raise BadArgument(
            f"{name!r} is neither a .py file nor a module name: give path/to/file.py:FLOW "
            "or package.module:FLOW"
        )
    importable_here()
    try:
        with _user_code(name):
            return importlib.import_module(name)
    except UserCodeError as exc:
        missing = getattr(exc.error, "name", None)
        if isinstance(exc.error, ModuleNotFoundError) and (
            missing == name or (isinstance(missing, str) and name.startswith(missing + "."))
        ):
            raise BadArgument(
                f"no module named {missing!r} here: give a module importable from the current "
                "directory, or the path of a file (path/to/file.py:FLOW)"
            ) from None
        raise


def _flows_of(module: ModuleType) -> dict[str, Flow[..., Any]]:
    return {name: value for name, value in vars(module).items() if is_flow(value)}


def _flow_in(module: ModuleType, where: str, attribute: str) -> Flow[..., Any]:
    flows = _flows_of(module)
    listed = ", ".join(sorted(flows)) or "none"
    if not attribute:
        if len(flows) == 1:
            return next(iter(flows.values()))
        if not flows:
            raise BadArgument(f"{where} defines no flow (a function decorated with @flow)")
        raise BadArgument(f"{where} defines several flows: name one, {where}:NAME ({listed})")
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, _MISSING)
        if found is _MISSING:
            hint = did_you_mean(attribute, flows)
            raise BadArgument(f"{where} has no {attribute!r}; its flows: {listed}{hint}")
    if not is_flow(found):
        raise BadArgument(
            f"{where}:{attribute} is not a flow (it is of type {type(found).__name__}): "
            "decorate the function with @flow"
        )
    return found


_MISSING = object()
