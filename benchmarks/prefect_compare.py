"""flowhook against Prefect 3, side by side: the same flow of trivial sequential tasks.

    python benchmarks/prefect_compare.py [--size 1000] [--prefect-version '>=3.9,<4']

Installs Prefect in a temporary virtual environment (from the package index; a minute or two,
and never part of ``make test``), runs ``prefect_workload.py`` there, with Prefect's own
temporary local server on 127.0.0.1, and flowhook's workloads here, and prints per task run
times and their ratio. Pass ``--python`` to reuse an environment that has Prefect already.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from run import CASES, compare_with_prefect, run_case

#: flowhook's side of the table: its default (store on, three plugins) and its floor.
FLOWHOOK_CASES = ("sequential 1k, store on, 3 plugins", "sequential 1k, store off, no plugins")


def prefect_python(directory: Path, version: str) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = str(directory / "bin" / "python")
    print(f"installing prefect{version} in {directory} ...", flush=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"prefect{version}"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000)
    parser.add_argument("--prefect-version", default=">=3.9,<4")
    parser.add_argument("--python", help="an interpreter with Prefect installed already")
    args = parser.parse_args()
    rows = []
    for label, workload, _, _, env in CASES:
        if label in FLOWHOOK_CASES:
            with tempfile.TemporaryDirectory(prefix="flowhook-bench-") as home:
                result = run_case(workload, args.size, env, Path(home))
            per_task = result["figures"]["per_task_us"]
            print(f"flowhook, {label:40} per_task_us {per_task:12.3f}")
            rows.append({"case": label, **result})
    with tempfile.TemporaryDirectory(prefix="flowhook-prefect-") as directory:
        python = args.python or prefect_python(Path(directory) / "venv", args.prefect_version)
        version = subprocess.run(
            [python, "-c", "import prefect; print(prefect.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"Prefect {version}")
        compare_with_prefect(python, args.size, rows)


if __name__ == "__main__":
    main()
