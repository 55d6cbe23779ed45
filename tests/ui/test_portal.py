"""The app portal in Chromium: a link from the API opens one application's pages and
nothing of another's; a read-only link cannot change anything; expire-all ends it."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import create_app, create_endpoint, open_page, screenshot, send_message


async def portal_link(api, app: dict, **body: object) -> str:  # type: ignore[no-untyped-def]
    async with api.post(f"/api/v1/auth/app-portal-access/{app['id']}", json=body) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["url"].endswith("/ui/portal#key=" + answer["token"])
    return answer["url"]


async def test_a_portal_link_shows_one_application_and_nothing_of_another(browser, ingest, api):
    mine, theirs = await create_app(api, "Acme"), await create_app(api, "Globex")
    my_endpoint = await create_endpoint(api, mine, "https://acme.example/hooks")
    their_endpoint = await create_endpoint(api, theirs, "https://globex.example/secret-hooks")
    message = await send_message(api, mine, "invoice.paid", amount=12)
    url = await portal_link(api, mine)
    async with open_page(browser, ingest) as page:
        # When the customer opens the link
        await page.goto(url)
        # Then they land on their application, its endpoints listed, the key gone from the URL
        await expect(page).to_have_url(f"{ingest.url}/ui/apps/{mine['id']}")
        await expect(page.get_by_role("link", name="https://acme.example/hooks")).to_be_visible()
        await expect(page.get_by_text("globex.example")).to_have_count(0)
        await expect(page.get_by_role("link", name="Applications")).to_have_count(0)
        await screenshot(page, "portal-app")
        # their messages, filtered to them, with no other application to choose
        await page.goto(f"/ui/messages?app={mine['id']}")
        await expect(page.get_by_text(message["id"])).to_be_visible()
        await expect(page.get_by_text("Globex")).to_have_count(0)
        # and another application's pages do not exist for them, even by id
        for path in (f"/ui/apps/{theirs['id']}", f"/ui/apps/{theirs['id']}/endpoints/{their_endpoint['id']}"):
            response = await page.goto(path)
            assert response is not None and response.status == 404, path
        # the operator's pages lead back to their own application
        await page.goto("/ui/")
        await expect(page).to_have_url(f"{ingest.url}/ui/apps/{mine['id']}")
        await page.goto(f"/ui/messages?app={theirs['id']}")
        await expect(page).to_have_url(f"{ingest.url}/ui/apps/{mine['id']}")
        # And with full access they can change their own endpoint
        await page.goto(f"/ui/apps/{mine['id']}/endpoints/{my_endpoint['id']}")
        await page.get_by_role("button", name="Disable").click()
        await expect(page.get_by_role("status")).to_contain_text("Endpoint disabled")


async def test_a_read_only_link_cannot_change_anything(browser, ingest, api):
    app = await create_app(api, "Initech")
    endpoint = await create_endpoint(api, app, "https://initech.example/hooks")
    url = await portal_link(api, app, readOnly=True)
    async with open_page(browser, ingest) as page:
        await page.goto(url)
        await expect(page).to_have_url(f"{ingest.url}/ui/apps/{app['id']}")  # the key traded for a session
        await page.goto(f"/ui/apps/{app['id']}/endpoints/{endpoint['id']}")
        await page.get_by_role("button", name="Disable").click()
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    async with api.get(f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}") as response:
        assert (await response.json())["disabled"] is False


async def test_expire_all_ends_the_link_and_the_open_session(browser, ingest, api):
    app = await create_app(api, "Umbrella")
    await create_endpoint(api, app, "https://umbrella.example/hooks")
    url = await portal_link(api, app)
    async with open_page(browser, ingest) as page:
        await page.goto(url)
        await expect(page).to_have_url(f"{ingest.url}/ui/apps/{app['id']}")
        # When the SaaS expires every token of the application
        async with api.post(f"/api/v1/auth/app/{app['id']}/expire-all", json={}) as response:
            assert response.status == 204
        # Then the open session ends at the next page, and the link no longer opens
        await page.reload()
        await expect(page).to_have_url(f"{ingest.url}/ui/login?next=%2Fui%2Fapps%2F{app['id']}")
        await page.goto(url)
        await expect(page.get_by_role("status")).to_contain_text("expired or was revoked")
