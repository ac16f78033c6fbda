"""What the OTEL_* environment turns on, seen as a user sees it: `flowhook plugins`, and the
spans of a program that set up OpenTelemetry's SDK itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment.update(FLOWHOOK_HOME=str(tmp_path / "home"), **env)
    return subprocess.run(
        args, capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def otel_hooks(tmp_path: Path, **env: str) -> tuple[list[str], str]:
    """The hooks `flowhook plugins --json` lists for the otel plugin, and its stderr."""
    flowhook = str(Path(sys.executable).with_name("flowhook"))
    done = _run(tmp_path, [flowhook, "plugins", "--json"], **env)
    assert done.returncode == 0, done.stderr
    [otel] = [item for item in json.loads(done.stdout) if item["name"] == "otel"]
    assert otel["status"] == "active"
    return otel["hooks"], done.stderr


HOOKS = ["on_flow_run_state_change", "on_task_run_state_change"]


def test_unconfigured_it_implements_no_hook(tmp_path: Path) -> None:
    assert otel_hooks(tmp_path)[0] == []


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "console"},
        {"OTEL_METRICS_EXPORTER": "console", "OTEL_TRACES_EXPORTER": "none"},
    ],
    ids=["endpoint", "traces-endpoint", "console", "metrics-only"],
)
def test_an_exporter_in_the_environment_turns_it_on(tmp_path: Path, env: dict[str, str]) -> None:
    assert otel_hooks(tmp_path, **env)[0] == HOOKS


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
    ],
    ids=["sdk-disabled", "none"],
)
def test_disabled_or_none_keeps_it_idle(tmp_path: Path, env: dict[str, str]) -> None:
    assert otel_hooks(tmp_path, **env)[0] == []


def test_an_unknown_exporter_is_named_in_a_warning(tmp_path: Path) -> None:
    hooks, stderr = otel_hooks(tmp_path, OTEL_TRACES_EXPORTER="zipkin")
    assert hooks == []
    assert "OTEL_TRACES_EXPORTER=zipkin" in stderr
    assert "otlp, console" in stderr


def test_a_program_with_its_own_sdk_is_traced_without_variables(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(
        textwrap.dedent(
            """
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
            import flowhook

            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)

            @flowhook.flow
            def hello() -> str:
                return "hi"

            hello()
            print(sorted(span.name for span in exporter.get_finished_spans()))
            """
        )
    )
    done = _run(tmp_path, [sys.executable, str(script)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['flow hello']"


def test_the_plugin_is_built_once_per_process(tmp_path: Path) -> None:
    done = _run(
        tmp_path,
        [
            sys.executable,
            "-c",
            "import flowhook_otel as otel; "
            "print(otel.plugin is otel.plugin, isinstance(otel.plugin, otel.OtelPlugin))",
        ],
        OTEL_TRACES_EXPORTER="console",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


ASYNC_PROGRAM = """
import asyncio, json, logging, threading
import flowhook

threads = []

class Noting(logging.Handler):
    def emit(self, record):
        if "will start" in record.getMessage():  # the retry's line, said by the run's step
            threads.append(record.thread)

logging.getLogger().addHandler(Noting())
logging.getLogger().setLevel(logging.INFO)
attempts = []

@flowhook.task(retries=1)
async def flaky() -> int:
    attempts.append(1)
    if len(attempts) == 1:
        raise ValueError("first attempt")
    return 2

@flowhook.flow
async def main() -> int:
    await flaky()
    return threading.get_ident()

SETUP

loop = asyncio.run(main())
print("RESULT", json.dumps({"on_loop": threads == [loop], "lines": len(threads)}))
"""

OWN_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
trace.set_tracer_provider(provider)
"""


@pytest.mark.parametrize(
    ("setup", "env", "on_loop"),
    [("", {"OTEL_TRACES_EXPORTER": "console"}, True), (OWN_PROVIDER, {}, False)],
    ids=["providers-it-set-up", "the-programs-provider"],
)
def test_an_async_run_calls_its_hooks_on_the_loop_only_when_they_queue_their_spans(
    tmp_path: Path, setup: str, env: dict[str, str], on_loop: bool
) -> None:
    """Set up from OTEL_* variables, its processors queue spans for a thread of their own: its
    hooks say they never block, and an async run steps on its event loop. A program's own
    provider may export in the caller's thread: the steps then go to a worker thread."""
    script = tmp_path / "program.py"
    script.write_text(ASYNC_PROGRAM.replace("SETUP", setup))
    done = _run(tmp_path, [sys.executable, str(script)], FLOWHOOK_LOAD_PLUGINS="otel", **env)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {"on_loop": on_loop, "lines": 1}, done.stderr
