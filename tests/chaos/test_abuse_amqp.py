"""1,000 malformed events published straight to ``<prefix>.ingest``: every one ends in
``<prefix>.ingest.rejected`` with a reason, and the consumer goes on."""

from __future__ import annotations

import asyncio
from collections import Counter

import aio_pika
import orjson

from tests.chaos.sizes import MALFORMED_AMQP_MESSAGES

MAX_PAYLOAD = 2048  # a small limit keeps the "too large" cases cheap to publish


def malformed(n: int, app_id: str) -> bytes:
    """The n-th bad event: eleven kinds of wrong, in turn."""
    good = {"appId": app_id, "eventType": "chaos.bad", "payload": {"n": n}}
    kind = n % 11
    if kind == 0:
        return b"not json at all %d" % n
    if kind == 1:
        return b'\xff\xfe{"appId": "\xc3\x28"}'  # not UTF-8
    if kind == 2:
        return orjson.dumps([good])
    if kind == 3:
        return orjson.dumps(n)
    if kind == 4:
        return orjson.dumps({k: v for k, v in good.items() if k != "eventType"})
    if kind == 5:
        return orjson.dumps({**good, "payload": "a string"})
    if kind == 6:
        return orjson.dumps({**good, "appId": f"app_nobody_{n}"})
    if kind == 7:
        return orjson.dumps({**good, "eventType": "spaces and\r\nnewlines"})
    if kind == 8:
        return orjson.dumps({**good, "payload": {"x": "a" * (MAX_PAYLOAD + 10)}})  # payload over the limit
    if kind == 9:
        return b'{"appId": "%s", "payload": ' % app_id.encode() + b"[" * 5000 + b"]" * 5000 + b"}"
    return orjson.dumps({**good, "channels": [f"c{i}" for i in range(50)], "eventId": "bad id with spaces"})


def poison(n: int) -> bytes:
    """Valid JSON and schema, but a NUL character, which PostgreSQL text can't hold, in
    the application created on the fly: the commit fails on the data, every time."""
    uid = f"chaos-new-{n}"
    app = {"name": "nul\u0000name", "uid": uid}
    return orjson.dumps({"appId": uid, "eventType": "chaos.bad", "payload": {}, "application": app})


async def test_malformed_amqp_ingest_messages_all_land_in_the_rejected_queue(hookline, row):
    # Given ingest consuming <prefix>.ingest on the private broker
    hl = await hookline("ingest", HOOKLINE_MAX_PAYLOAD_BYTES=str(MAX_PAYLOAD))
    app_id, _ = await hl.app_with_endpoints([], [])
    pid = hl.ingest.pid
    connection = await aio_pika.connect(hl.stack.broker.url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{hl.prefix}.ingest")
        rejected = await channel.get_queue(f"{hl.prefix}.ingest.rejected")

        # When 1,000 malformed events are published (confirmed), one too big for any envelope
        bodies = [malformed(n, app_id) for n in range(MALFORMED_AMQP_MESSAGES - 1)]
        bodies.append(orjson.dumps({"appId": app_id, "eventType": "x", "payload": {"x": "a" * 200_000}}))
        await _publish(exchange, bodies)
        row.bad_inputs += len(bodies)

        # Then all of them reach the rejected queue, each with its reason
        async with asyncio.timeout(90):
            while (depth := await _depth(channel, rejected.name)) < len(bodies):
                await asyncio.sleep(0.5)
        reasons: Counter[str] = Counter()
        for _ in range(len(bodies)):
            message = await rejected.get(no_ack=True, timeout=5)
            assert message is not None
            reasons[str((message.headers or {}).get("x-hookline-reject-reason", "")).split(":")[0]] += 1
        row.note = "reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        assert depth == len(bodies)
        assert "" not in reasons, f"rejected without a reason: {reasons}"

        # And the same consumer still accepts a good event and the ingest queue is empty
        good = {"appId": app_id, "eventType": "chaos.good", "payload": {"ok": True}, "eventId": "good-1"}
        await exchange.publish(aio_pika.Message(orjson.dumps(good), message_id="good-1"), routing_key="")
        async with asyncio.timeout(20):
            while await hl.messages_stored(app_id) < 1:
                await asyncio.sleep(0.2)
        assert await _depth(channel, f"{hl.prefix}.ingest") == 0
        assert hl.ingest.pid == pid and hl.ingest.running
    finally:
        await connection.close()


async def test_amqp_event_whose_commit_fails_on_its_data_is_rejected_not_requeued_forever(hookline, row):
    # Given ingest consuming <prefix>.ingest (prefetch 64)
    hl = await hookline("ingest")
    app_id, _ = await hl.app_with_endpoints([], [])
    connection = await aio_pika.connect(hl.stack.broker.url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{hl.prefix}.ingest")

        # When 70 events that pass validation but can never be committed arrive, then a good one
        await _publish(exchange, [poison(n) for n in range(70)])
        good = {"appId": app_id, "eventType": "chaos.good", "payload": {"ok": True}}
        await _publish(exchange, [orjson.dumps(good)])
        row.bad_inputs += 70

        # Then the 70 are rejected with a reason and the good one is accepted
        await asyncio.sleep(15)
        rejected, stored = (
            await _depth(channel, f"{hl.prefix}.ingest.rejected"),
            await hl.messages_stored(app_id),
        )
        row.note = f"after 15 s: {rejected} of 70 rejected, the good event stored: {stored == 1}"
        assert rejected == 70 and stored == 1, row.note
    finally:
        await connection.close()


async def _publish(exchange: aio_pika.abc.AbstractExchange, bodies: list[bytes]) -> None:
    for start in range(0, len(bodies), 200):
        await asyncio.gather(
            *(
                exchange.publish(aio_pika.Message(body, message_id=f"m-{start + i}"), routing_key="")
                for i, body in enumerate(bodies[start : start + 200])
            )
        )


async def _depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0
