"""``shared.receiver``: an aiohttp app receiving Hookline deliveries in one line, over
real HTTP, with requests signed as the dispatcher signs them (``delivery_headers``)."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp import web

from shared.receiver import verify_delivery, verify_request
from shared.signing import decode_secret, delivery_headers, new_secret
from tests.verifier import senders

SECRET = new_secret()
BODY = b'{"type":"user.created","id":1}'


async def hook(request: web.Request) -> web.Response:
    payload = await verify_request(request, SECRET, max_body_bytes=1024)
    return web.json_response({"got": payload})


async def hook_with_rotation(request: web.Request) -> web.Response:
    delivery = await verify_delivery(request, [new_secret(), SECRET])
    return web.json_response({"id": delivery.id, "timestamp": delivery.timestamp})


@pytest.fixture
async def receiver():
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/rotating", hook_with_rotation)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
        yield http
    await runner.cleanup()


async def test_a_dispatcher_signed_delivery_returns_its_payload(receiver):
    headers = delivery_headers([decode_secret(SECRET)], "msg_1", BODY)
    async with receiver.post("/hook", data=BODY, headers=headers) as response:
        assert (response.status, await response.json()) == (200, {"got": {"type": "user.created", "id": 1}})

    async with receiver.post("/rotating", data=BODY, headers=headers) as response:
        assert (await response.json())["id"] == "msg_1"


# Headers are made when the test runs, not at collection: a long suite would age them past
# the timestamp tolerance and every case would read as stale.
@pytest.mark.parametrize(
    ("make_headers", "body", "status", "code"),
    [
        (lambda: delivery_headers([decode_secret(SECRET)], "m", BODY), BODY + b" ", 401, "bad_signature"),
        (lambda: delivery_headers([decode_secret(new_secret())], "m", BODY), BODY, 401, "bad_signature"),
        (
            lambda: delivery_headers([decode_secret(SECRET)], "m", BODY, now=time.time() - 600),
            BODY,
            400,
            "timestamp_too_old",
        ),
        (
            lambda: delivery_headers([decode_secret(SECRET)], "m", BODY, now=time.time() + 600),
            BODY,
            400,
            "timestamp_too_new",
        ),
        (lambda: {"webhook-id": "m"}, BODY, 400, "missing_header"),
        (
            lambda: {
                "webhook-id": "m",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1",
            },
            BODY,
            400,
            "malformed_header",
        ),
        (lambda: None, b"x" * 2048, 413, "payload_too_large"),
        (lambda: None, b"not json", 400, "invalid_json"),
    ],
    ids=["tampered", "wrong-secret", "stale", "future", "missing", "malformed", "too-large", "not-json"],
)
async def test_each_failure_is_its_own_4xx(receiver, make_headers, body, status, code):
    headers = make_headers() or senders.standard(SECRET, body)
    async with receiver.post("/hook", data=body, headers=headers) as response:
        assert response.status == status
        assert (await response.json())["code"] == code
