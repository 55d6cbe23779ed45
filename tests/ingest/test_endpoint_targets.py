"""The canonical target check where endpoints are configured: the API's create, update
and patch, and the dashboard's endpoint form. Every odd spelling of an internal
address is a 422 in Svix's validation shape with the reason; nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.ingest.ui.endpoint_form import EndpointForm
from shared.target_policy import parse_networks
from tests.ingest.conftest import RunningIngest, start_ingest

PUBLIC = "http://93.184.216.34/hook"  # a literal: no DNS in the test
# An allow-list that opens link-local but neither loopback nor the metadata service.
ALLOWED = ["169.254.0.0/16"]
REFUSED = [
    ("http://127.1:9/", "the host 127.1 is the address 127.0.0.1, a loopback address"),
    ("http://2130706433/", "the address 127.0.0.1, a loopback address"),
    ("http://0x7f.1/", "the address 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/", "the address 127.0.0.1, a loopback address"),
    ("http://0:8000/", "the address 0.0.0.0, an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://[::ffff:127.0.0.1]/", "the address 127.0.0.1, a loopback address"),
    ("http://[::127.0.0.1]/", "the address 127.0.0.1, a loopback address"),
    ("http://LOCALHOST./", "loopback"),  # a name: resolved, then checked
    ("http://127.0.0.1./", "the address 127.0.0.1, a loopback address"),
    ("http://\uff11\uff12\uff17.0.0.1/", "the address 127.0.0.1, a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://0xa9fea9fe/", "the address 169.254.169.254, a cloud metadata address"),
    ("http://[::ffff:a9fe:a9fe]/", "the address 169.254.169.254, a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("http://100.100.100.200/", "100.100.100.200 is a cloud metadata address"),
    ("http://a..b/", "the host 'a..b' has an empty label"),
    ("http://a.b../", "has an empty label"),
    ("http://" + "x" * 64 + ".example/", "not a valid host name"),
    ("http://08.0.0.1/", "not a valid IPv4 address"),
    ("http://example.123/", "not a valid IPv4 address"),
    ("http://1.2.3.256/", "out of range"),
    ("http://example.com:0/", "port"),
]


@pytest.fixture
async def ingest(make_settings) -> AsyncIterator[RunningIngest]:
    running, runner = await start_ingest(make_settings(allowed_target_cidrs=ALLOWED))
    yield running
    await runner.cleanup()


@pytest.fixture
async def http(ingest: RunningIngest) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=ingest.url, headers=ingest.headers()) as session:
        yield session


async def _app(http: aiohttp.ClientSession) -> str:
    async with http.post("/api/v1/app", json={"name": "Targets"}) as response:
        assert response.status == 201
        return (await response.json())["id"]


def _assert_refused(status: int, body: dict, url: str, why: str) -> None:
    assert status == 422, (url, body)
    [error] = body["detail"]
    assert error["loc"] == ["body", "url"] and isinstance(error["type"], str), (url, error)
    assert why in error["msg"], (url, error["msg"])


async def test_every_odd_spelling_is_refused_at_create_with_a_reason(http, db_pool):
    app = await _app(http)
    for url, why in REFUSED:
        async with http.post(f"/api/v1/app/{app}/endpoint", json={"url": url}) as response:
            _assert_refused(response.status, await response.json(), url, why)
    assert await db_pool.fetchval("SELECT count(*) FROM endpoint WHERE app_id = $1", app) == 0
    # What the allow-list opens stays open, whatever the spelling.
    for url in ("http://169.254.1.1/", "http://0xa9.0xfe.0x101/", "http://[::ffff:169.254.1.1]/"):
        async with http.post(f"/api/v1/app/{app}/endpoint", json={"url": url}) as response:
            assert response.status == 201, (url, await response.text())


async def test_update_and_patch_refuse_them_too(http, db_pool):
    app = await _app(http)
    async with http.post(f"/api/v1/app/{app}/endpoint", json={"url": PUBLIC}) as response:
        endpoint = (await response.json())["id"]
    for url, why in [REFUSED[0], REFUSED[11], REFUSED[16]]:
        async with http.put(f"/api/v1/app/{app}/endpoint/{endpoint}", json={"url": url}) as response:
            _assert_refused(response.status, await response.json(), url, why)
        async with http.patch(f"/api/v1/app/{app}/endpoint/{endpoint}", json={"url": url}) as response:
            _assert_refused(response.status, await response.json(), url, why)
    assert await db_pool.fetchval("SELECT url FROM endpoint WHERE id = $1", endpoint) == PUBLIC


@pytest.mark.parametrize(("url", "why"), REFUSED)
async def test_the_dashboard_form_refuses_them_with_the_same_reason(url, why):
    form = EndpointForm(url=url)
    if form.values() is not None:  # the model's syntax check passed: the target check decides
        assert not await form.check_target(parse_networks(ALLOWED))
    assert why.lower() in form.errors["url"].lower(), form.errors  # the form capitalises
