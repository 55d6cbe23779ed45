"""Open circuits on the overview, read from the real dispatcher's metrics."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from playwright.async_api import expect

from tests.dispatcher.conftest import FAST, running_dispatcher
from tests.ingest.conftest import start_ingest
from tests.ui.conftest import create_app, create_endpoint, log_in, open_page, screenshot, send_message


async def refuse(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(status=500, text="no")


async def test_an_open_circuit_shows_on_the_overview(browser, make_settings, receiver, monkeypatch):
    settings = make_settings(retry_schedule=[])  # one attempt each: failures come fast
    receiver.behaviours["/down"] = refuse
    async with running_dispatcher(settings) as dispatcher_url:
        # Given a dashboard that reads this dispatcher's metrics
        monkeypatch.setenv("HOOKLINE_DASHBOARD_DISPATCHER_METRICS_URL", f"{dispatcher_url}/metrics")
        ingest, runner = await start_ingest(settings)
        try:
            async with (
                open_page(browser, ingest) as page,
                aiohttp.ClientSession(base_url=ingest.url, headers=ingest.headers()) as api,
            ):
                await log_in(page, settings.api_token)
                await expect(page.locator("#open-circuits")).to_have_text("0")

                # When an endpoint fails as often as opens its circuit
                app = await create_app(api, "Tripping")
                await create_endpoint(api, app, f"{receiver.url}/down")
                for n in range(FAST.circuit_failures):
                    await send_message(api, app, "thing.happened", n=n)
                await receiver.wait_for(lambda: len(receiver.at("/down")) == FAST.circuit_failures)

                # Then the overview counts one open circuit
                await page.reload()
                await expect(page.locator("#open-circuits")).to_have_text("1")
                await expect(page.get_by_role("row", name=f"{receiver.url}/down")).to_contain_text("500")
                await expect(page.locator(".legend")).not_to_contain_text("failed: 0")
                await screenshot(page, "overview-open-circuit")
        finally:
            await runner.cleanup()
