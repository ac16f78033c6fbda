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
            "import flowhook_otel as otel; print(otel.plugin is otel.plugin, type(otel.plugin).__name__)",
        ],
        OTEL_TRACES_EXPORTER="console",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "OtelPlugin"]
