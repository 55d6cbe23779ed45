"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against
ingest (and, where a scenario needs deliveries, the real dispatcher) on local ports.

Each test gets its own browser context (no cookies), its own ingest with a fresh
broker prefix, and saves screenshots under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.dispatcher.conftest import receiver  # noqa: F401  (a fixture: the real receiver)
from tests.ingest.conftest import RunningIngest, start_ingest

CHROMIUM = os.environ.get("HOOKLINE_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which this
# machine's closed network refuses; --no-sandbox because tests run as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def ingest(settings) -> AsyncIterator[RunningIngest]:
    running, runner = await start_ingest(settings)
    yield running
    await runner.cleanup()


@asynccontextmanager
async def open_page(browser: Browser, ingest: RunningIngest) -> AsyncIterator[Page]:
    """A page in a fresh browser context (no cookies) on this ingest."""
    context = await browser.new_context(base_url=ingest.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    # Script errors and Content-Security-Policy violations show up on the console.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and _is_problem(m.text) else None
    )
    try:
        yield page
    finally:
        # Close first: an open event stream would hold ingest's shutdown.
        await context.close()
    assert not problems, f"the browser reported errors: {problems}"


@pytest.fixture
async def page(browser: Browser, ingest: RunningIngest) -> AsyncIterator[Page]:
    async with open_page(browser, ingest) as page:
        yield page


def _is_problem(text: str) -> bool:
    # Pages answered with 4xx on purpose (a refused login, a refused form) are logged too.
    return not text.startswith("Failed to load resource: the server responded with a status of 4")


@pytest.fixture
async def api(ingest: RunningIngest) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=ingest.url, headers=ingest.headers()) as session:
        yield session


async def create_app(api: aiohttp.ClientSession, name: str) -> dict:
    async with api.post("/api/v1/app", json={"name": name}) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def create_endpoint(api: aiohttp.ClientSession, app: dict, url: str, **fields: object) -> dict:
    async with api.post(f"/api/v1/app/{app['id']}/endpoint", json={"url": url, **fields}) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def send_message(api: aiohttp.ClientSession, app: dict, event_type: str, **payload: object) -> dict:
    body = {"eventType": event_type, "payload": payload}
    async with api.post(f"/api/v1/app/{app['id']}/msg", json=body) as response:
        assert response.status == 202, await response.text()
        return await response.json()


async def wait_live(page: Page) -> None:
    """The page's event stream is open: what happens from now on shows without a reload."""
    await expect(page.locator("body[data-live=on]")).to_have_count(1)
    # A marker a reload would wipe: proves later changes came without one.
    await page.evaluate("window.hooklineNoReload = true")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.hooklineNoReload === true")


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in(page: Page, token: str, path: str = "/ui/") -> None:
    await page.goto(path)
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.fixture
async def logged_in(page: Page, ingest: RunningIngest) -> Page:
    await log_in(page, ingest.settings.api_token)
    return page
