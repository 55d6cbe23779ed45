"""Deliveries whose consequences the database will not take, against the real broker.

A receiver's body PostgreSQL refuses in text (a NUL) once stopped attempt logging for
every endpoint and then SIGTERM; a task that can never be settled came back for ever.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from services.dispatcher.publisher import H_DEAD_REASON
from shared.tasks import DeliveryTask
from tests.dispatcher.conftest import eventually, running_dispatcher
from tests.dispatcher.process import start_dispatcher
from tests.dispatcher.refusing import refusing_attempts
from tests.support.tcp_proxy import TcpProxy


class RawReceiver:
    """A bare asyncio server answering each path with the bytes given, whatever they are."""

    def __init__(self, answers: dict[str, bytes], statuses: dict[str, int] | None = None) -> None:
        self.answers, self.statuses, self.hits = answers, statuses or {}, defaultdict(int)
        self.url = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            await reader.readexactly(int(length.group(1)) if length else 0)
            self.hits[path] += 1
            body = self.answers.get(path, b"fine")
            status = self.statuses.get(path, 200)
            writer.write(
                b"HTTP/1.1 %d X\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (status, len(body))
            )
            writer.write(body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw_receiver() -> AsyncIterator[RawReceiver]:
    receiver = RawReceiver({})
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield receiver
    server.close()
    await server.wait_closed()


async def test_any_response_body_is_stored_and_readable_through_the_api(settings, world, raw_receiver):
    from tests.ingest.conftest import start_ingest  # ingest is another service: only this test runs it

    zipped = gzip.compress(b'{"ok": true}')
    raw_receiver.answers.update(
        {
            "/nul": b'{"ok":\x00true}',
            "/latin1": b"caf\xe9 cr\xe8me",
            "/gzip": zipped,
            "/binary": bytes(range(256)),
        }
    )
    odd = {path: await world.endpoint(f"{raw_receiver.url}{path}") for path in raw_receiver.answers}
    healthy = await world.endpoint(f"{raw_receiver.url}/healthy")
    ingest, runner = await start_ingest(settings)
    try:
        async with running_dispatcher(settings):
            # Given receivers answering a NUL, Latin-1, gzip and binary, beside a healthy one
            await world.send([*odd.values(), healthy])
            await eventually(lambda: _attempted(world, [*odd.values(), healthy]))
            # And the healthy endpoint's later attempts are still written
            await world.send([healthy], count=5)
            await eventually(lambda: _count(world, healthy.id, 6))
        async with aiohttp.ClientSession(headers=ingest.headers()) as http:
            shown = {}
            for path, ep in odd.items():
                url = f"{ingest.url}/api/v1/app/{world.app_id}/attempt/endpoint/{ep.id}"
                async with http.get(url) as response:
                    assert response.status == 200, await response.text()
                    [attempt] = (await response.json())["data"]
                    shown[path] = attempt["response"]
    finally:
        await runner.cleanup()
    # Then each is stored as text, the mapping of docs/attempts.md
    assert shown == {
        "/nul": '{"ok":\u2400true}',
        "/latin1": "caf\ufffd cr\ufffdme",
        "/gzip": f"[binary response: {len(zipped)} bytes kept, gzip, not shown]",
        "/binary": "[binary response: 256 bytes kept, not shown]",
    }


async def _attempted(world, endpoints) -> bool:
    for ep in endpoints:
        if not await world.attempts(ep.id):
            return False
    return True


async def _count(world, endpoint_id: str, expected: int) -> bool:
    return len(await world.attempts(endpoint_id)) == expected


async def test_a_task_that_never_settles_is_dead_lettered_and_others_flow(make_settings, make_world, db_pool):
    settings = make_settings(poison_deliveries=3)
    world = await make_world(settings)
    raw = RawReceiver({})
    server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    bad, good = await world.endpoint(f"{url}/bad"), await world.endpoint(f"{url}/good")
    try:
        # Given a database that refuses every form of the attempt rows of one endpoint
        async with refusing_attempts(db_pool, always=[bad.id], column="endpoint_id"):
            async with running_dispatcher(settings) as dispatcher:
                before = await _poisoned_total(dispatcher)
                [poison] = await world.send([bad])
                await world.send([good], count=10)
                # Then its task goes to the dead queue after three tries, while the others are written
                await eventually(lambda: _depth(world, world.topology.dead_queue, 1), timeout=40)
                await eventually(lambda: _count(world, good.id, 10))
                await eventually(lambda: _depth(world, world.topology.dispatch_queue, 0))
                assert await _poisoned_total(dispatcher) == before + 1
    finally:
        server.close()
    dead = await (await world.channel.get_queue(world.topology.dead_queue)).get(no_ack=True)
    reason = dead.headers[H_DEAD_REASON]
    assert reason.startswith(
        "failed to settle 3 times: AttemptNotStored: RaiseError: test refuses every attempt"
    )
    assert DeliveryTask.from_amqp(dead).msg_id == poison.msg_id
    assert raw.hits["/bad"] == 3 and raw.hits["/good"] == 10


async def _poisoned_total(dispatcher_url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{dispatcher_url}/metrics") as response:
        text = await response.text()
    match = re.search(r"^hookline_deliveries_poisoned_total ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _depth(world, queue: str, expected: int) -> bool:
    return await world.queue_depth(queue) == expected


async def test_sigterm_ends_within_the_drain_bound_while_the_database_is_away(
    make_settings, make_world, migrated_database, receiver
):
    parts = urlsplit(migrated_database)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    settings = make_settings(database_url=f"postgresql://postgres@127.0.0.1:{proxy.port}{parts.path}")
    world = await make_world(settings)
    ep = await world.endpoint(f"{receiver.url}/hook")
    dispatcher = await start_dispatcher(settings, HOOKLINE_DRAIN_SECONDS=3)
    try:
        await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.received) == 1)  # the endpoint is cached
        await eventually(lambda: _count(world, ep.id, 1))
        # Given a delivery POSTed while the database is away: its attempt cannot be written
        await proxy.cut()
        [stuck] = await world.send([ep])
        await receiver.wait_for(lambda: len(receiver.received) == 2)
        await asyncio.sleep(0.5)
        # When the dispatcher gets SIGTERM
        started = time.monotonic()
        code, output = await dispatcher.stop(timeout=30)
        took = time.monotonic() - started
    finally:
        if dispatcher.process.returncode is None:
            await dispatcher.kill()
        await proxy.cut()
    # Then it ends (the old writer held the last flush for good) and says what it left
    assert code == 0, output[-3000:]
    print(f"SIGTERM to exit with the database away: {took:.1f} s (drain bound 3 s)")
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    drained = [line for line in lines if line["event"] == "dispatcher drained"]
    assert drained and drained[0]["cancelled_msg_ids"] == [stuck.msg_id], output[-3000:]
    [unwritten] = [line for line in lines if line["event"].startswith("attempt log entries not written")]
    assert unwritten["msg_ids"] == [stuck.msg_id]
    # And its task is back in the queue for the next dispatcher
    assert await world.queue_depth(world.topology.dispatch_queue) == 1
    assert len(await world.attempts(ep.id)) == 1


async def test_a_failed_attempt_that_is_not_stored_still_follows_its_schedule(
    make_settings, make_world, db_pool
):
    settings = make_settings(poison_deliveries=3, retry_schedule=[1.0, 1.0])
    world = await make_world(settings)
    raw = RawReceiver({"/failing": b"no"}, {"/failing": 500})
    server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    ep = await world.endpoint(f"{url}/failing")
    try:
        # Given a receiver that always fails and a database refusing its attempts in every form
        async with (
            refusing_attempts(db_pool, always=[ep.id], column="endpoint_id"),
            running_dispatcher(settings),
        ):
            await world.send([ep])
            # Then the task follows its schedule, three attempts and dead, without multiplying
            await eventually(lambda: _depth(world, world.topology.dead_queue, 1), timeout=30)
            await asyncio.sleep(2.5)  # a copy of a copy would have come back by now
    finally:
        server.close()
    assert raw.hits["/failing"] == 3
    assert await world.queue_depth(world.topology.dead_queue) == 1
    dead = await (await world.channel.get_queue(world.topology.dead_queue)).get(no_ack=True)
    assert dead.headers[H_DEAD_REASON] == "3 attempts; last: HTTP 500"
