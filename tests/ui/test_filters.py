"""Filtering the message log narrows it (application, event type, status, time range),
and pages follow the cursor; the overview shows what waits on the broker."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import create_app, create_endpoint, screenshot, send_message


async def test_filters_narrow_the_log(logged_in, api):
    page = logged_in
    # Given two applications; only the shop has an endpoint, so only its messages wait
    shop, crm = await create_app(api, "Filter Shop"), await create_app(api, "Filter CRM")
    await create_endpoint(api, shop, "https://shop.example.com/hooks")
    paid = [await send_message(api, shop, "invoice.paid", n=n) for n in range(2)]
    refunded = await send_message(api, shop, "invoice.refunded", n=9)
    contact = await send_message(api, crm, "contact.created", n=1)
    everything = [*paid, refunded, contact]

    await page.goto("/ui/messages")
    for message in everything:
        await expect(page.get_by_role("row", name=message["id"])).to_be_visible()

    # When filtering by application, then also by event type
    await page.get_by_label("Application").select_option(label="Filter Shop")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("row", name=contact["id"])).to_have_count(0)
    await expect(page.get_by_role("row", name=refunded["id"])).to_be_visible()
    await page.get_by_label("Event type").fill("invoice.paid")
    await page.get_by_role("button", name="Filter").click()

    # Then only the matching messages remain, and the filters stay filled in
    for message in paid:
        await expect(page.get_by_role("row", name=message["id"])).to_be_visible()
    await expect(page.get_by_role("row", name=refunded["id"])).to_have_count(0)
    await expect(page.get_by_label("Event type")).to_have_value("invoice.paid")
    await screenshot(page, "filters-app-and-type")

    # Delivery status: the CRM message went nowhere, so "pending" leaves it out
    await page.get_by_role("link", name="Clear filters").click()
    await page.get_by_label("Delivery status").select_option("pending")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("row", name=refunded["id"])).to_be_visible()
    await expect(page.get_by_role("row", name=contact["id"])).to_have_count(0)

    # A time range that ends before all of them leaves a plain empty state
    await page.get_by_label("To (UTC)").fill("2020-01-01T00:00")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No message matches these filters.")).to_be_visible()
    await screenshot(page, "filters-empty")


async def test_the_log_pages_with_a_cursor(logged_in, api):
    page = logged_in
    app = await create_app(api, "Many Messages")
    sent = [await send_message(api, app, "bulk.item", n=n) for n in range(53)]  # a page is 50
    await page.goto(f"/ui/messages?app={app['id']}")
    rows = page.locator("#message-log tbody tr")
    await expect(rows).to_have_count(50)
    await expect(page.get_by_role("row", name=sent[-1]["id"])).to_be_visible()  # newest first

    await page.get_by_role("link", name="Older →").click()
    await expect(rows).to_have_count(3)
    await expect(page.get_by_role("row", name=sent[0]["id"])).to_be_visible()
    await expect(page.get_by_label("Application")).to_have_value(app["id"])

    await page.get_by_role("link", name="← Newer").click()
    await expect(rows).to_have_count(50)
    await expect(page.get_by_role("row", name=sent[-1]["id"])).to_be_visible()


async def test_the_overview_shows_what_waits(logged_in, api, db_pool):
    page = logged_in
    # No dispatcher runs here: the delivery tasks stay in the dispatch queue
    app = await create_app(api, "Waiting Room")
    await create_endpoint(api, app, "https://waiting.example.com/hooks")
    for n in range(3):
        await send_message(api, app, "queue.test", n=n)
    await page.goto("/ui/")
    await expect(page.get_by_role("row", name="waiting for delivery")).to_contain_text("3")
    # The database is shared by the whole test run: count what every test left pending
    pending = await db_pool.fetchval("SELECT count(*) FROM message_destination WHERE status = 1")
    assert pending >= 3
    await expect(page.locator("#overview-waiting dd").first).to_have_text(str(pending))
    await screenshot(page, "overview-waiting")
