"""Every Python example in the documentation runs, so that none rots.

The ```python blocks of each page in ``docs/`` (and of the README) are extracted and run. A
MyST comment on the line before a block says how, when it is not an ordinary example:

``% doc-example: module NAME``
    the block is the file ``NAME.py`` (a plugin, say): it is written to a temporary directory on
    ``sys.path`` before the page's examples run, so that they can import it.
``% doc-example: pytest``
    the block is a pytest test file: the page's ``pytest`` blocks are written to one file and run
    by pytest in a subprocess, with the ``flowhook.testing`` plugin active as it is for a plugin
    author. Every test in it must pass.
``% doc-example: skip REASON``
    the block cannot run here (it needs a real SMTP server and password, say). It must still
    compile; keep such blocks rare.

The other blocks of a page run in order, in one namespace, as a reader would type them. The
page runs with the test suite's private ``FLOWHOOK_HOME`` and plugin manager, and with
``SLACK_WEBHOOK_URL`` pointing at a local Slack-like server, so that examples posting to Slack
post there. An example fails when it raises, and also when it logs an error on a ``flowhook``
logger: a hook that raises is logged and skipped, so an example with a broken hook would
otherwise pass.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

FENCE_OPEN = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
MARKER = re.compile(r"^%\s*doc-example:\s*(?P<kind>module|pytest|skip)\b\s*(?P<arg>.*?)\s*$")
PYTHON_INFOS = {"python", "py", "python3"}
#: How many blocks may be skipped in the whole documentation.
MAX_SKIPPED = 3


@attrs.frozen
class Example:
    page: Path
    line: int  # of the opening fence, 1-based
    kind: str  # "run", "module", "pytest" or "skip"
    arg: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def python_blocks(page: Path) -> list[Example]:
    """The fenced Python blocks of a Markdown page, with the marker on the line before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        index += 1  # past the closing fence
        info = opening["info"].split()
        if not info or info[0] not in PYTHON_INFOS:
            continue
        kind, arg = "run", ""
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        if previous >= 0 and (marker := MARKER.match(lines[previous].strip())):
            kind, arg = marker["kind"], marker["arg"]
        source = textwrap.dedent("\n".join(body)) + "\n"
        examples.append(Example(page, start + 1, kind, arg, source))
    return examples


EXAMPLES = [example for page in PAGES for example in python_blocks(page)]


def pages_with(*kinds: str) -> list[Path]:
    return sorted({example.page for example in EXAMPLES if example.kind in kinds})


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_docs_have_examples() -> None:
    assert len([e for e in EXAMPLES if e.kind == "run"]) >= 20
    assert pages_with("pytest"), "the page on testing a plugin has pytest examples"


def test_every_marker_is_well_formed() -> None:
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("%") and "doc-example" in line:
                assert MARKER.match(line.strip()), (
                    f"{page_id(page)}:{number}: unknown marker {line.strip()!r}; "
                    "use '% doc-example: module NAME', 'pytest' or 'skip REASON'"
                )


def test_every_example_compiles() -> None:
    for example in EXAMPLES:
        compile(example.source, example.where, "exec")


def test_skipped_examples_are_rare_and_say_why() -> None:
    skipped = [example for example in EXAMPLES if example.kind == "skip"]
    assert len(skipped) <= MAX_SKIPPED, [example.where for example in skipped]
    for example in skipped:
        assert len(example.arg) > 10, f"{example.where}: say why the example cannot run"
    for example in EXAMPLES:
        if example.kind == "module":
            assert example.arg.isidentifier(), f"{example.where}: module needs a NAME"


class ErrorRecords(logging.Handler):
    """Collects the ERROR records of flowhook's loggers: a hook that raised is logged, not
    raised, so an example whose hook fails would pass silently without this."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The run loggers' own lines about a run's outcome (Prefect's "Retries are exhausted",
        # at ERROR) are what the examples show; a hook's error is logged on flowhook.hooks.
        if not record.name.startswith(("flowhook.flow_runs", "flowhook.task_runs")):
            self.records.append(record)


def write_modules(page: Path, directory: Path) -> list[str]:
    names = []
    for example in python_blocks(page):
        if example.kind == "module":
            (directory / f"{example.arg}.py").write_text(example.source, encoding="utf-8")
            names.append(example.arg)
    return names


@pytest.mark.parametrize("page", pages_with("run"), ids=page_id)
def test_the_examples_of_the_page_run(
    page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flowhook_slack_webhook_server,  # the flowhook.testing fixture
    plugin_manager,
) -> None:
    import flowhook_email
    import flowhook_logging
    import flowhook_slack

    for plugin in (flowhook_slack, flowhook_email, flowhook_logging):  # as if pip-installed
        plugin_manager.register(plugin)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", flowhook_slack_webhook_server.url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = write_modules(page, tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem.replace('-', '_')}"}
    errors = ErrorRecords()
    logging.getLogger("flowhook").addHandler(errors)
    try:
        for example in python_blocks(page):
            if example.kind != "run":
                continue
            try:
                exec(compile(example.source, example.where, "exec"), namespace)
            except BaseException as exc:
                raise AssertionError(
                    f"the example at {example.where} raised {exc!r}:\n{example.source}"
                ) from exc
            assert not errors.records, (
                f"the example at {example.where} logged errors (a hook that raised?): "
                + "; ".join(record.getMessage() for record in errors.records)
            )
    finally:
        logging.getLogger("flowhook").removeHandler(errors)
        for name in modules:
            sys.modules.pop(name, None)


@pytest.mark.parametrize("page", pages_with("pytest"), ids=page_id)
def test_the_test_examples_of_the_page_pass(page: Path, tmp_path: Path) -> None:
    write_modules(page, tmp_path)
    tests = [example for example in python_blocks(page) if example.kind == "pytest"]
    test_file = tmp_path / f"test_{page.stem.replace('-', '_')}_examples.py"
    test_file.write_text(
        "\n\n".join(f"# {example.where}\n{example.source}" for example in tests), encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "FLOWHOOK_HOME": str(tmp_path / "home"),
    }
    for variable in ("FLOWHOOK_STRICT_HOOKS", "FLOWHOOK_DISABLE_PLUGINS", "PYTEST_ADDOPTS"):
        env.pop(variable, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"the test examples of {page_id(page)} failed:\n{result.stdout}\n{result.stderr}"
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary), summary
    assert not re.search(r"skipped|xfail|deselected", summary), summary
