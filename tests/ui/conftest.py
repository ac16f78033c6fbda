"""Fixtures of the UI's tests: one ``flowhook ui`` server and one headless Chromium for the
session (see :mod:`ui_session`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import launch
from playwright.sync_api import Browser, Page, sync_playwright
from ui_session import UI, serving


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    with serving(tmp_path_factory.mktemp("ui-home")) as session:
        yield session


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        opened = launch(playwright)
        yield opened
        opened.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    opened.close()
