"""``run.py --compare REV``: the benchmarks of two revisions, run alternately on one machine.

Each revision is exported with ``git archive`` into a temporary directory and installed, with
the three notifier plugins the "3 plugins" cases name (Slack, email, logging) and nothing else,
into a virtual environment of its own: both sides get the same plugins, whatever else either
tree holds. Every case then runs ``rounds`` times on each side, alternating (old, new, new, old,
...) so that a machine that slows down or speeds up during the run weighs on both alike. The
workloads are this tree's ``workloads.py`` for both sides, so they measure the same thing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: The distributions each side installs, from its own tree.
PACKAGES = (
    "./hookspec",
    "./testing",
    ".[postgres,ui]",  # the PostgreSQL case needs the driver, the million case serves the UI
    "./plugins/flowhook-slack",
    "./plugins/flowhook-email",
    "./plugins/flowhook-logging",
    "./plugins/flowhook-otel",  # the otel cases measure it, not its absence
    "./plugins/flowhook-apprise",
)

#: A figure worse than this ratio is flagged (the issues' "no figure more than 5 % worse").
TOLERANCE = 1.05


def build(revision: str, directory: Path) -> str:
    """Export ``revision`` into ``directory`` and install it in a venv there; its python."""
    source = directory / "src"
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    print(f"installing {revision} in {venv} ...", flush=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", *PACKAGES],
        cwd=source,
        check=True,
    )
    return python


def better(key: str) -> str:
    """Which way is better for a figure: ``"higher"`` for rates, ``"lower"`` for the rest."""
    return "higher" if key.endswith("_per_s") else "lower"


def worse_by(key: str, old: float, new: float) -> float:
    """How many times worse ``new`` is than ``old`` (below 1: better)."""
    if old == 0 or new == 0:
        return 1.0
    return old / new if better(key) == "higher" else new / old


def compare(
    old_revision: str,
    new_revision: str,
    cases: list[tuple[str, str, int, int, dict[str, str]]],
    rounds: int,
    tiny: bool,
    run_case: Any,
) -> list[dict[str, Any]]:
    """Run every case on both revisions, alternately; a row per figure, printed as it comes."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="flowhook-compare-") as scratch:
        pythons = {
            "old": build(old_revision, Path(scratch) / "old"),
            "new": build(new_revision, Path(scratch) / "new"),
        }
        header = f"{'case':42} {'figure':16} {old_revision[:10]:>12} {new_revision[:10]:>12}"
        print(f"\n{header}  new/old (worse by)")
        for label, workload, full_size, tiny_size, env in cases:
            size = tiny_size if tiny else full_size
            samples: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for round_ in range(rounds):
                order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
                for side in order:
                    with tempfile.TemporaryDirectory(prefix="flowhook-bench-") as home:
                        result = run_case(workload, size, env, Path(home), pythons[side])
                    samples[side].append(result["figures"])
            for key in samples["old"][0]:
                old = statistics.median(figures[key] for figures in samples["old"])
                new = statistics.median(figures[key] for figures in samples["new"])
                factor = worse_by(key, old, new)
                flag = "  WORSE" if factor > TOLERANCE else ""
                print(
                    f"{label:42} {key:16} {old:12.3f} {new:12.3f}  "
                    f"{new / old if old else 0:.3f} ({factor:.3f}){flag}",
                    flush=True,
                )
                rows.append(
                    {"case": label, "figure": key, "old": old, "new": new, "worse_by": factor}
                )
        rows.extend(import_rows(pythons, rounds))
    return rows


def import_rows(pythons: dict[str, str], rounds: int) -> list[dict[str, Any]]:
    """``import flowhook`` on both sides, alternately, ``5 * rounds`` times each."""
    from targets import import_ms

    timings: dict[str, list[float]] = {"old": [], "new": []}
    for side in ("old", "new"):
        import_ms(pythons[side])  # writes the bytecode cache
    for _ in range(5 * rounds):
        for side in ("old", "new"):
            timings[side].append(import_ms(pythons[side]))
    old, new = statistics.median(timings["old"]), statistics.median(timings["new"])
    factor = worse_by("import_ms", old, new)
    flag = "  WORSE" if factor > TOLERANCE else ""
    label = "import flowhook (fresh interpreter)"
    print(f"{label:42} {'import_ms':16} {old:12.1f} {new:12.1f}  {new / old:.3f}{flag}")
    return [{"case": label, "figure": "import_ms", "old": old, "new": new, "worse_by": factor}]
