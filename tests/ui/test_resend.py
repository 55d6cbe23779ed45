"""A failed delivery shows on the overview as a failing endpoint, is resent from its
message page, and the new attempt shows (the real dispatcher and a real receiver)."""

from __future__ import annotations

import pytest
from aiohttp import web
from playwright.async_api import expect

from tests.dispatcher.conftest import running_dispatcher
from tests.ui.conftest import create_app, create_endpoint, screenshot, send_message, wait_live


@pytest.fixture
def settings(make_settings):
    # One retry half a second after the first attempt, then the dead-letter queue.
    return make_settings(retry_schedule=[0.5])


async def unavailable(_request: web.Request, n: int) -> web.StreamResponse:
    return web.Response(status=503, text=f"down for maintenance ({n})")


async def test_resend_a_failed_delivery(logged_in, api, settings, receiver):
    page = logged_in
    app = await create_app(api, "Flaky Partner")
    endpoint = await create_endpoint(api, app, f"{receiver.url}/partner")
    receiver.behaviours["/partner"] = unavailable
    async with running_dispatcher(settings):
        message = await send_message(api, app, "invoice.paid", invoice="in_1")

        # Given a delivery that failed both its attempts
        await page.goto(f"/ui/apps/{app['id']}/messages/{message['id']}")
        await wait_live(page)
        delivery = page.get_by_role("article")
        await expect(delivery.locator(".destination-head .badge")).to_have_text("fail", timeout=15_000)
        await expect(delivery.get_by_role("row").filter(has_text="503")).to_have_count(2)
        await expect(delivery).to_contain_text("down for maintenance (2)")
        await expect(page.locator("pre.json")).to_contain_text('"invoice": "in_1"')
        await screenshot(page, "resend-before")

        # ...which the overview lists as a failing endpoint
        await page.get_by_role("link", name="Overview").click()
        failing = page.get_by_role("row", name=endpoint["url"])
        await expect(failing).to_contain_text("503")
        await expect(failing).to_contain_text("Flaky Partner")
        await screenshot(page, "overview-failing-endpoint")

        # When the partner is fixed and the operator presses Resend on the message page
        receiver.behaviours.pop("/partner")
        await page.go_back()
        await page.get_by_role("button", name=f"Resend to {endpoint['url']}").click()
        await expect(page.get_by_role("status")).to_contain_text("Resend queued")

        # Then the manual attempt appears and the delivery is a success
        manual = delivery.get_by_role("row").filter(has_text="manual")
        await expect(manual).to_contain_text("200")
        await expect(delivery.locator(".destination-head .badge")).to_have_text("success")
        await screenshot(page, "resend-after")
    assert len(receiver.at("/partner")) == 3

    # And the overview no longer lists the endpoint as failing (other tests' may be: one database)
    await page.get_by_role("link", name="Overview").click()
    await expect(page.get_by_role("heading", name="Failing endpoints")).to_be_visible()
    await expect(page.get_by_role("row", name=endpoint["url"])).to_have_count(0)
