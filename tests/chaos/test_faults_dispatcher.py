"""The dispatcher is SIGKILLed five times at random moments while messages flow."""

from __future__ import annotations

import asyncio

from tests.chaos.audit import audit_delivery, prove_alive
from tests.chaos.scenario import load_with_faults, subscribed_app
from tests.chaos.sizes import LOAD_SECONDS

KILLS = 5


async def test_dispatcher_sigkilled_five_times_loses_nothing(hookline, receivers, row, chance):
    # Given ingest and a dispatcher delivering to 20 flaky receivers
    hl = await hookline("ingest", "dispatcher")
    app_id = await subscribed_app(hl, receivers)

    async def kill_dispatcher_repeatedly() -> None:
        for _ in range(KILLS):
            # a random moment while it is busy (the restarts take part of the load window)
            await asyncio.sleep(chance.uniform(0.3, LOAD_SECONDS / KILLS))
            await hl.dispatcher.kill()
            row.faults["dispatcher SIGKILL"] += 1
            await hl.dispatcher.start()

    # When messages are sent while the dispatcher is killed and restarted 5 times
    load = await load_with_faults(hl, app_id, kill_dispatcher_repeatedly, label="dk")

    # Then every accepted message reaches every subscribed endpoint, nothing stays
    # pending, no queue holds or grows, and the installation keeps working
    await audit_delivery(hl, receivers, load, app_id, row)
    await prove_alive(hl, receivers, app_id, label="dk-after")
