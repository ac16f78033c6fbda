"""The UI on the PostgreSQL store: the same pages, and a run page that follows its run live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from postgres_server import PostgresServer
from ui_session import UI, serving

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

    pg_ui.follow_a_gated_run(page, tmp_path / "gate")
