"""A message whose payload was expunged through the API says so on its page and in the
message log, instead of showing Svix's ``{"expired": true}`` stand-in as if it were the
payload, and offers no Resend."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import create_app, create_endpoint, screenshot, send_message


async def test_an_expunged_payload_is_named_as_such(logged_in, api):
    page = logged_in
    app = await create_app(api, "Expunging Shop")
    endpoint = await create_endpoint(api, app, "https://shop.example.com/hooks")
    gone = await send_message(api, app, "card.added", card="4111-1111")
    kept = await send_message(api, app, "card.added", card="5500-0000")

    # Given a message shown with its payload and a Resend button
    await page.goto(f"/ui/apps/{app['id']}/messages/{gone['id']}")
    await expect(page.locator("pre.json")).to_contain_text("4111-1111")
    resend = page.get_by_role("button", name=f"Resend to {endpoint['url']}")
    await expect(resend).to_be_visible()

    # When its payload is expunged through the API
    async with api.delete(f"/api/v1/app/{app['id']}/msg/{gone['id']}/content") as response:
        assert response.status == 204

    # Then its page says so, shows no payload and offers no resend
    await page.reload()
    payload = page.get_by_role("region", name="Payload")
    await expect(payload).to_contain_text("Payload expunged")
    await expect(payload.locator("pre.json")).to_have_count(0)
    await expect(page.get_by_text("expired")).to_have_count(0)
    await expect(resend).to_have_count(0)
    await screenshot(page, "message-expunged")

    # And the message log marks it, and only it
    await page.goto(f"/ui/messages?app={app['id']}")
    await expect(page.get_by_role("row", name=gone["id"])).to_contain_text("payload expunged")
    await expect(page.get_by_role("row", name=kept["id"])).not_to_contain_text("payload expunged")
    await page.goto(f"/ui/apps/{app['id']}/messages/{kept['id']}")
    await expect(page.locator("pre.json")).to_contain_text("5500-0000")
