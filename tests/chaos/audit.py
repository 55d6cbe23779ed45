"""After the faults: was every accepted message delivered, did anything stay pending,
is any queue left holding or growing, and did the services come back by themselves."""

from __future__ import annotations

import asyncio

import aio_pika
import aiohttp
import orjson

from shared.signing import decode_secret, delivery_headers, new_secret
from tests.chaos.hookline import SECRETS, Hookline
from tests.chaos.ledger import Row
from tests.chaos.load import HttpLoad, LoadResult
from tests.chaos.receivers import ReceiverFarm
from tests.chaos.sizes import ENDPOINTS, RETRY_TOTAL_SECONDS

# Past the last retry tier, the backlog a restart left behind still needs this long.
SETTLE_SLACK_SECONDS = 60.0
# After a broker restart, quorum queues' at-least-once dead-lettering (retry tier ->
# dispatch) resumes only after a while: seen here, 5-10 s with copies of retries
# whose message had already arrived.
QUEUE_DRAIN_SECONDS = 45.0


async def drained(hl: Hookline, timeout: float) -> tuple[float, dict[str, tuple[int, int]]]:
    """Wait until none of the installation's queues holds a message; how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        queues = await hl.queues()
        if not any(depth for depth, _ in queues.values()) or loop.time() - started > timeout:
            return loop.time() - started, queues
        await asyncio.sleep(1)


async def audit_delivery(hl: Hookline, farm: ReceiverFarm, load: LoadResult, app_id: str, row: Row) -> None:
    """Fill the ledger row, then assert: 0 lost, nothing pending, no queue holding messages."""
    expected = load.expected(ENDPOINTS)
    missing = await farm.wait_for(expected, RETRY_TOTAL_SECONDS + SETTLE_SLACK_SECONDS)
    states = await hl.wait_settled(app_id, timeout=RETRY_TOTAL_SECONDS + 10)
    stored = await hl.messages_stored(app_id)
    drained_in, first = await drained(hl, QUEUE_DRAIN_SECONDS)
    await asyncio.sleep(2)
    second = await hl.queues()

    row.accepted += len(load.accepted)
    row.delivered += len(expected) - len(missing)
    row.lost += len(missing)
    row.duplicates += farm.duplicates()
    row.server_errors += load.server_errors

    assert not load.given_up, f"clients gave up on {len(load.given_up)} messages: {load.given_up[:5]}"
    # A database outage is answered 503 with Retry-After, which clients retry; any other
    # 5xx is a bug.
    unexpected = {status: n for status, n in load.statuses.items() if status >= 500 and status != 503}
    assert not unexpected, f"ingest answered {unexpected}"
    # Where the missing ones are: destinations pending, tasks ready, or held unacked.
    where = f"destinations: {states}\n{await hl.broker_report()}" if missing else ""
    assert not missing, (
        f"{len(missing)} of {len(expected)} deliveries lost, e.g. {sorted(missing)[:5]}; {where}"
    )
    # A retried request (same idempotency key) must never create a second message.
    assert stored == len(load.accepted), f"{stored} messages stored for {len(load.accepted)} sent"
    assert set(states) <= {"success"}, f"destinations not all successful after the retry schedule: {states}"
    holding = {name: depth for name, (depth, _) in second.items() if depth}
    assert not holding, (
        f"queues still hold messages {QUEUE_DRAIN_SECONDS:g} s after delivery: {holding}\n"
        + await hl.broker_report()
    )
    if drained_in > 1:
        row.note += (
            f"{'; ' if row.note else ''}queues took {drained_in:.0f} s to drain after the last delivery"
        )
    growing = {n: (first[n][0], d) for n, (d, _) in second.items() if n in first and d > first[n][0]}
    assert not growing, f"queues growing: {growing}"
    assert second[f"{hl.prefix}.dispatch"][1] >= 1, "nobody consumes the dispatch queue"
    assert second[f"{hl.prefix}.ingest"][1] >= 1, "nobody consumes the AMQP ingest queue"


async def prove_alive(hl: Hookline, farm: ReceiverFarm, app_id: str, label: str, count: int = 10) -> None:
    """The same processes as before the fault accept and deliver new messages."""
    pids = {name: service.pids for name, service in hl.services.items()}
    load = HttpLoad(hl.ingest.url, hl.token, app_id, patience=30)
    result = await load.run(count, seconds=1, label=label)
    assert not result.given_up and len(result.accepted) == count, result
    missing = await farm.wait_for(result.expected(ENDPOINTS), 30)
    assert not missing, f"after recovery, {len(missing)} of {count * 2} deliveries never arrived"
    assert pids == {name: service.pids for name, service in hl.services.items()}
    for service in hl.services.values():
        assert await service.is_ready(), f"{service.name} is not ready:\n{service.tail()}"


async def prove_verifier_alive(hl: Hookline, label: str) -> None:
    """The same verifier process verifies a signed webhook and hands it on to the broker."""
    verifier = hl.services["verifier"]
    secret = new_secret()
    SECRETS.add(secret)
    connection = await aio_pika.connect(hl.stack.broker.url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(f"{hl.prefix}.inbound", routing_key="#")
        body = orjson.dumps({"type": "chaos.in", "data": {"label": label}})
        async with aiohttp.ClientSession(headers=hl.headers) as http:
            source = {"id": f"chaos-{label}", "scheme": "standard-webhooks", "secrets": [secret]}
            async with http.post(f"{verifier.url}/api/v1/sources", json=source) as response:
                assert response.status == 201, await response.text()
            headers = delivery_headers([decode_secret(secret)], f"msg_{label}", body)
            async with http.post(f"{verifier.url}/in/chaos-{label}", data=body, headers=headers) as response:
                assert response.status < 300, await response.text()
        message = await queue.get(timeout=5)
        assert message is not None and orjson.loads(message.body)["data"] == {"label": label}
    finally:
        await connection.close()
