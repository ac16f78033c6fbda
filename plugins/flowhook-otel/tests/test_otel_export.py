"""End to end: a program with flowhook-otel installed, configured only by OTEL_* variables,
exporting to a local OTLP/HTTP receiver (protobuf decoded), and to a receiver that is down."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from otlp_receiver import OTLPReceiver, attributes

from flowhook_testing import closed_port

PROGRAM = textwrap.dedent(
    """
    import json, sys, time
    import flowhook

    @flowhook.task
    def double(x: int) -> int:
        return 2 * x

    @flowhook.flow
    def etl(n: int = 2) -> int:
        return double(n) + double(n + 1)

    etl()  # the first run loads the plugins (and so OpenTelemetry's SDK)
    started = time.perf_counter()
    state = etl(return_state=True)
    print(json.dumps({"seconds": time.perf_counter() - started, "run_id": str(state.run_id)}))
    """
)


def run_program(tmp_path: Path, **env: str) -> tuple[dict[str, object], float, str]:
    """Run PROGRAM with ``env``; its output, its wall time, its stderr."""
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment.update(FLOWHOOK_HOME=str(tmp_path / "home"), NO_PROXY="127.0.0.1", **env)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), elapsed, done.stderr


def test_spans_and_metrics_reach_an_otlp_receiver(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output, _, _ = run_program(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_HEADERS="x-tenant=team-data",
            OTEL_SERVICE_NAME="nightly-etl",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
        )
        spans = receiver.spans()
        metric_names = receiver.metric_names()
        headers = [headers for headers, _ in receiver.requests("/v1/traces")]

    assert {span.name for _, span in spans} == {"flow etl", "task double"}
    [(resource, flow_span)] = [
        (resource, span)
        for resource, span in spans
        if attributes(span)["flowhook.run.id"] == output["run_id"]
    ]
    assert resource["service.name"] == "nightly-etl"
    assert resource["deployment.environment"] == "test"
    assert [event.name for event in flow_span.events] == ["Pending", "Running", "Completed"]
    tasks = [span for _, span in spans if span.parent_span_id == flow_span.span_id]
    assert len(tasks) == 2
    assert {task.name for task in tasks} == {"task double"}
    assert all(task.trace_id == flow_span.trace_id for task in tasks)
    assert all(h.get("x-tenant") == "team-data" for h in headers)
    assert {"flowhook.runs", "flowhook.run.duration"} <= metric_names


def test_a_receiver_that_is_down_never_slows_or_fails_the_run(tmp_path: Path) -> None:
    timeout = 1.0
    output, elapsed, stderr = run_program(
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        OTEL_EXPORTER_OTLP_TIMEOUT=str(timeout),
        OTEL_BSP_SCHEDULE_DELAY="10",  # export (and fail) while the second run goes
    )

    # Spans are exported in the background: the run itself does not wait for the receiver
    # (a run of this flow takes a few milliseconds).
    assert float(output["seconds"]) < 0.3  # type: ignore[arg-type]
    # At exit, traces and metrics are each flushed for at most the exporter's timeout.
    assert elapsed < 2 * timeout + 6
    assert "Traceback" not in stderr


def _flowhook(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flowhook")), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWHOOK_HOME": str(tmp_path / "home")},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _run_page(tmp_path: Path, run_id: str) -> str:
    """The run page of ``flowhook ui`` (started here) for ``run_id``."""
    port = closed_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("flowhook")), "ui", "--port", str(port)],
        env={**os.environ, "FLOWHOOK_HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", f"/runs/{run_id}")
                response = connection.getresponse()
                assert response.status == 200
                return response.read().decode()
            except OSError:
                assert server.poll() is None, "flowhook ui exited (is the ui extra installed?)"
                assert time.monotonic() < deadline, "flowhook ui did not answer"
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)


def test_runs_show_and_the_run_page_show_the_trace_id(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        output, _, _ = run_program(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        spans = receiver.spans()
    run_id = str(output["run_id"])
    [flow_span] = [s for _, s in spans if attributes(s)["flowhook.run.id"] == run_id]
    trace_id = flow_span.trace_id.hex()
    task_id = next(
        attributes(s)["flowhook.run.id"] for _, s in spans if s.parent_span_id == flow_span.span_id
    )

    shown = _flowhook(tmp_path, "runs", "show", run_id)
    assert re.search(rf"^Trace +{trace_id}$", shown, re.M)
    assert json.loads(_flowhook(tmp_path, "runs", "show", run_id, "--json"))["trace_id"] == trace_id
    assert re.search(rf"^Trace +{trace_id}$", _flowhook(tmp_path, "runs", "show", task_id), re.M)
    logs = _flowhook(tmp_path, "runs", "logs", run_id)
    assert f"OpenTelemetry trace {trace_id} (span {flow_span.span_id.hex()})" in logs
    assert f'<code class="trace-id">{trace_id}</code>' in _run_page(tmp_path, run_id)


def test_a_run_not_traced_shows_no_trace(tmp_path: Path) -> None:
    output, _, _ = run_program(tmp_path)

    shown = _flowhook(tmp_path, "runs", "show", str(output["run_id"]))
    assert "Trace" not in shown
    assert (
        json.loads(_flowhook(tmp_path, "runs", "show", str(output["run_id"]), "--json"))["trace_id"]
        is None
    )
