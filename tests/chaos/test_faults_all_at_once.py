"""Every fault of the list in one load run, at random moments that may overlap: the
dispatcher SIGKILLed five times, ingest twice, RabbitMQ stopped and started, PostgreSQL
restarted. A service restarted while the broker or the database is away has to come up
by itself, and the outbox, the retry tiers and the attempt log have to get through
faults stacked on one another, not only one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from tests.chaos.audit import audit_delivery, prove_alive, prove_verifier_alive
from tests.chaos.processes import ServiceProcess
from tests.chaos.scenario import load_with_faults, outage, subscribed_app
from tests.chaos.sizes import LOAD_SECONDS

DISPATCHER_KILLS = 5
INGEST_KILLS = 2
DOWN_SECONDS = 2.0


class Server(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


async def test_all_faults_in_one_run_lose_nothing(hookline, receivers, row, chance):
    # Given ingest, a dispatcher delivering to 20 flaky receivers, and a verifier
    hl = await hookline("ingest", "dispatcher", "verifier")
    app_id = await subscribed_app(hl, receivers)
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeline: list[tuple[float, str]] = []  # (seconds into the load, what happened), for the note

    def mark(event: str) -> None:
        timeline.append((loop.time() - started, event))

    def moments(count: int) -> list[float]:
        """Random moments inside the load window, in order."""
        return sorted(chance.uniform(0.5, LOAD_SECONDS * 0.8) for _ in range(count))

    def kills(service: ServiceProcess, count: int, fault: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for moment in moments(count):
                # a moment that passed while the last restart waited for readiness comes at once
                await asyncio.sleep(max(0.0, started + moment - loop.time()))
                await service.kill()
                row.faults[fault] += 1
                mark(f"{service.name} killed")
                await service.start()  # ready only once its broker and database answer
                mark(f"{service.name} ready")

        return run

    def outage_of(server: Server, name: str, fault: str) -> Callable[[], Awaitable[None]]:
        return outage(
            server.stop,
            lambda: (server.start(), mark(f"{name} up")),
            at=moments(1)[0],
            down=DOWN_SECONDS,
            record=lambda: (row.faults.update([fault]), mark(f"{name} down")),
        )

    faults = [
        kills(hl.dispatcher, DISPATCHER_KILLS, "dispatcher SIGKILL"),
        kills(hl.ingest, INGEST_KILLS, "ingest SIGKILL"),
        outage_of(hl.stack.broker, "RabbitMQ", "RabbitMQ stop+start"),
        outage_of(hl.stack.postgres, "PostgreSQL", "PostgreSQL restart"),
    ]

    async def all_faults() -> None:
        await asyncio.gather(*(fault() for fault in faults))

    # When messages are sent while all of it happens
    load = await load_with_faults(hl, app_id, all_faults, label="all")
    row.note = (
        f"{load.connection_errors} client connection errors retried; answers {dict(load.statuses)}; "
        + "timeline: "
        + ", ".join(f"{at:.1f} s {event}" for at, event in sorted(timeline))
    )

    # Then every accepted message was stored once and reached every subscribed endpoint,
    # nothing stays pending or queued, and every service works again
    await audit_delivery(hl, receivers, load, app_id, row)
    await prove_alive(hl, receivers, app_id, label="all-after")
    await prove_verifier_alive(hl, label="all-after")
