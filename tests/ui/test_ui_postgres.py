"""The UI on the PostgreSQL store: the same pages, and a run page that follows its run live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import UI, serving
from playwright.sync_api import Page, expect
from postgres_server import PostgresServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_ui(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UI]:
    url = postgres_server.new_database()
    home = tmp_path_factory.mktemp("ui-pg-home")
    try:
        with serving(home, FLOWHOOK_STORE_URL=url, FLOWHOOK_STORE_AUTO_MIGRATE="1") as session:
            yield session
    finally:
        postgres_server.drop_database(url)


def test_the_runs_list_and_a_live_run_page_on_postgresql(
    pg_ui: UI, page: Page, tmp_path: Path
) -> None:
    assert pg_ui.store.location.startswith("postgresql://")
    page.goto(pg_ui.url + "/?state=failed")
    expect(page.locator("tr.run-row")).to_have_count(1)
    expect(page.locator("tr.run-row")).to_contain_text("broken-run")

    gate = tmp_path / "gate"
    process = pg_ui.start_flow("gated", str(gate))
    try:
        run = pg_ui.wait_for(lambda: pg_ui.runs("gated", "running"), "the gated flow to run")[0]
        page.goto(f"{pg_ui.url}/runs/{run.id}")
        expect(page.locator("#run-state")).to_have_text("Running")
        gate.touch()
        expect(page.locator("#run-state")).to_have_text("Completed", timeout=5_000)
        expect(page.locator("svg.timeline rect.bar")).to_have_count(1)
    finally:
        process.wait(timeout=30)
