"""Concurrent creates share a transaction, yet each request gets its own answer."""

import asyncio

from svix.api import ApplicationIn, EndpointIn


async def test_mixed_outcomes_in_one_burst(svix, http, db_pool):
    app = await svix.application.create(ApplicationIn(name="Burst"))
    await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))

    async def post(app_ref, body, key=None):
        headers = {"idempotency-key": key} if key else {}
        async with http.post(f"/api/v1/app/{app_ref}/msg", json=body, headers=headers) as r:
            return r.status, await r.json()

    # Given one burst mixing good messages, a duplicate eventId, an unknown app and a reused key
    requests = [post(app.id, {"eventType": "a.b", "payload": {"i": i}}) for i in range(30)]
    requests += [post(app.id, {"eventType": "a.b", "payload": {}, "eventId": "same"}) for _ in range(3)]
    requests += [post("app_unknown", {"eventType": "a.b", "payload": {}}) for _ in range(2)]
    requests += [post(app.id, {"eventType": "a.b", "payload": {"k": 1}}, key="burst-key") for _ in range(4)]
    results = await asyncio.gather(*requests)

    # Then each got its own answer
    plain, same_event, unknown, keyed = results[:30], results[30:33], results[33:35], results[35:]
    assert all(status == 202 for status, _ in plain)
    assert sorted(status for status, _ in same_event) == [202, 409, 409]
    assert all(status == 404 and body["code"] == "not_found" for status, body in unknown)
    assert {status for status, _ in keyed} == {202} and len({body["id"] for _, body in keyed}) == 1

    # And exactly what was accepted was written: 30 + 1 + 1 messages, one destination each
    assert await db_pool.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app.id) == 32
    assert await db_pool.fetchval("SELECT count(*) FROM message_destination WHERE app_id = $1", app.id) == 32
