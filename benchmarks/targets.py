"""Issue 26's targets, checked against a run's figures; and ``import flowhook``'s timing.

Each target names the case and the figure it reads (``run.py``'s labels). A case the run did not
measure is reported as such, never as met.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from typing import Any

#: The three notifier plugins and nothing else (dask, otel and apprise are installed too).
THREE_PLUGINS = {"FLOWHOOK_LOAD_PLUGINS": "logging,slack,email"}

#: (target, case label, figure, "max" or "min", bound, ratio to the pluggy floor?)
TARGETS: list[tuple[str, str, str, str, float, bool]] = [
    (
        "per task run, store on, no plugins",
        "sequential 2k, one argument, store on, no plugins",
        "per_task_us",
        "max",
        15.0,
        True,
    ),
    (
        "per task run, store on, 3 plugins, no rules",
        "sequential 2k, one argument, store on, 3 plugins",
        "per_task_us",
        "max",
        25.0,
        True,
    ),
    (
        "per task run, store on, a rule matching nothing",
        "sequential 2k, one argument, store on, a rule matching nothing",
        "per_task_us",
        "max",
        16.0,
        True,
    ),
    (
        "state events written per second",
        "store write throughput",
        "events_per_s",
        "min",
        150e3,
        False,
    ),
    (
        "per task run on PostgreSQL, against SQLite",
        "PostgreSQL against SQLite, 2k task runs",
        "postgres_over_sqlite",
        "max",
        1.2,
        False,
    ),
    (
        "1M task runs: RSS growth MB",
        "1M task runs in one flow",
        "rss_growth_mb",
        "max",
        150.0,
        False,
    ),
    ("1M task runs: the store MB", "1M task runs in one flow", "store_mb", "max", 1024.0, False),
    ("1M task runs: runs ls ms", "1M task runs in one flow", "runs_ls_ms", "max", 100.0, False),
    (
        "1M task runs: the UI's run page ms",
        "1M task runs in one flow",
        "run_page_ms",
        "max",
        100.0,
        False,
    ),
    ("import flowhook (median of 10)", "import flowhook", "import_ms", "max", 40.0, False),
    (
        "delivery to a local server, one block",
        "delivery to a local Slack-like server",
        "messages_per_s",
        "min",
        1500.0,
        False,
    ),
]


#: The cases a target reads run in this many fresh interpreters, and each target takes the best
#: of them, as issue 26 measured its own figures ("best of 3"): on a shared machine a whole
#: interpreter's run can land in a slow phase, which the median of the runs inside it does not
#: filter out. Every interpreter's figures are kept in the JSON file (``interpreters``).
BEST_OF = 3


def interpreters(case: str) -> int:
    """How many fresh interpreters ``run.py`` runs ``case`` in."""
    return BEST_OF if any(target[1] == case for target in TARGETS) else 1


def figure_read(case: str) -> tuple[str, str]:
    """The figure the first target of ``case`` reads, and whether it is bounded from above
    ("max")."""
    _, _, key, sense, _, _ = next(target for target in TARGETS if target[1] == case)
    return key, sense


def figures_read(case: str) -> list[str]:
    """Every figure the targets read of ``case``."""
    return [target[2] for target in TARGETS if target[1] == case]


def best(case: str, tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of the try with the best figure for ``case``'s first target (the least for a
    bound from above), with every try's figures under ``interpreters`` (each target of the case
    reads its own best there, see :func:`print_targets`); a case no target reads has one try,
    returned as it is."""
    if len(tries) == 1:
        return tries[0]
    key, sense = figure_read(case)
    pick = min if sense == "max" else max
    chosen = pick(tries, key=lambda result: result["figures"][key])
    return {**chosen, "interpreters": [result["figures"] for result in tries]}


#: What a user's script runs first; ``flow`` and ``task`` load on first access (PEP 562), so a
#: bare ``import flowhook`` would leave them out of the figure.
IMPORT_STATEMENT = "from flowhook import flow, task"


def users_environment() -> dict[str, str]:
    """This environment, but with the bytecode cache written and used as on a user's machine:
    under ``PYTHONDONTWRITEBYTECODE`` a fresh interpreter would compile every module whose
    cache is missing or stale, and a timing would measure that."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_ms(python: str) -> float:
    """``from flowhook import flow, task`` in a fresh interpreter, timed inside it (the
    interpreter's own start is left out), in :func:`users_environment`."""
    timed = (
        "import time; started = time.perf_counter(); "
        f"{IMPORT_STATEMENT}; print((time.perf_counter() - started) * 1e3)"
    )
    done = subprocess.run(
        [python, "-c", timed], capture_output=True, text=True, check=True, env=users_environment()
    )
    return float(done.stdout.strip().splitlines()[-1])


def import_time(python: str, repeats: int) -> dict[str, float]:
    """The median of ``repeats`` timings, after one that writes the bytecode cache."""
    import_ms(python)
    return {"import_ms": statistics.median(import_ms(python) for _ in range(repeats))}


def _best_value(row: dict[str, Any], key: str, sense: str) -> float | None:
    """A row's figure ``key``: the best of its interpreters' when it ran in several."""
    tries = [figures[key] for figures in row.get("interpreters", ()) if key in figures]
    if not tries:
        return row["figures"].get(key)  # type: ignore[no-any-return]
    return min(tries) if sense == "max" else max(tries)


def print_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print each target with its measured value, its ratio to the pluggy floor (per task
    figures) and whether it is met; returns a row per measured target, for the JSON file."""
    by_case = {row["case"]: row for row in rows}
    print(f"\n{'target':50} {'measured':>12} {'bound':>10} {'x floor':>8}  target")
    checked = []
    for label, case, key, sense, bound, per_call in TARGETS:
        row = by_case.get(case)
        value = None if row is None else _best_value(row, key, sense)
        if value is None:
            print(f"{label:50} {'-':>12} {bound:10g} {'':>8}  not measured")
            continue
        met = value <= bound if sense == "max" else value >= bound
        ratio = value / row["floor"]["pluggy_call_us"] if per_call and "floor" in row else None
        shown = f"{ratio:.1f}x" if ratio is not None else ""
        print(f"{label:50} {value:12.1f} {bound:10g} {shown:>8}  {'met' if met else 'not met'}")
        figures = {"measured": float(value), "bound": bound}
        if ratio is not None:
            figures["floor_ratio"] = ratio
        checked.append({"case": f"target: {label}", "figures": figures, "met": met})
    return checked
