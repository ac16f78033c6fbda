"""``flowhook run``: a flow run from the command line, its display, its exit status, its errors.

The live display is tested in a real pseudo-terminal, the plain lines through a real pipe, and
the signals on a real child process; what needs no terminal (parameters, errors) runs in
process through click's runner. Every child gets the test's own FLOWHOOK_HOME.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flowhook.cli import build_cli
from flowhook.cli.live import MAX_ROWS, render
from flowhook.cli.progress import RunTally
from flowhook_hookspec.run_ids import short_run_id

FLOWHOOK = str(Path(sys.executable).with_name("flowhook"))

FLOWS = """
import datetime
import time
from pathlib import Path

from flowhook import flow, task


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def double(x: int) -> int:
    return 2 * x


@flow
def sums(n: int = 3) -> int:
    return sum(double(add(i, 1)) for i in range(n))


@flow
def typed(n: int, when: datetime.date, ratio: float = 0.5, tags: list[str] | None = None):
    print("got", repr(n), repr(when), repr(ratio), repr(tags))


@task
def boom() -> None:
    raise ValueError("boom")


@flow
def fails() -> None:
    add(1, 2)
    boom()


@task
def tick(i: int, marker: str) -> int:
    if i == 1:
        Path(marker).touch()
    time.sleep(0.02)
    return i


@flow
def slow(marker: str, n: int = 2000) -> None:
    for i in range(n):
        tick(i, marker)


@flow
def parent() -> None:
    add(1, 1)
    sums(2)


not_a_flow = 42

