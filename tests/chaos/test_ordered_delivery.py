"""An ordered endpoint through a broker restart and a dispatcher SIGKILL: RabbitMQ is
stopped and started, and later the dispatcher is killed and started again, while an ordered
endpoint's messages, created through the API, flow to a receiver failing a quarter of
requests at random. Its lane reads the database, so deliveries go on while the broker is
away, and the restarted dispatcher takes the lane over once its lease lapses; every message
arrives, first receipts in creation order, none is sent before the one ahead of it
succeeded, and only a head is ever sent again."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.support.ordered import OrderedLedger

MESSAGES = 150
RETRIES = ",".join(["0.1s"] * 12)  # a quarter failing is never dead-lettered (0.25^12)


async def test_ordered_endpoint_keeps_its_order_through_a_broker_restart_and_a_sigkill(hookline, chance, row):
    ledger = OrderedLedger(failing=0.25, seed=chance.randrange(1 << 30))
    app = web.Application()
    app.router.add_post("/ordered", ledger.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/ordered"  # type: ignore[union-attr]
    # A killed dispatcher's lanes wait out their lease (2 s here) before another takes them
    hl = await hookline(
        "ingest", "dispatcher", HOOKLINE_RETRY_SCHEDULE=RETRIES, HOOKLINE_DISPATCHER_LANE_LEASE_SECONDS="2"
    )
    broker = hl.stack.broker
    try:
        async with aiohttp.ClientSession(headers=hl.headers) as http:
            async with http.post(f"{hl.api}/app", json={"name": "ordered chaos"}) as r:
                app_id = (await r.json())["id"]
            async with http.post(f"{hl.api}/app/{app_id}/endpoint", json={"url": url, "ordered": True}) as r:
                assert r.status == 201, await r.text()
            # Given messages accepted one after another (creation order is their id order)
            created, at_kill = [], -1
            for n in range(MESSAGES):
                body = {"eventType": "chaos.ordered", "payload": {"n": n}}
                async with http.post(f"{hl.api}/app/{app_id}/msg", json=body) as r:
                    assert r.status == 202, await r.text()
                    created.append((await r.json())["id"])
                if n == MESSAGES // 3:
                    # When the broker goes away for 2 s a third of the way in
                    await asyncio.to_thread(broker.stop)
                    row.faults.update(["RabbitMQ stop+start"])
                    await asyncio.sleep(2)
                    await asyncio.to_thread(broker.start)
                if n == 2 * MESSAGES // 3:
                    # And when the dispatcher is SIGKILLed two thirds of the way in
                    await hl.dispatcher.kill()
                    at_kill = len(ledger.first_successes())
                    # (while its lane had work: not every message created so far had a 2xx)
                    assert at_kill < n + 1, at_kill
                    row.faults.update(["dispatcher SIGKILL"])
                    await hl.dispatcher.start()
        # Then every message arrives, first receipts in creation order
        async with asyncio.timeout(120):
            while len(ledger.first_successes()) < MESSAGES:
                await asyncio.sleep(0.2)
        assert ledger.first_successes() == created
        # And none was sent before the one ahead of it succeeded
        assert ledger.sent_before_predecessor_succeeded(created) == []
        # And only a head was ever sent again (nothing once a message behind it had gone)
        assert ledger.sent_again_after_a_successor(created) == []
        row.accepted, row.delivered = MESSAGES, len(ledger.first_successes())
        row.duplicates = ledger.duplicate_successes()
        row.note = (
            f"ordered endpoint, 25 % failing: {len(ledger.requests)} requests;"
            f" dispatcher killed with {at_kill} of {2 * MESSAGES // 3 + 1} created delivered"
        )
    finally:
        await runner.cleanup()
