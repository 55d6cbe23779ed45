"""Every bad input gets the right 4xx JSON error in Svix's shapes, and writes nothing."""

import pytest

from tests.ingest.conftest import start_ingest
from tests.support.slow_body import stall_body

URL = "http://127.0.0.1:9/hook"


async def counts(db_pool) -> tuple[int, int, int]:
    row = await db_pool.fetchrow(
        "SELECT (SELECT count(*) FROM application) a, (SELECT count(*) FROM endpoint) e,"
        " (SELECT count(*) FROM message) m"
    )
    return row["a"], row["e"], row["m"]


@pytest.fixture
async def app_id(http):
    async with http.post("/api/v1/app", json={"name": "Bad input"}) as r:
        return (await r.json())["id"]


async def test_malformed_json_is_400(http, app_id, db_pool):
    before = await counts(db_pool)
    async with http.post(
        f"/api/v1/app/{app_id}/msg",
        data=b'{"eventType": "a.b", "payload": {',
        headers={"content-type": "application/json"},
    ) as r:
        body = await r.json()
        assert r.status == 400 and body["code"] == "invalid_json" and "JSON" in body["detail"]
    assert await counts(db_pool) == before


async def test_schema_errors_are_422_with_locations(http, app_id, db_pool):
    before = await counts(db_pool)
    async with http.post(f"/api/v1/app/{app_id}/msg", json={"eventType": "bad type!", "payload": []}) as r:
        body = await r.json()
    assert r.status == 422
    locs = {tuple(item["loc"]) for item in body["detail"]}
    assert ("body", "eventType") in locs and ("body", "payload") in locs
    assert all(item["msg"] and item["type"] for item in body["detail"])
    async with http.post("/api/v1/app", json=["not", "an", "object"]) as r:
        assert r.status == 422
    assert await counts(db_pool) == before


async def test_unknown_ids_are_404(http, app_id):
    for path in (
        "/api/v1/app/app_doesnotexist",
        f"/api/v1/app/{app_id}/endpoint/ep_nope",
        f"/api/v1/app/{app_id}/msg/msg_nope",
        "/api/v1/event-type/no.such.type",
        "/api/v1/no/such/route",
    ):
        async with http.get(path) as r:
            body = await r.json()
            assert r.status == 404 and body["code"] == "not_found", path
    async with http.post("/api/v1/app/app_doesnotexist/msg", json={"eventType": "a.b", "payload": {}}) as r:
        assert r.status == 404


async def test_payload_over_the_limit_is_413(http, app_id, db_pool, ingest):
    before = await counts(db_pool)
    big = "x" * (ingest.settings.max_payload_bytes + 10)
    async with http.post(
        f"/api/v1/app/{app_id}/msg", json={"eventType": "a.b", "payload": {"blob": big}}
    ) as r:
        body = await r.json()
        assert r.status == 413 and body["code"] == "payload_too_large"
    # Far beyond the limit: refused by the server's body cap, still JSON
    huge = b"x" * (ingest.settings.max_payload_bytes * 3)
    async with http.post(f"/api/v1/app/{app_id}/msg", data=huge) as r:
        assert r.status == 413 and (await r.json())["code"] == "payload_too_large"
    assert await counts(db_pool) == before


async def test_non_http_endpoint_url_is_422(http, app_id, db_pool):
    before = await counts(db_pool)
    async with http.post(f"/api/v1/app/{app_id}/endpoint", json={"url": "javascript:alert(1)"}) as r:
        body = await r.json()
        assert r.status == 422 and body["detail"][0]["loc"] == ["body", "url"]
        assert "http" in body["detail"][0]["msg"]
    assert await counts(db_pool) == before


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_missing_or_wrong_token_is_401(ingest, auth, db_pool):
    import aiohttp

    headers = {"Authorization": auth} if auth else {}
    before = await counts(db_pool)
    async with aiohttp.ClientSession(base_url=ingest.url, headers=headers) as session:
        for method, path in (("GET", "/api/v1/app"), ("POST", "/api/v1/app"), ("GET", "/api/v1/nope")):
            async with session.request(method, path, json={"name": "x"}) as r:
                body = await r.json()
                assert r.status == 401 and body["code"] == "authentication_failed", (method, path)
        async with session.get("/api/v1/health") as r:
            assert r.status == 204
    assert await counts(db_pool) == before


async def test_openapi_document_lists_the_routes(http):
    async with http.get("/api/v1/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/app/{app_id}/msg" in doc["paths"]
    create = doc["paths"]["/api/v1/app/{app_id}/msg"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"eventType", "payload"} <= set(schema["properties"]) and "422" in create["responses"]


async def test_values_the_database_cannot_store_are_422_not_500(http, app_id, db_pool):
    before = await counts(db_pool)
    async with http.post("/api/v1/app", json={"name": "a\u0000b"}) as r:
        assert r.status == 422 and (await r.json())["detail"][0]["loc"] == ["body"]
    assert await counts(db_pool) == before


async def test_dates_outside_the_id_range_are_clamped(http, app_id):
    for query in ("before=1900-01-01T00:00:00Z", "after=2200-01-01T00:00:00Z"):
        async with http.get(f"/api/v1/app/{app_id}/msg?{query}") as r:
            assert r.status == 200 and (await r.json())["data"] == []


async def test_body_that_stops_arriving_is_408_and_the_connection_closed(make_settings, db_pool):
    # Given ingest that gives a request body 1 s to arrive
    ingest, runner = await start_ingest(make_settings(body_read_timeout=1.0), wait_for_broker=False)
    try:
        before = await counts(db_pool)
        # When a client with the token promises a body and stops sending it part way
        stalled = await stall_body(ingest.url, "/api/v1/app", ingest.headers())
    finally:
        await runner.cleanup()
    # Then it gets a 408 in Svix's error shape, the connection is closed (aiohttp may
    # linger up to 10 s for the rest first), and nothing is written
    assert stalled.status == 408 and stalled.body["code"] == "request_timeout", stalled
    assert stalled.closed_after < 15, stalled
    assert await counts(db_pool) == before
