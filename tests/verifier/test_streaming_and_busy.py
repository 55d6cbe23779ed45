"""The verifier against real clients: bodies that arrive slowly in pieces verify, header
problems are answered before the body is read, and past its concurrency ceiling it
answers 503 with Retry-After at once while the requests in flight complete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from services.verifier.keys import RECEIVER
from services.verifier.settings import VerifierSettings
from shared.signing import new_secret
from tests.chaos.raw_http import request_head
from tests.verifier import senders

SECRET = new_secret()
BODY = orjson.dumps({"id": "evt_9", "type": "invoice.paid", "pad": "x" * 3000})


async def pieces(
    body: bytes, size: int, pause: float, gate: asyncio.Event | None = None
) -> AsyncIterator[bytes]:
    """The body in ``size``-byte pieces with a pause between them; after the first piece
    it waits for ``gate`` when one is given."""
    for start in range(0, len(body), size):
        yield body[start : start + size]
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(pause)


async def post_streamed(url: str, headers: dict[str, str], data: AsyncIterator[bytes]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as plain, plain.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("scheme", "sign"),
    [
        ("standard-webhooks", lambda body: senders.standard(SECRET, body)),
        ("standard-webhooks", lambda body: senders.svix_signed(SECRET, body)),
        ("stripe", lambda body: senders.stripe(SECRET, body)),
        ("github", lambda body: senders.github(SECRET, body, event="invoice.paid")),
    ],
    ids=["standard-webhooks", "svix", "stripe", "github"],
)
async def test_a_body_streamed_slowly_in_pieces_verifies_and_is_handed_on_whole(
    verifier, inbound, scheme, sign
):
    # Given a source of the scheme the sender signs with
    source = await verifier.create_source(scheme=scheme, secrets=[SECRET])
    # When the body comes chunked, 500 bytes at a time with pauses between the pieces
    url = f"{verifier.url}/in/{source['id']}"
    status, answer = await post_streamed(url, sign(BODY), pieces(BODY, 500, 0.05))
    # Then it verifies, and the event on the exchange is the body byte for byte
    assert (status, answer) == (200, {"status": "published"})
    message = await inbound.next()
    assert message.body == BODY
    assert message.routing_key == f"{source['id']}.invoice.paid"


async def head_only(url: str, path: str, headers: dict[str, str], promised: int) -> tuple[list[str], dict]:
    """Send a request head promising a body, never the body; the response's head lines
    and JSON body, read without waiting for the server to close."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request_head("POST", path, {**headers, "Content-Length": str(promised)}))
    try:
        async with asyncio.timeout(10):
            lines = (await reader.readuntil(b"\r\n\r\n")).decode().strip().split("\r\n")
            length = next(
                int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:")
            )
            body = orjson.loads(await reader.readexactly(length))
    finally:
        writer.transport.abort()
    return lines, body


def header(lines: list[str], name: str) -> str | None:
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith(f"{name}:")), None
    )


async def test_a_bad_signature_header_is_answered_without_waiting_for_the_body(verifier):
    # Given a source, and a sender whose timestamp is an hour old
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[SECRET])
    headers = senders.standard(SECRET, BODY, at=1_000_000_000)
    # When it sends only the request head, promising a body it never sends
    lines, body = await head_only(verifier.url, f"/in/{source['id']}", headers, len(BODY))
    # Then it is refused on the headers alone (not a 408 after the body deadline of 30 s),
    # and the connection is not kept alive since the body was never read
    assert lines[0].split()[1] == "400", lines
    assert body["code"] == "timestamp_too_old"
    assert header(lines, "connection") == "close"


@pytest.mark.parametrize("verifier_settings", [VerifierSettings(max_concurrent=2)])
async def test_past_the_ceiling_503_with_retry_after_while_those_in_flight_complete(verifier, inbound):
    source = await verifier.create_source(scheme="standard-webhooks", secrets=[SECRET])
    url, path = f"{verifier.url}/in/{source['id']}", f"/in/{source['id']}"
    gate = asyncio.Event()
    # Given two senders whose bodies are half way in, held there
    bodies = [orjson.dumps({"type": "held", "n": n, "pad": "y" * 1000}) for n in range(2)]
    held = [
        asyncio.create_task(post_streamed(url, senders.standard(SECRET, b), pieces(b, 600, 0, gate)))
        for b in bodies
    ]
    receiver = verifier.app[RECEIVER]
    async with asyncio.timeout(10):
        while receiver.gate.in_flight < 2:
            await asyncio.sleep(0.02)
    # When a third one sends its request head
    lines, body = await head_only(verifier.url, path, senders.standard(SECRET, BODY), len(BODY))
    # Then it is answered 503 at once, before its body, with Retry-After and the error shape
    assert lines[0].split()[1] == "503", lines
    assert header(lines, "retry-after") == "1"
    assert body["code"] == "too_busy" and body["detail"]
    assert header(lines, "connection") == "close"
    # And the two in flight complete and are handed on
    gate.set()
    assert [await task for task in held] == [(200, {"status": "published"})] * 2
    assert {(await inbound.next()).body for _ in bodies} == set(bodies)
    # And with the places free again, the next sender is received
    status, _ = await verifier.post(source["id"], BODY, senders.standard(SECRET, BODY))
    assert status == 200 and receiver.gate.in_flight == 0
