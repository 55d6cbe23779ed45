"""The event type catalogue: descriptions, archived types on request, a way to their messages."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import screenshot


async def test_the_catalogue(logged_in, api):
    page = logged_in
    # Event types are global to the installation: names unique to this test
    suffix = (await page.evaluate("crypto.randomUUID()"))[:6]
    live, archived = f"shipment.sent.{suffix}", f"shipment.lost.{suffix}"
    schema = {"1": {"type": "object", "properties": {"tracking": {"type": "string"}}}}
    for name, extra in ((live, {"schemas": schema}), (archived, {"archived": True})):
        body = {"name": name, "description": f"When a shipment is {name.split('.')[1]}", **extra}
        async with api.post("/api/v1/event-type", json=body) as response:
            assert response.status == 201

    await page.get_by_role("link", name="Event types").click()
    row = page.get_by_role("row", name=live)
    await expect(row).to_contain_text("When a shipment is sent")
    await expect(row).to_contain_text("active")
    await expect(page.get_by_role("row", name=archived)).to_have_count(0)
    await screenshot(page, "event-types")

    await page.get_by_role("link", name="Show archived types too").click()
    await expect(page.get_by_role("row", name=archived)).to_contain_text("archived")

    await page.get_by_role("link", name=live).click()
    await expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    await expect(page.get_by_label("Event type")).to_have_value(live)
    await expect(page.get_by_text("No message matches these filters.")).to_be_visible()
