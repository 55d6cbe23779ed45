"""Ingest is SIGKILLed twice during HTTP load; clients retry with the same idempotency key."""

from __future__ import annotations

import asyncio

from tests.chaos.audit import audit_delivery, prove_alive
from tests.chaos.scenario import load_with_faults, subscribed_app
from tests.chaos.sizes import LOAD_SECONDS

KILLS = 2


async def test_ingest_sigkilled_twice_during_http_load_loses_and_doubles_nothing(
    hookline, receivers, row, chance
):
    # Given ingest and a dispatcher delivering to 20 flaky receivers
    hl = await hookline("ingest", "dispatcher")
    app_id = await subscribed_app(hl, receivers)

    async def kill_ingest_twice() -> None:
        for _ in range(KILLS):
            # mid-load: requests in flight, commits and publishes half done
            await asyncio.sleep(chance.uniform(1.0, LOAD_SECONDS / (KILLS + 1)))
            await hl.ingest.kill()
            row.faults["ingest SIGKILL"] += 1
            await hl.ingest.start()

    # When HTTP clients send messages (retrying refused and cut requests with the same
    # idempotency key) while ingest is killed and restarted twice
    load = await load_with_faults(hl, app_id, kill_ingest_twice, label="ik")
    row.note = f"{load.connection_errors} client connection errors retried; answers {dict(load.statuses)}"

    # Then each message was stored once and delivered everywhere; nothing is left pending
    # (the restarted ingest's outbox relay publishes what the killed one committed)
    await audit_delivery(hl, receivers, load, app_id, row)
    await prove_alive(hl, receivers, app_id, label="ik-after")
