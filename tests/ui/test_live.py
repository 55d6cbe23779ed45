"""Live: a message sent through the API appears on the open message log and overview,
with its attempt, without a reload (server-sent events; the real dispatcher delivers)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.dispatcher.conftest import running_dispatcher
from tests.ui.conftest import (
    assert_not_reloaded,
    create_app,
    create_endpoint,
    screenshot,
    send_message,
    wait_live,
)


async def test_a_new_message_and_its_attempt_appear_live(logged_in, api, settings, receiver):
    page = logged_in
    app = await create_app(api, "Live Shop")
    await create_endpoint(api, app, f"{receiver.url}/orders")
    async with running_dispatcher(settings):
        # Given the message log open, with nothing in it yet
        await page.goto(f"/ui/messages?app={app['id']}")
        await expect(page.get_by_text("No message matches these filters")).to_be_visible()
        await wait_live(page)

        # When a message is sent through the API and the dispatcher delivers it
        message = await send_message(api, app, "order.created", order="o-1")

        # Then its row appears with its delivery and the attempt's status code
        row = page.get_by_role("row", name=message["id"])
        await expect(row).to_contain_text("order.created")
        await expect(row).to_contain_text("1 success")
        await expect(row.locator(".code")).to_have_text("200")
        await assert_not_reloaded(page)
        await screenshot(page, "live-message-log")
        assert len(receiver.at("/orders")) == 1

        # And the overview counts the next delivery while it is open
        # (the database, so the chart, is shared by the whole test run: count from here)
        await page.get_by_role("link", name="Overview").click()
        await wait_live(page)
        delivered = page.locator(".legend strong").first
        before = int(await delivered.inner_text())
        assert before >= 1
        await send_message(api, app, "order.created", order="o-2")
        await expect(delivered).to_have_text(str(before + 1))
        await assert_not_reloaded(page)
        await screenshot(page, "live-overview")
