"""``/api/v1/sources``: CRUD behind the bearer token, camelCase JSON, Svix error shapes."""

from __future__ import annotations

import aiohttp

from shared.ids import has_prefix
from shared.signing import decode_secret
from tests.verifier.conftest import unique_id


async def test_create_generates_an_id_and_a_secret_and_get_returns_it(verifier):
    created = await verifier.create_source(scheme="standard-webhooks")

    assert has_prefix(created["id"], "src")
    assert len(created["secrets"]) == 1 and decode_secret(created["secrets"][0])
    assert created["allowedCidrs"] == []
    assert created["maxBodyBytes"] == verifier.settings.max_payload_bytes
    assert created["toleranceSeconds"] == 300
    assert created["headerName"] is None
    async with verifier.http.get(f"/api/v1/sources/{created['id']}") as response:
        assert (response.status, await response.json()) == (200, created)


async def test_caller_chosen_id_and_a_taken_id_is_409(verifier):
    source_id = unique_id("gitlab")
    fields = {"id": source_id, "scheme": "token", "headerName": "X-Gitlab-Token", "secrets": ["t0k"]}
    created = await verifier.create_source(**fields, allowedCidrs=["34.74.90.64/28", "2001:db8::1/64"])
    assert created["id"] == source_id
    assert created["allowedCidrs"] == ["34.74.90.64/28", "2001:db8::/64"]

    async with verifier.http.post("/api/v1/sources", json=fields) as response:
        assert response.status == 409
        assert (await response.json())["code"] == "conflict"


async def test_update_replaces_settings_and_keeps_omitted_secrets(verifier):
    created = await verifier.create_source(scheme="github", secrets=["one", "two"])
    url = f"/api/v1/sources/{created['id']}"

    async with verifier.http.put(url, json={"scheme": "github", "toleranceSeconds": 60}) as response:
        updated = await response.json()
    assert response.status == 200
    assert updated["secrets"] == ["one", "two"] and updated["toleranceSeconds"] == 60
    assert updated["updatedAt"] > created["updatedAt"]

    # A scheme the kept secrets don't fit is refused with the reason
    async with verifier.http.put(url, json={"scheme": "standard-webhooks"}) as response:
        assert response.status == 422
        assert "secrets" in (await response.json())["detail"][0]["msg"]


async def test_delete_then_404(verifier):
    created = await verifier.create_source(scheme="github", secrets=["s"])
    url = f"/api/v1/sources/{created['id']}"
    async with verifier.http.delete(url) as response:
        assert response.status == 204
    for method in ("GET", "DELETE"):
        async with verifier.http.request(method, url) as response:
            assert (response.status, (await response.json())["code"]) == (404, "not_found")
    async with verifier.http.put(url, json={"scheme": "github", "secrets": ["s"]}) as response:
        assert response.status == 404


async def test_list_pages_by_id(verifier):
    ids = sorted([(await verifier.create_source(scheme="github", secrets=["s"]))["id"] for _ in range(3)])
    seen, iterator = [], None
    while True:
        params = {"limit": "2", **({"iterator": iterator} if iterator else {})}
        async with verifier.http.get("/api/v1/sources", params=params) as response:
            page = await response.json()
        seen += [s["id"] for s in page["data"]]
        iterator = page["iterator"]
        if page["done"]:
            break
    assert set(ids) <= set(seen) and seen == sorted(seen)


async def test_invalid_sources_are_422_with_a_message(verifier):
    cases = [
        ({"scheme": "token", "secrets": ["x"]}, "headerName"),
        ({"scheme": "github", "secrets": ["x"], "headerName": "X-Token"}, "headerName"),
        ({"scheme": "stripe"}, "stripe"),
        ({"scheme": "standard-webhooks", "secrets": ["not base64!"]}, "base64"),
        ({"scheme": "github", "allowedCidrs": ["10.0.0.0/33"]}, "allowedCidrs"),
        ({"scheme": "github", "allowedCIDRs": ["10.0.0.0/8"]}, "allowedCIDRs"),  # typo: refused
        ({"scheme": "github", "id": "has.dot"}, "id"),
        ({"scheme": "webhooks"}, "scheme"),
    ]
    for body, mentioned in cases:
        async with verifier.http.post("/api/v1/sources", json=body) as response:
            answer = await response.json()
            assert response.status == 422, body
            assert mentioned in str(answer["detail"]), (body, answer)


async def test_the_api_needs_the_token_but_inbound_and_health_do_not(verifier):
    async with aiohttp.ClientSession(base_url=verifier.url) as anonymous:
        async with anonymous.get("/api/v1/sources") as response:
            assert (response.status, (await response.json())["code"]) == (401, "authentication_failed")
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
            async with anonymous.get(path) as response:
                assert response.status == 200, path
        async with anonymous.post("/in/src_nobody", data=b"{}") as response:
            assert response.status == 404  # reached the handler: no token asked for
        async with anonymous.get("/metrics") as response:
            text = await response.text()
    assert 'hookline_inbound_total{result="published",source="stripe"}' in text
    assert 'hookline_inbound_rejected_total{reason="ip_not_allowed"}' in text
