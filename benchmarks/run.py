"""Run every benchmark and print a table of figures and ratios; write them as JSON too.

    python benchmarks/run.py                 # full sizes (a few minutes)
    python benchmarks/run.py --size tiny     # every workload once, tiny, to check nothing rotted
    python benchmarks/run.py --prefect /path/to/prefect-venv/bin/python
                                             # also the same sequential workload on Prefect 3
    python benchmarks/run.py --compare REV [--against HEAD] [--rounds 3]
                                             # two revisions, each in a venv of its own, run
                                             # alternately; prints new/old per figure
    python benchmarks/run.py --only "store on" --only "RSS"
                                             # only the cases whose label holds one of these

Each workload runs in a fresh interpreter, with the floor (a plain Python call and a raw pluggy
hook call) measured in that same interpreter, so that the ratios compare across machines.
Figures are medians of several runs; a case a target reads runs in three interpreters, and
each target takes the best of them (``targets.BEST_OF``), as issue 26 measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from targets import (  # noqa: E402
    THREE_PLUGINS,
    best,
    figures_read,
    import_time,
    interpreters,
    print_targets,
)

#: (label, workload, full size, tiny size, environment)
CASES: list[tuple[str, str, int, int, dict[str, str]]] = [
    (
        "sequential 1k, store off, no plugins",
        "sequential",
        1_000,
        20,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    (
        "sequential 1k, one argument, store off",
        "sequential_one_argument",
        1_000,
        20,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    (
        "sequential 1k, store on, no plugins",
        "sequential",
        1_000,
        20,
        {"FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    ("sequential 1k, store on, 3 plugins", "sequential", 1_000, 20, THREE_PLUGINS),
    # issue 26's cases: a task taking one int argument, 2,000 runs in one flow; logging left as
    # Python starts it (the logging plugin's transition lines are then off, as by default)
    (
        "sequential 2k, one argument, store on, no plugins",
        "sequential_one_argument",
        2_000,
        20,
        {"FLOWHOOK_DISABLE_PLUGINS": "all", "BENCH_LOGGING": "default"},
    ),
    (
        "sequential 2k, one argument, store on, 3 plugins",
        "sequential_one_argument",
        2_000,
        20,
        {**THREE_PLUGINS, "BENCH_LOGGING": "default"},
    ),
    # the rule's block is flowhook-logging's: the one plugin it needs, and no other
    (
        "sequential 2k, one argument, store on, a rule matching nothing",
        "sequential_one_argument",
        2_000,
        20,
        {
            "FLOWHOOK_LOAD_PLUGINS": "logging",
            "BENCH_LOGGING": "default",
            "FLOWHOOK_CONFIG": str(HERE / "rule_matching_nothing.toml"),
        },
    ),
    (
        "sequential 2k, one argument, store on, 3 plugins, a rule matching nothing",
        "sequential_one_argument",
        2_000,
        20,
        {
            **THREE_PLUGINS,
            "BENCH_LOGGING": "default",
            "FLOWHOOK_CONFIG": str(HERE / "rule_matching_nothing.toml"),
        },
    ),
    # an async flow of async task runs: the plugins' hooks move each step to a worker thread
    # unless every implementation says it never blocks (flowhook-logging's do)
    (
        "async 2k, one argument, store on, no plugins",
        "async_sequential",
        2_000,
        20,
        {"FLOWHOOK_DISABLE_PLUGINS": "all", "BENCH_LOGGING": "default"},
    ),
    (
        "async 2k, one argument, store on, 3 plugins",
        "async_sequential",
        2_000,
        20,
        {**THREE_PLUGINS, "BENCH_LOGGING": "default"},
    ),
    # the same with the transition lines on, to a handler that discards them
    (
        "sequential 2k, one argument, store on, 3 plugins, transition lines logged",
        "sequential_one_argument",
        2_000,
        20,
        THREE_PLUGINS,
    ),
    # flowhook-otel and flowhook-apprise alone, installed and not configured (no OTEL_* variable
    # in the environment, no apprise block in a rule), then flowhook-otel exporting every span.
    (
        "sequential 1k, store off, otel unconfigured",
        "sequential",
        1_000,
        20,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_LOAD_PLUGINS": "otel"},
    ),
    (
        "sequential 1k, store off, apprise unconfigured",
        "sequential",
        1_000,
        20,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_LOAD_PLUGINS": "apprise"},
    ),
    (
        "sequential 1k, store off, otel to local OTLP",
        "sequential_otlp",
        1_000,
        20,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_LOAD_PLUGINS": "otel"},
    ),
    (
        "sequential 100k, store off, no plugins",
        "sequential",
        100_000,
        50,
        {"FLOWHOOK_STORE": "off", "FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    ("sequential 100k, store on, 3 plugins", "sequential", 100_000, 50, THREE_PLUGINS),
    ("dispatch, 0 implementations", "dispatch", 0, 0, {}),
    ("dispatch, 1 implementation", "dispatch", 1, 1, {}),
    ("dispatch, 10 implementations", "dispatch", 10, 10, {}),
    (
        "10k submitted tasks, thread pool",
        "submitted",
        10_000,
        20,
        {"FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    ("10k async tasks, gathered", "gathered", 10_000, 20, {"FLOWHOOK_DISABLE_PLUGINS": "all"}),
    (
        "100k sequential tasks: RSS growth",
        "memory",
        100_000,
        50,
        {"FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    ("store write throughput", "store_writes", 10_000, 20, {"FLOWHOOK_DISABLE_PLUGINS": "all"}),
    (
        "delivery to a local Slack-like server",
        "delivery",
        500,
        5,
        {"FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    (
        "PostgreSQL against SQLite, 2k task runs",
        "postgres_ratio",
        2_000,
        20,
        {"FLOWHOOK_DISABLE_PLUGINS": "all"},
    ),
    ("1M task runs in one flow", "million", 1_000_000, 200, {"FLOWHOOK_DISABLE_PLUGINS": "all"}),
    ("store copy, 2k flow runs", "store_copy", 2_000, 5, {"FLOWHOOK_DISABLE_PLUGINS": "all"}),
]


def run_case(
    workload: str, size: int, env: dict[str, str], home: Path, python: str = sys.executable
) -> dict[str, Any]:
    # The writer's steady state: the writer process (FLOWHOOK_STORE_WRITER=auto's choice on two
    # cores or more) writes from the first write, as the thread does; a script pays its start
    # once (writer_process_probe.py measures it).
    environment = {
        "FLOWHOOK_STORE_WRITER_WAIT": "1",
        **os.environ,
        "FLOWHOOK_HOME": str(home),
        **env,
    }
    done = subprocess.run(
        [python, str(HERE / "workloads.py"), workload, str(size)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark {workload} ({size}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _fresh_run(workload: str, size: int, env: dict[str, str]) -> dict[str, Any]:
    """:func:`run_case` on a fresh database: the store's cost grows with the size of the
    database, so a reused one would make every benchmark run slower than the last."""
    with tempfile.TemporaryDirectory(prefix="flowhook-bench-") as home:
        return run_case(workload, size, env, Path(home))


def _tries(case: str, result: dict[str, Any]) -> str:
    """Each figure a target reads, in each interpreter of a case run in several."""
    return "; ".join(
        f"{key} " + ", ".join(f"{figures[key]:.3f}" for figures in result["interpreters"])
        for key in figures_read(case)
    )


def _last_json_line(output: str) -> dict[str, Any] | None:
    """The last line of ``output`` that is a JSON object holding ``figures``, if any."""
    for line in reversed(output.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "figures" in parsed:
            return parsed
    return None


def compare_with_prefect(python: str, size: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sequential workload on Prefect 3, run by ``python``, against flowhook's default."""
    done = subprocess.run(
        [python, str(HERE / "prefect_workload.py"), str(size)],
        capture_output=True,
        text=True,
        check=False,
        env={
            **{key: value for key, value in os.environ.items() if not key.startswith("FLOWHOOK_")},
            # Prefect's temporary server is on 127.0.0.1: keep proxies out of its way, give it
            # time to start on a small machine, and send nothing anywhere else.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        },
    )
    printed = _last_json_line(done.stdout)
    if printed is None:
        raise SystemExit(f"the Prefect workload failed with {python}:\n{done.stderr[-3000:]}")
    if done.returncode != 0:
        # the figure was printed: what failed came after, in the temporary server's shutdown
        last_error = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        print(
            f"(Prefect's workload exited with {done.returncode} after printing its figure: "
            f"{last_error[:200]})"
        )
    prefect = printed["figures"]
    ours = next(row for row in rows if row["case"] == "sequential 1k, store on, 3 plugins")
    ratio = prefect["per_task_us"] / ours["figures"]["per_task_us"]
    label = f"Prefect 3, sequential {size}"
    print(f"{label:42} {'per_task_us':16} {prefect['per_task_us']:12.3f}  {ratio:.0f}x flowhook's")
    return {"case": label, "figures": {**prefect, "times_flowhook": ratio}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument(
        "--prefect",
        metavar="PYTHON",
        help="the interpreter of an environment with Prefect 3 installed: also run the "
        "sequential-task workload on Prefect and report the ratio (never in CI)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "latest.json",
        help="where to write the results",
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="build REV and --against (default HEAD) in temporary venvs and run every case on "
        "both, alternately, printing each figure's ratio (see benchmarks/compare.py)",
    )
    parser.add_argument("--against", metavar="REV", default="HEAD")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case on each side")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        help="run only the cases whose label contains TEXT (repeat it for several)",
    )
    args = parser.parse_args()
    cases = [case for case in CASES if not args.only or any(t in case[0] for t in args.only)]
    tiny = args.size == "tiny"
    if tiny:
        os.environ.setdefault("BENCH_REPEATS", "1")
    if args.compare:
        from compare import compare

        rows = compare(args.compare, args.against, cases, args.rounds, tiny, run_case)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"\nwrote {args.json}")
        return
    rows: list[dict[str, Any]] = []
    for label, workload, full_size, tiny_size, env in cases:
        size = tiny_size if tiny else full_size
        tries = [_fresh_run(workload, size, env) for _ in range(1 if tiny else interpreters(label))]
        result = best(label, tries)
        rows.append({"case": label, **result})
        floor = result["floor"]
        for key, value in result["figures"].items():
            ratio = ""
            if key.endswith("_us"):
                ratio = f"{value / floor['pluggy_call_us']:.1f}x pluggy call"
            print(f"{label:42} {key:16} {value:12.3f}  {ratio}")
        if "interpreters" in result:
            print(f"{label:42} (the best of {len(tries)} interpreters: {_tries(label, result)})")
    if args.prefect:
        rows.append(compare_with_prefect(args.prefect, 20 if tiny else 1_000, rows))
    imported = import_time(sys.executable, 1 if tiny else 10)
    rows.append({"case": "import flowhook", "figures": imported})
    print(
        f"{'import flowhook (fresh interpreter)':42} {'import_ms':16} {imported['import_ms']:12.1f}"
    )
    rows.extend(print_targets(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
