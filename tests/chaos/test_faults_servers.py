"""RabbitMQ is stopped and started once, and PostgreSQL is restarted once, while
messages flow: one test each. Nobody restarts the services; they must reconnect."""

from __future__ import annotations

import pytest

from tests.chaos.audit import audit_delivery, prove_alive, prove_verifier_alive
from tests.chaos.scenario import load_with_faults, outage, subscribed_app
from tests.chaos.sizes import LOAD_SECONDS

DOWN_SECONDS = 2.0

# During a broker outage HTTP creates are still answered (202) from the outbox; during
# a database outage ("fast" shutdown: every session is cut, open transactions roll
# back) creates fail with 5xx and the clients retry with the same idempotency key.
SERVERS = {"broker": "RabbitMQ stop+start", "database": "PostgreSQL restart"}


@pytest.mark.parametrize("server", list(SERVERS))
async def test_server_restarted_mid_load_services_reconnect_by_themselves(
    hookline, receivers, row, chance, server
):
    # Given ingest, a dispatcher delivering to flaky receivers, and a verifier, all on the private server
    hl = await hookline("ingest", "dispatcher", "verifier")
    app_id = await subscribed_app(hl, receivers)
    target = hl.stack.broker if server == "broker" else hl.stack.postgres

    # When the server goes away at a random moment mid-load and comes back
    fault = outage(
        target.stop,
        target.start,
        at=chance.uniform(1.0, LOAD_SECONDS / 3),
        down=DOWN_SECONDS,
        record=lambda: row.faults.update([SERVERS[server]]),
    )
    load = await load_with_faults(hl, app_id, fault, label=server[:2])
    row.note = f"answers during the load: {dict(load.statuses)}"

    # Then the same processes reconnect (pools, channels, consumers, listeners), the
    # outbox publishes what was committed meanwhile, every accepted message is stored
    # once and delivered, nothing stays pending or queued, and the verifier verifies and
    # hands on again
    await audit_delivery(hl, receivers, load, app_id, row)
    await prove_alive(hl, receivers, app_id, label=f"{server}-after")
    await prove_verifier_alive(hl, label=f"{server}-after")
