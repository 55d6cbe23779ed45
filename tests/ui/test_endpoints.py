"""Endpoints through the dashboard: create, a refused URL keeps what was typed, edit,
disable and enable, reveal and rotate the secret, delete, recover failures."""

from __future__ import annotations

from aiohttp import web
from playwright.async_api import expect

from tests.dispatcher.conftest import running_dispatcher
from tests.ui.conftest import create_app, create_endpoint, screenshot, send_message


async def refuse(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(status=500, text="not today")


async def test_create_an_endpoint_through_the_form(logged_in, api):
    page = logged_in
    # Given an application and an event type catalogue (global: names unique to this test)
    app = await create_app(api, "Acme Billing")
    paid, failed = f"invoice.paid.{app['id'][-5:]}", f"invoice.failed.{app['id'][-5:]}"
    for name in (paid, failed):
        async with api.post("/api/v1/event-type", json={"name": name, "description": name}) as response:
            assert response.status == 201

    # When an operator adds an endpoint through the form
    await page.goto("/ui/apps")
    await page.get_by_role("link", name="Acme Billing").click()
    await expect(page.get_by_text("This application has no endpoints yet")).to_be_visible()
    await page.get_by_role("link", name="Add endpoint").click()
    await page.get_by_label("URL").fill("https://hooks.example.com/acme")
    await page.get_by_label("Description").fill("Billing system")
    await page.get_by_label(paid).check()
    await page.get_by_label("Channels").fill("eu, us")
    await page.get_by_label("Throttle rate").fill("25")
    await page.get_by_label("Custom headers").fill("X-Tenant: acme\nAuthorization: Bearer s3cret")
    await screenshot(page, "endpoint-form")
    await page.get_by_role("button", name="Create endpoint").click()

    # Then its page shows what was entered, the credential header by name only
    await expect(page.get_by_role("status")).to_have_text("Endpoint created.")
    await expect(page.get_by_role("heading", name="https://hooks.example.com/acme")).to_be_visible()
    settings = page.locator("dl.props")
    await expect(settings).to_contain_text(paid)
    await expect(settings).to_contain_text("eu, us")
    await expect(settings).to_contain_text("25 messages per second")
    await expect(settings).to_contain_text("X-Tenant: acme")
    await expect(settings).to_contain_text("Authorization: (hidden)")
    await expect(page.get_by_text("s3cret")).to_have_count(0)
    await expect(page.get_by_text("No attempts yet")).to_be_visible()
    await screenshot(page, "endpoint-created")

    # And the API agrees
    async with api.get(f"/api/v1/app/{app['id']}/endpoint") as response:
        [endpoint] = (await response.json())["data"]
    assert endpoint["eventTypes"] == [paid] and endpoint["channels"] == ["eu", "us"]
    assert endpoint["throttleRate"] == 25 and endpoint["description"] == "Billing system"
    async with api.get(f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}/headers") as response:
        assert (await response.json())["headers"] == {"X-Tenant": "acme"}

    # The application page lists it with its health
    await page.get_by_role("link", name="Acme Billing", exact=True).click()
    row = page.get_by_role("row", name="https://hooks.example.com/acme")
    await expect(row).to_contain_text("no attempts in 24 h")
    await expect(row).to_contain_text("enabled")


async def test_a_refused_url_keeps_what_was_typed(logged_in, api):
    page = logged_in
    app = await create_app(api, "Refusals")
    await page.goto(f"/ui/apps/{app['id']}/endpoints/new")

    # A private address (the SSRF rule) and a bad throttle rate, with other fields filled in
    await page.get_by_label("URL").fill("http://10.0.0.1/hook")
    await page.get_by_label("Description").fill("typed before the error")
    await page.get_by_label("Other event types").fill("order.created")
    await page.get_by_label("Throttle rate").fill("0")
    await page.get_by_role("button", name="Create endpoint").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("The endpoint was not saved")
    await expect(alert).to_contain_text("a private address, which is not allowed")
    await expect(alert).to_contain_text("The throttle rate must be at least 1 message per second.")
    await expect(page.get_by_label("URL")).to_have_value("http://10.0.0.1/hook")
    await expect(page.get_by_label("Description")).to_have_value("typed before the error")
    await expect(page.get_by_label("Other event types")).to_have_value("order.created")
    await expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "endpoint-form-refused")

    async with api.get(f"/api/v1/app/{app['id']}/endpoint") as response:
        assert (await response.json())["data"] == []


