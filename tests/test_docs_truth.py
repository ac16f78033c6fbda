"""The pages describe what exists: none calls a shipped command or API unavailable or planned.

Every page of the documentation (``docs/*.md``), the READMEs and the commands' own help texts
are read sentence by sentence, and a section under a heading like "Planned" as a whole. A
passage fails the test when it says that something is not built, not yet available, planned or
coming, and names a ``flowhook`` command (the commands are read from the click group, with their
subcommands) or a name that ``flowhook`` or ``flowhook.notifications`` exports. Fix the page, not
the test: say what works, and keep plans out of the pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import flowhook
import flowhook.notifications
from flowhook.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        *(ROOT / "docs").glob("*.md"),
        ROOT / "README.md",
        ROOT / "hookspec" / "README.md",
        ROOT / "testing" / "README.md",
        *(ROOT / "plugins").glob("*/README.md"),
    ]
)

#: What a page says of something that does not exist (yet).
UNAVAILABLE = re.compile(
    r"\bnot (?:\w+ ){0,2}yet\b|\byet to be\b|\bplanned\b|\bcoming soon\b|\bnot implemented\b"
    r"|\bunavailable\b|\bwill (?:be (?:added|built|available|implemented|supported)|come)\b"
    r"|\b(?:in|with) a (?:future|later) (?:release|version)\b|\bdoes not work yet\b"
    r"|\bnone of it works\b|\bTODO\b",
    re.IGNORECASE,
)


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


COMMANDS = sorted(command_paths(cli))
API = sorted(set(flowhook.__all__) | set(flowhook.notifications.__all__) - {"__version__"})


def _names() -> list[tuple[str, re.Pattern[str]]]:
    """Each shipped name with the pattern that finds it in prose."""
    patterns = []
    for path in COMMANDS:
        words = r"\s+".join(map(re.escape, path))
        if len(path) == 1:  # a command group or command: also as a plain word ("blocks")
            pattern = rf"(?<![\w-]){words}(?:e?s)?(?![\w-])"
        else:  # a subcommand: only its full name ("flowhook block create", `block create`)
            pattern = rf"(?<![\w-]){words}(?![\w-])"
        patterns.append((f"flowhook {' '.join(path)}", re.compile(pattern, re.IGNORECASE)))
    for name in API:
        if re.search(r"[A-Z]", name) and re.search(r"[a-z]", name):  # Block, Notifier, ...
            pattern = rf"(?<![\w.]){re.escape(name)}s?(?!\w)"
        else:  # flow, task, save_block: common words, so only as code
            pattern = rf"`{re.escape(name)}\b[^`]*`"
        patterns.append((name, re.compile(pattern)))
    return patterns


NAMES = _names()

_FENCE = re.compile(r"^(```|:::)")
_HEADING = re.compile(r"^(#+)\s+(.*)")
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<=[.!?;:])\s+(?=[A-Z*`(\[])")


def passages(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, passage)``: each sentence of the prose (code blocks left out), and each
    section whose heading says that something is unavailable, whole."""
    lines = text.splitlines()
    in_code = False
    prose: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            prose.append((number, line))
    for index, (number, line) in enumerate(prose):
        heading = _HEADING.match(line)
        if heading and UNAVAILABLE.search(heading.group(2)):
            level = len(heading.group(1))
            section = [line]
            for _, following in prose[index + 1 :]:
                deeper = _HEADING.match(following)
                if deeper and len(deeper.group(1)) <= level:
                    break
                section.append(following)
            yield number, " ".join(section)
    # paragraphs, list items and table rows, then their sentences
    block: list[str] = []
    start = 0
    for number, line in [*prose, (len(lines) + 1, "")]:
        stripped = line.strip()
        starts_item = bool(re.match(r"([-*+]|\d+\.|\|)\s", stripped)) or stripped.startswith("|")
        if not stripped or starts_item or _HEADING.match(line) or _FENCE.match(stripped):
            if block:
                for sentence in _SENTENCE_END.split(" ".join(block)):
                    yield start, sentence
            block = [stripped] if stripped and not _FENCE.match(stripped) else []
            start = number
        else:
            if not block:
                start = number
            block.append(stripped)


def false_claims(text: str) -> list[str]:
    """Each passage of ``text`` that calls a shipped command or API unavailable or planned."""
    found = []
    for number, passage in passages(text):
        phrase = UNAVAILABLE.search(passage)
        if phrase is None:
            continue
        named = [name for name, pattern in NAMES if pattern.search(passage)]
        if named:
            found.append(
                f"line {number}: {phrase.group(0)!r} near {', '.join(named)}: {passage[:300]}"
            )
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_calls_a_shipped_command_or_api_unavailable(page: Path) -> None:
    claims = false_claims(page.read_text(encoding="utf-8"))
    assert not claims, f"{page.relative_to(ROOT)} says that shipped things do not exist:\n" + (
        "\n".join(claims)
    )


def help_texts() -> Iterator[tuple[str, str]]:
    for path in COMMANDS:
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        yield f"flowhook {' '.join(path)}", command.help or ""


@pytest.mark.parametrize(("command", "text"), list(help_texts()), ids=lambda item: str(item))
def test_no_help_text_calls_a_shipped_command_or_api_unavailable(command, text) -> None:
    assert not false_claims(text), f"the help of {command}: {false_claims(text)}"


#: Sentences the pages said before blocks, rules, the outbox and delivery by watch shipped: the
#: check must find each (if it stops finding them, it has stopped checking).
UNTRUE = [
    "The notification *engine* that will sit on top of them (saved **blocks**, **rules** in a "
    "config file, **templates**, and **delivery** with retries through an outbox in the store) "
    "is not built yet.",
    '| a notification from a hook: `Block.load("slack-webhook/name").notify(...)` | call a '
    "notifier from the hook | saved blocks and `Block.load` are not yet available in flowhook |",
    "## Planned\n\n- Saved notification blocks and the notification outbox will live in the same "
    "database; `flowhook watch` will then also deliver queued notifications.\n",
    "`flowhook deliver` is coming soon.",
    "Saving a block with `save_block` will be added in a future release.",
]
#: True sentences that come close: they must pass.
TRUE = [
    "Start with the {doc}`quickstart` if you have not run a flow yet.",
    "A run whose process was killed is found and marked Crashed by `flowhook runs reap`.",
    "A notifier that cannot deliver raises `NotificationError`; nothing retries it.",
    "## Blocks and the notification outbox\n\nSaved blocks live in the same database.\n",
]


@pytest.mark.parametrize("text", UNTRUE)
def test_the_check_finds_what_the_pages_used_to_say(text) -> None:
    assert false_claims(text)


@pytest.mark.parametrize("text", TRUE)
def test_the_check_passes_true_sentences(text) -> None:
    assert false_claims(text) == []


def test_watch_help_says_it_reaps_and_delivers() -> None:
    text = " ".join(CliRunner().invoke(cli, ["watch", "--help"]).output.split())
    assert "Reap crashed runs and deliver due notifications" in text
