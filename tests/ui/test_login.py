"""Logging in and out, and what is refused: a wrong token, a form without its CSRF token."""

from __future__ import annotations

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import log_in, screenshot


async def test_log_in_lands_on_the_overview(page, ingest):
    # Given a visitor without a session who asks for a page
    await page.goto("/ui/messages")
    # Then the login form is shown instead
    await expect(page.get_by_role("heading", name="Log in to Hookline")).to_be_visible()

    # When they log in with the API token
    await page.get_by_label("API token").fill(ingest.settings.api_token)
    await page.get_by_role("button", name="Log in").click()

    # Then they reach the page they asked for, with a session cookie the scripts can't read
    await expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["hookline_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert ingest.settings.api_token not in session["value"]
    await page.get_by_role("link", name="Overview").click()
    await expect(page.get_by_role("heading", name="Deliveries per minute, last hour")).to_be_visible()
    await expect(page.get_by_text("waiting for delivery")).to_be_visible()
    await screenshot(page, "login-overview")


async def test_a_wrong_token_is_refused(page, ingest):
    # With the keyboard alone: the token field has the focus, Enter sends the form
    await page.goto("/ui/")
    await expect(page.get_by_label("API token")).to_be_focused()
    await page.keyboard.type("not-the-token")
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("alert")).to_contain_text("That token is not right")
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    assert "hookline_session" not in {c["name"] for c in await page.context.cookies()}
    await screenshot(page, "login-wrong-token")


async def test_log_out_ends_the_session(page, ingest):
    await log_in(page, ingest.settings.api_token)
    cookie = {c["name"]: c["value"] for c in await page.context.cookies()}["hookline_session"]
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("status")).to_have_text("You are logged out.")

    # The old cookie, replayed, no longer opens a page
    async with aiohttp.ClientSession(cookies={"hookline_session": cookie}) as client:
        async with client.get(f"{ingest.url}/ui/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/ui/login")


async def test_a_form_without_its_csrf_token_changes_nothing(page, ingest, api):
    await log_in(page, ingest.settings.api_token)
    async with api.post("/api/v1/app", json={"name": "Csrf"}) as response:
        app = await response.json()
    async with api.post(
        f"/api/v1/app/{app['id']}/endpoint", json={"url": "https://example.com/x"}
    ) as response:
        endpoint = await response.json()
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}

    # A form post carrying the session cookie but not the page's CSRF token (what a
    # forged cross-site form would send) is refused, and the endpoint stays enabled
    async with aiohttp.ClientSession(cookies=cookies) as client:
        url = f"{ingest.url}/ui/apps/{app['id']}/endpoints/{endpoint['id']}/disable"
        async with client.post(url, data={"csrf": "forged"}, allow_redirects=False) as response:
            assert response.status == 403
            assert "nothing was changed" in await response.text()
    async with api.get(f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}") as response:
        assert (await response.json())["disabled"] is False
