"""The dashboard's form posts under the body deadline (HOOKLINE_BODY_READ_TIMEOUT): a
client that promises a form and trickles it gets a 408 page, the connection is not kept
alive, and nothing changes. Real ingest, raw sockets, no browser needed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.ingest.ui.session import SESSION_COOKIE
from tests.chaos.raw_http import request_head
from tests.ingest.conftest import RunningIngest, start_ingest


@pytest.fixture
async def ingest(make_settings) -> AsyncIterator[RunningIngest]:
    running, runner = await start_ingest(make_settings(body_read_timeout=1.0), wait_for_broker=False)
    yield running
    await runner.cleanup()


async def trickle_form(ingest: RunningIngest, path: str, cookie: str = "") -> tuple[list[str], str]:
    """POST a head promising a 200-byte form, send a few bytes of it and stop; the
    response's head lines and text, read without waiting for the server to close."""
    host, port = ingest.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "200"}
    if cookie:
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    writer.write(request_head("POST", path, headers) + b"csrf=abc&na")
    try:
        async with asyncio.timeout(15):
            lines = (await reader.readuntil(b"\r\n\r\n")).decode().strip().split("\r\n")
            length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length:"))
            text = (await reader.readexactly(length)).decode()
    finally:
        writer.transport.abort()
    return lines, text


def header(lines: list[str], name: str) -> str | None:
    return next((x.split(":", 1)[1].strip() for x in lines if x.lower().startswith(f"{name}:")), None)


def assert_too_slow(lines: list[str], text: str) -> None:
    assert lines[0].split()[1] == "408", lines
    assert header(lines, "connection") == "close", lines
    assert "took too long to arrive" in text
    assert header(lines, "set-cookie") is None  # no session was issued


async def test_a_trickled_login_form_is_408(ingest):
    # When a client (no session needed for this form) trickles the login form
    lines, text = await trickle_form(ingest, "/ui/login")
    # Then it gets the 408 page, no session, and the connection is closed
    assert_too_slow(lines, text)


async def log_in(ingest: RunningIngest) -> str:
    """A session cookie, got through the login form as a browser gets it."""
    async with aiohttp.ClientSession(ingest.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get("/ui/login") as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
        form = {"csrf": csrf, "token": ingest.settings.api_token, "next": "/ui/"}
        async with browser.post("/ui/login", data=form, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
        return next(c.value for c in browser.cookie_jar if c.key == SESSION_COOKIE)


@pytest.mark.parametrize(
    "action",
    ["/ui/apps/{app}/endpoints/new", "/ui/apps/{app}/endpoints/ep_x/edit", "/ui/logout"],
)
async def test_a_trickled_form_from_a_logged_in_visitor_is_408_and_changes_nothing(ingest, action):
    # Given a logged-in visitor and an application without endpoints
    cookie = await log_in(ingest)
    async with aiohttp.ClientSession(ingest.url, headers=ingest.headers()) as api:
        async with api.post("/api/v1/app", json={"name": "Deadline"}) as created:
            app = (await created.json())["id"]
        # When the visitor's form arrives a few bytes and then nothing
        lines, text = await trickle_form(ingest, action.format(app=app), cookie)
        # Then a 408 page, the connection closed, and nothing was created
        assert_too_slow(lines, text)
        async with api.get(f"/api/v1/app/{app}/endpoint") as listed:
            assert (await listed.json())["data"] == []