async def test_edit_disable_secret_and_delete(logged_in, api):
    page = logged_in
    app = await create_app(api, "Lifecycle")
    endpoint = await create_endpoint(
        api, app, "https://example.com/old", headers={"Authorization": "Bearer keep-me"}
    )
    async with api.get(f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}/secret") as response:
        first_secret = (await response.json())["key"]
    await page.goto(f"/ui/apps/{app['id']}/endpoints/{endpoint['id']}")

    # Edit: a new URL; the hidden credential header is kept
    await page.get_by_role("link", name="Edit").click()
    await page.get_by_label("URL").fill("https://example.com/new")
    await page.get_by_role("button", name="Save endpoint").click()
    await expect(page.get_by_role("status")).to_have_text("Endpoint saved.")
    await expect(page.get_by_role("heading", name="https://example.com/new")).to_be_visible()
    await expect(page.locator("dl.props")).to_contain_text("Authorization: (hidden)")

    # Disable, then enable
    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_role("status")).to_contain_text("Endpoint disabled")
    await expect(page.locator("h1 .badge")).to_have_text("disabled")
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator("h1 .badge")).to_have_text("enabled")

    # Reveal the secret, rotate it, and the revealed one changes
    await page.get_by_role("button", name="Reveal secret").click()
    await expect(page.get_by_label("Current secret")).to_have_value(first_secret)
    await page.get_by_role("button", name="Rotate secret").click()
    await expect(page.get_by_role("status")).to_contain_text("Secret rotated")
    await page.get_by_role("button", name="Reveal secret").click()
    await expect(page.get_by_label("Current secret")).not_to_have_value(first_secret)
    await screenshot(page, "endpoint-page")

    # Delete, behind a disclosure
    await page.get_by_text("Delete this endpoint…").click()
    await page.get_by_role("button", name="Delete endpoint for good").click()
    await expect(page.get_by_role("status")).to_contain_text("Endpoint deleted")
    await expect(page.get_by_text("This application has no endpoints yet")).to_be_visible()
    async with api.get(f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}/headers") as response:
        assert response.status == 404


async def test_recover_failures_since_a_time(logged_in, api, settings, receiver):
    page = logged_in
    app = await create_app(api, "Recovering")
    endpoint = await create_endpoint(api, app, f"{receiver.url}/recover")
    receiver.behaviours["/recover"] = refuse
    fast_dead = settings.model_copy(update={"retry_schedule": []})
    async with running_dispatcher(fast_dead):
        # Given two deliveries that failed for good
        for n in range(2):
            await send_message(api, app, "order.shipped", n=n)
        await page.goto(f"/ui/apps/{app['id']}/endpoints/{endpoint['id']}")
        attempts = page.locator("#endpoint-attempts tbody tr")
        await expect(attempts.filter(has_text="500")).to_have_count(2)
        await expect(page.locator("#endpoint-stats")).to_contain_text("0%")

        # When the receiver is fixed and failures of the last day are recovered
        receiver.behaviours.pop("/recover")
        await page.get_by_role("button", name="Recover failures").click()

        # Then both are sent again as manual attempts
        await expect(page.get_by_role("status")).to_have_text(
            "Failed deliveries queued again as manual attempts: 2."
        )
        await expect(attempts.filter(has_text="manual")).to_have_count(2)
        await expect(page.locator("#endpoint-stats")).to_contain_text("50%")
        await screenshot(page, "endpoint-recovered")
