"""Make the screenshots of docs/ui.md: a flow with 50 tasks, run into a temporary store, and
the UI's pages of it, taken by Playwright with Debian's chromium.

    .venv/bin/python docs/screenshots.py [--out DIR]   # writes DIR/ui-runs.png, DIR/ui-run.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from browser import free_port, launch, start_ui, stop  # noqa: E402

OUT = ROOT / "docs" / "_static"

FLOW = textwrap.dedent(
    """
    import random
    import time

    from flowhook import flow, get_run_logger, task

    random.seed(7)


    @task(retries=1, retry_delay_seconds=0.05)
    def load(part: int) -> int:
        time.sleep(random.uniform(0.02, 0.25))
        if part == 31:
            raise ValueError(f"part {part}: bad checksum")
        return part


    @task
    def publish(total: int) -> int:
        time.sleep(0.1)
        return total


    @flow(flow_run_name="nightly-{day}")
    def nightly(day: str, parts: int = 49) -> int:
        logger = get_run_logger()
        futures = [load.submit(part) for part in range(parts)]
        loaded = [f.result(raise_on_failure=False) for f in futures]
        good = [value for value in loaded if isinstance(value, int)]
        logger.info("loaded %d of %d parts", len(good), parts)
        return publish(sum(good))


    @flow
    def hourly() -> None:
        time.sleep(0.05)


    for _ in range(3):
        hourly()
    nightly("2026-12-01")
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the PNG files")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        script = Path(home) / "nightly.py"
        script.write_text(FLOW)
        env = {"FLOWHOOK_HOME": home}
        subprocess.run([sys.executable, str(script)], env=env, check=True, capture_output=True)
        port = free_port()
        server = start_ui(env, port)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                page.screenshot(path=str(out / "ui-runs.png"), full_page=True)
                page.click("text=nightly-2026-12-01")
                page.wait_for_selector("svg.timeline rect.bar")
                page.screenshot(path=str(out / "ui-run.png"), full_page=True)
                browser.close()
        finally:
            stop(server)
    print(f"wrote {out / 'ui-runs.png'} and {out / 'ui-run.png'}")


if __name__ == "__main__":
    main()