if __name__ == "__main__":
    raise SystemExit("the __main__ block ran")
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory holding flows.py, the current directory of the test; the modules that
    ``flowhook run`` imports in this process are forgotten afterwards."""
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "flowhook.toml").write_text("")
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(tmp_path / "flowhook.toml"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]


def run(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args))


def one_line_error(result: Result, status: int) -> str:
    assert result.exit_code == status, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def flow_runs() -> list[dict[str, object]]:
    listed = run("runs", "ls", "--json")
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)  # type: ignore[no-any-return]


LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (flow|task) (\S+) (\S+)(: .*)?$")


# -- plain lines, exit statuses ----------------------------------------------------------------


def test_off_a_terminal_each_transition_is_one_line_then_the_outcome(workdir: Path) -> None:
    result = run("run", "flows.py:sums", "-p", "n=2")
    assert result.exit_code == 0, result.output
    *lines, last = result.stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    moves = [(m[1], m[2].rsplit("-", 1)[0], m[3]) for m in parsed if m]
    flow_moves = [move for move in moves if move[0] == "flow"]
    assert [state for _, _, state in flow_moves] == ["Pending", "Running", "Completed"]
    task_moves = [move for move in moves if move[0] == "task"]
    assert len(task_moves) == 4 * 3  # two add and two double runs, each Pending/Running/Completed
    assert {name for _, name, _ in task_moves} == {"add", "double"}
    name = parsed[0][2]  # type: ignore[index]
    assert re.fullmatch(
        rf"Flow run '{name}' of flow 'sums' ended Completed in [\d.]+s: 4 task runs \(4 completed\)",
        last,
    )
    [recorded] = flow_runs()
    assert (recorded["name"], recorded["state_name"]) == (name, "Completed")


def test_what_the_flow_prints_comes_between_the_lines_around_it(workdir: Path) -> None:
    (workdir / "talk.py").write_text(
        "from flowhook import flow, task\n\n@task\ndef say(i: int) -> None:\n"
        "    print('hello from', i)\n\n@flow\ndef talk() -> None:\n"
        "    for i in range(2):\n        say(i)\n"
    )
    result = run("run", "talk.py")
    assert result.exit_code == 0, result.output
    shown = [
        line if line.startswith("hello") else " ".join(line.split()[1:2] + line.split()[3:])
        for line in result.stdout.splitlines()[:-1]
    ]
    assert shown == [
        "flow Pending", "flow Running",
        "task Pending", "task Running", "hello from 0", "task Completed",
        "task Pending", "task Running", "hello from 1", "task Completed",
        "flow Completed",
    ]  # fmt: skip


def test_a_failed_flow_run_exits_1_and_says_why(workdir: Path) -> None:
    result = run("run", "flows.py:fails")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[-2].endswith("Failed: Flow run encountered an exception: ValueError: boom")
    [recorded] = flow_runs()
    assert recorded["state_name"] == "Failed"
    assert lines[-1] == (
        f"Flow run {recorded['name']!r} of flow 'fails' ended Failed in "
        f"{lines[-1].split(' in ')[1].split(':')[0]}: 2 task runs (1 completed, 1 failed). "
        "Flow run encountered an exception: ValueError: boom "
        f"(flowhook runs show {short_run_id(str(recorded['id']))})"
    )


def test_subflows_and_their_tasks_are_counted(workdir: Path) -> None:
    result = run("run", "flows.py:parent")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith(
        ": 5 task runs (5 completed), 1 subflow run (1 completed)"
    )


def test_an_async_flow_runs_and_a_flow_that_exits_has_crashed(workdir: Path) -> None:
    (workdir / "other.py").write_text(
        "import asyncio, sys\nfrom flowhook import flow, task\n\n"
        "@task\nasync def nap(i: int) -> int:\n    await asyncio.sleep(0)\n    return i\n\n"
        "@flow\nasync def naps(n: int) -> int:\n"
        "    return sum(await asyncio.gather(*(nap(i) for i in range(n))))\n\n"
        "@flow\ndef exits() -> None:\n    sys.exit(0)\n"
    )
    done = run("run", "other.py:naps", "-p", "n=3")
    assert done.exit_code == 0, done.output
    last = done.stdout.splitlines()[-1]
    assert re.search(r"ended Completed in [\d.]+s: 3 task runs \(3 completed\)$", last), last
    exited = run("run", "other.py:exits")
    assert exited.exit_code == 1, exited.output
    assert "ended Crashed in " in exited.stdout.splitlines()[-1]
    assert "aborted by a call to sys.exit(0)" in exited.stdout.splitlines()[-1]


# -- parameters and names ----------------------------------------------------------------------


def test_parameters_are_converted_by_the_flows_own_validation(workdir: Path) -> None:
    result = run("run", "flows.py:typed", "-p", "n=3", "-p", "when=2024-02-29")
    assert result.exit_code == 0, result.output
    assert "got 3 datetime.date(2024, 2, 29) 0.5 None" in result.stdout.splitlines()
    [recorded] = flow_runs()
    assert recorded["parameters"] == {"n": 3, "when": "2024-02-29", "ratio": 0.5, "tags": None}


def test_params_json_takes_structured_values_and_p_overrides_it(workdir: Path) -> None:
    given = json.dumps({"n": 1, "when": "2024-01-01", "tags": ["a", "b"], "ratio": 2})
    result = run("run", "flows.py:typed", "--params-json", given, "-p", "n=7")
    assert result.exit_code == 0, result.output
    assert "got 7 datetime.date(2024, 1, 1) 2.0 ['a', 'b']" in result.stdout.splitlines()


def test_name_sets_the_flow_run_name_as_given(workdir: Path) -> None:
    result = run("run", "flows.py:sums", "--name", "nightly {n}")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(" flow nightly {n} Pending")
    assert [run["name"] for run in flow_runs()] == ["nightly {n}"]


def test_a_module_with_one_flow_needs_no_flow_name(workdir: Path) -> None:
    (workdir / "single.py").write_text(
        "from flowhook import flow\n\n@flow\ndef only():\n    pass\n"
    )
    result = run("run", "single.py")
    assert result.exit_code == 0, result.output
    assert "of flow 'only' ended Completed" in result.stdout


def test_a_package_module_runs_by_name_and_by_path_with_relative_imports(workdir: Path) -> None:
    package = workdir / "pipelines"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("LABEL = 'from a sibling'\n")
    (package / "jobs.py").write_text(
        "from flowhook import flow\nfrom .helpers import LABEL\n\n"
        "@flow\ndef report():\n    print(LABEL)\n"
    )
    for target in ("pipelines.jobs:report", "pipelines/jobs.py:report"):
        result = run("run", target)
        assert result.exit_code == 0, (target, result.output)
        assert "from a sibling" in result.stdout.splitlines()
    assert {run["import_path"] for run in flow_runs()} == {"pipelines.jobs:report"}


def test_a_flow_without_validation_gets_the_text_as_given(workdir: Path) -> None:
    (workdir / "lax.py").write_text(
        "from flowhook import flow\n\n@flow(validate_parameters=False)\n"
        "def raw(n: int):\n    print('got', repr(n))\n"
    )
    result = run("run", "lax.py:raw", "-p", "n=3")
    assert result.exit_code == 0, result.output
    assert "got '3'" in result.stdout.splitlines()


ERRORS = [
    (
        ["nope.py:sums"],
        "Error: no file nope.py: give the path of a Python file, e.g. flows.py:FLOW",
    ),
    (
        ["flows.py:nope"],
        "Error: flows.py has no 'nope'; its flows: fails, parent, slow, sums, typed",
    ),
    (
        ["flows.py:sum"],
        "Error: flows.py has no 'sum'; its flows: fails, parent, slow, sums, typed; did you "
        "mean 'sums'?",
    ),
    (
        ["flows.py"],
        "Error: flows.py defines several flows: name one, flows.py:NAME "
        "(fails, parent, slow, sums, typed)",
    ),
    (
        ["flows.py:not_a_flow"],
        "Error: flows.py:not_a_flow is not a flow (it is of type int): "
        "decorate the function with @flow",
    ),
    (["flowhook.toml:x"], "Error: flowhook.toml is not a Python file: give a .py file"),
    (
        ["no_such_module:f"],
        "Error: no module named 'no_such_module' here: give a module "
        "importable from the current directory, or the path of a file (path/to/file.py:FLOW)",
    ),
    (["flows.py:sums", "-p", "m=2"], "Error: flow 'sums' has no parameter 'm'; its parameters: n"),
    (
        ["flows.py:typed", "-p", "n=1"],
        "Error: flow 'typed' needs the parameter 'when': give "
        "-p when=VALUE; its parameters: n, when, ratio, tags",
    ),
    (
        ["flows.py:typed", "-p", "n=x", "-p", "when=2024-01-01"],
        "Error: parameter 'n' expects "
        "int, got str 'x': a valid integer, unable to parse string as an integer",
    ),
    (["flows.py:sums", "-p", "n"], "Error: -p 'n': give NAME=VALUE, e.g. -p n=3"),
    (
        ["flows.py:sums", "--params-json", "[1]"],
        "Error: --params-json takes a JSON object of parameters, e.g. '{\"n\": 3}', got list",
    ),
    (
        ["flows.py:sums", "--params-json", "{n: 1}"],
        "Error: --params-json is not valid JSON: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
]


@pytest.mark.parametrize(("args", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_what_the_user_typed_wrong_is_one_line_exit_2_and_no_run(
    workdir: Path, flowhook_home: Path, args: list[str], message: str
) -> None:
    assert one_line_error(run("run", *args), 2) == message
    assert list(flowhook_home.iterdir()) == [], "a refused run created the database"


def test_the_main_block_of_the_file_does_not_run(workdir: Path) -> None:
    result = run("run", "flows.py:sums")
    assert result.exit_code == 0 and "__main__ block ran" not in result.output


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("import json\n\nVALUE = json.loads(undefined_name)\n", "NameError"),
        ("def broken(:\n    pass\n", "SyntaxError"),
    ],
)
def test_an_error_in_the_users_module_shows_their_traceback_and_exits_1(
    workdir: Path, source: str, shown: str
) -> None:
    (workdir / "broken.py").write_text(source)
    result = run("run", "broken.py:f")
    assert result.exit_code == 1, result.output
    *trace, last = result.stderr.splitlines()
    assert last.startswith(f"Error: importing broken.py raised {shown}: ")
    assert last.endswith("(the traceback above is of your code)")
    assert any(str(workdir / "broken.py") in line for line in trace), trace
    assert not any("flowhook" in line or "importlib" in line for line in trace), trace


# -- the display's counts ----------------------------------------------------------------------


def test_the_tally_counts_its_own_run_only_and_shows_at_most_max_rows() -> None:
    from flowhook import flow, task
    from flowhook._runtime.observing import transitions_observed

    made = [task(lambda: None).with_options(name=f"step-{i}") for i in range(MAX_ROWS + 3)]

    @flow
    def wide() -> None:
        for step in made:
            step()

    @flow
    def other() -> None:
        made[0]()

    tally = RunTally()
    with transitions_observed(tally.observe):
        wide()
        other()  # a second top-level flow run in the process: not the one started
    rows = tally.rows()
    assert [(row.name, row.counts) for row in rows] == [
        (f"step-{i}", [0, 0, 1, 0, 0]) for i in range(MAX_ROWS + 3)
    ]
    assert tally.flow_run is not None and tally.flow_run.flow_name == "wide"
    shown = render(tally).plain.splitlines()
    assert shown[0].startswith("flow wide  run ") and " Completed " in shown[0]
    assert shown[1].split() == [
        "task",
        "pending",
        "running",
        "completed",
        "failed",
        "progress",
        "elapsed",
    ]
    assert len(shown) == 2 + MAX_ROWS + 1 and shown[-1] == "... 3 more tasks, 3 runs"


def test_the_tally_adds_up_the_counts_of_every_thread() -> None:
    from flowhook import flow, task
    from flowhook._runtime.observing import transitions_observed

    @task
    def work(i: int) -> int:
        if i % 10 == 0:
            raise ValueError(i)
        return i

    @flow
    def pooled() -> None:
        futures = [work.submit(i) for i in range(50)]
        for future in futures:
            future.wait()

    tally = RunTally()
    with transitions_observed(tally.observe):
        pooled()
    assert [(row.name, row.counts) for row in tally.rows()] == [("work", [0, 0, 45, 5, 0])]


def test_an_observer_that_raises_is_logged_once_and_never_fails_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flowhook import flow, task
    from flowhook._engine import observers
    from flowhook._runtime.observing import transitions_observed

    seen: list[str] = []

    def fragile(kind: str, run: object, old: object, new: object) -> None:
        seen.append(kind)
        raise RuntimeError("observer bug")

    @task
    def one() -> int:
        return 1

    @flow
    def f() -> int:
        return one() + one()

    with transitions_observed(fragile):
        assert f() == 2
    assert [o for o in observers if o.__module__ == "flowhook._runtime.observing"] == []
    assert seen == ["flow"]
    assert [r.getMessage() for r in caplog.records if "observer" in r.getMessage()] == [
        "a transition observer failed; it is not called again"
    ]


# -- real processes: a terminal, a pipe, signals ------------------------------------------------


def child_env() -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("FLOWHOOK_STRICT_HOOKS", None)
    env["FLOWHOOK_DISABLE_PLUGINS"] = "all"
    return env


def read_until_exit(master: int, process: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its side
                break
            if not data:
                break
            output += data
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    return output


def test_on_a_terminal_a_live_display_shows_tasks_counts_and_the_end(workdir: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [FLOWHOOK, "run", "flows.py:slow", "-p", "marker=started", "-p", "n=12"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env(),
    )
    os.close(slave)
    try:
        raw = read_until_exit(master, process)
    finally:
        os.close(master)
    assert process.returncode == 0, raw
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", raw).decode()
    assert "\x1b[" in raw.decode(), "not drawn as a live display"
    assert re.search(r"task\s+pending\s+running\s+completed\s+failed\s+progress\s+elapsed", text)
    drawn = re.findall(r"tick\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[━─]{24}\s+[\d.]+s", text)
    assert drawn, text
    assert drawn[-1] == ("0", "0", "12", "0")
    assert len(drawn) >= 2, "the display was drawn once only"
    assert re.search(r"flow slow  run \S+  Completed", text)
    assert "of flow 'slow' ended Completed in" in text.splitlines()[-1]


def test_through_a_pipe_each_transition_is_one_line(workdir: Path) -> None:
    done = subprocess.run(
        [FLOWHOOK, "run", "flows.py:sums", "-p", "n=3"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *lines, last = done.stdout.splitlines()
    assert "\x1b" not in done.stdout
    assert len(lines) == 3 + 6 * 3 and all(LINE.match(line) for line in lines), lines
    assert last.startswith("Flow run ") and ": 6 task runs (6 completed)" in last


def start_slow(workdir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [FLOWHOOK, "run", "flows.py:slow", "-p", "marker=started"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    deadline = time.monotonic() + 60
    while not (workdir / "started").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the flow did not start"
        time.sleep(0.02)
    return process


@pytest.mark.parametrize(
    ("sent", "status", "state", "message"),
    [
        (signal.SIGINT, 130, "Crashed", "aborted by an interrupt signal (KeyboardInterrupt)"),
        (signal.SIGTERM, 143, "Cancelled", "Terminated by SIGTERM"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_ends_the_run_and_sets_the_exit_status(
    workdir: Path, sent: signal.Signals, status: int, state: str, message: str
) -> None:
    process = start_slow(workdir)
    process.send_signal(sent)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, (stdout, stderr)
    assert "Traceback" not in stderr
    last = stdout.splitlines()[-1]
    assert f"of flow 'slow' ended {state} in " in last and message in last
    [recorded] = flow_runs()
    assert recorded["state_name"] == state and message in str(recorded["state_message"])
