"""One Hookline installation for one chaos test: ingest and dispatcher (and the
verifier when asked) as processes on the private broker and database, with their own
AMQP prefix and API token, and the audits a test runs afterwards."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from scripts.chaos.ports import free_port
from scripts.chaos.stack import PrivateStack
from tests.chaos.processes import ServiceProcess
from tests.chaos.sizes import RETRY_SCHEDULE

# Every secret a chaos test created or was given: no service log line may contain one.
SECRETS: set[str] = set()


class Hookline:
    def __init__(
        self, stack: PrivateStack, database: str, logs: Path, *, services: tuple[str, ...], **env: str
    ) -> None:
        self.stack = stack
        self.dsn = stack.postgres.dsn(database)
        self.prefix = f"chaos_{secrets.token_hex(4)}"
        self.token = f"chaos-token-{secrets.token_urlsafe(24)}"
        SECRETS.add(self.token)
        self.env = {
            **stack.env(database),
            "HOOKLINE_AMQP_PREFIX": self.prefix,
            "HOOKLINE_API_TOKEN": self.token,
            "HOOKLINE_INGEST_HOST": "127.0.0.1",
            "HOOKLINE_INGEST_PORT": str(free_port()),
            "HOOKLINE_DISPATCHER_PORT": str(free_port()),
            "HOOKLINE_VERIFIER_PORT": str(free_port()),
            "HOOKLINE_ALLOWED_TARGET_CIDRS": "127.0.0.0/8",
            "HOOKLINE_RETRY_SCHEDULE": RETRY_SCHEDULE,
            "HOOKLINE_OUTBOX_GRACE_SECONDS": "2",
            "HOOKLINE_OUTBOX_POLL_SECONDS": "0.5",
            "HOOKLINE_PUBLISH_CONFIRM_TIMEOUT": "2",
            "HOOKLINE_LOG_FORMAT": "json",
            "HOOKLINE_DELIVERY_TIMEOUT": "5",
            **env,
        }
        self.services = {name: ServiceProcess(name, self.env, logs / f"{name}.log") for name in services}

    @property
    def ingest(self) -> ServiceProcess:
        return self.services["ingest"]

    @property
    def dispatcher(self) -> ServiceProcess:
        return self.services["dispatcher"]

    @property
    def api(self) -> str:
        return self.ingest.url + "/api/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start(self) -> Hookline:
        for service in self.services.values():
            await service.start()
        return self

    async def stop(self) -> None:
        for service in self.services.values():
            await service.stop()

    async def app_with_endpoints(
        self, urls: list[str], event_types: list[list[str] | None]
    ) -> tuple[str, list[str]]:
        """An application with one endpoint per URL; each endpoint's secret is remembered."""
        async with aiohttp.ClientSession(headers=self.headers) as http:
            async with http.post(f"{self.api}/app", json={"name": f"chaos {self.prefix}"}) as response:
                assert response.status == 201, await response.text()
                app_id = (await response.json())["id"]
            endpoint_ids = []
            for url, types in zip(urls, event_types, strict=True):
                body: dict[str, object] = {"url": url}
                if types:
                    body["eventTypes"] = types
                async with http.post(f"{self.api}/app/{app_id}/endpoint", json=body) as response:
                    assert response.status == 201, await response.text()
                    endpoint_ids.append((await response.json())["id"])
                async with http.get(
                    f"{self.api}/app/{app_id}/endpoint/{endpoint_ids[-1]}/secret"
                ) as response:
                    SECRETS.add((await response.json())["key"])
        return app_id, endpoint_ids

    # --- audits -----------------------------------------------------------------------

    async def responses_served(self) -> tuple[int, int]:
        """(all, 5xx) responses ingest counted since it started."""
        return await served(self.ingest.url)

    async def destination_states(self, app_id: str) -> dict[str, int]:
        """How many of the application's destinations are in each state."""
        names = {0: "success", 1: "pending", 2: "fail", 3: "sending"}
        connection = await asyncpg.connect(self.dsn)
        try:
            rows = await connection.fetch(
                "SELECT status, count(*) AS n FROM message_destination WHERE app_id = $1 GROUP BY status",
                app_id,
            )
        finally:
            await connection.close()
        return {names.get(r["status"], str(r["status"])): r["n"] for r in rows}

    async def messages_stored(self, app_id: str) -> int:
        connection = await asyncpg.connect(self.dsn)
        try:
            return await connection.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app_id)
        finally:
            await connection.close()

    async def queues(self) -> dict[str, tuple[int, int]]:
        """Queue -> (messages, consumers) for this installation's queues."""
        return await asyncio.to_thread(self.stack.broker.queues, self.prefix + ".")

    async def broker_report(self) -> str:
        """This installation's queues in detail, and what the broker logged about dead-lettering."""
        broker = self.stack.broker
        columns = ("name", "messages", "messages_ready", "messages_unacknowledged", "consumers")
        table = await asyncio.to_thread(broker.ctl, "list_queues", *columns)
        lines = [line for line in table.splitlines() if line.startswith(self.prefix)]
        warnings = [
            line for line in broker.tail(2000).splitlines() if "dead-letter" in line or "dead letter" in line
        ]
        return "\n".join(["\t".join(columns), *lines, *warnings[-10:]])

    async def wait_settled(self, app_id: str, timeout: float) -> dict[str, int]:
        """Wait until no destination is pending or sending; the final state counts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            states = await self.destination_states(app_id)
            if (not states.get("pending") and not states.get("sending")) or loop.time() > deadline:
                return states
            await asyncio.sleep(0.5)


_PROBES = {"/readyz", "/healthz"}


async def served(base_url: str) -> tuple[int, int]:
    """(all responses, 5xx responses) counted in a service's ``/metrics`` histograms.

    Readiness probes are left out: their 503 before a service is ready (the harness polls
    it while starting the service) is the probe working, not a server error."""
    async with aiohttp.ClientSession() as http, http.get(base_url + "/metrics") as response:
        text = await response.text()
    total = errors = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_count") and "status" in sample.labels:
                if sample.labels.get("route") in _PROBES:
                    continue
                total += sample.value
                errors += sample.value if sample.labels["status"].startswith("5") else 0
    return int(total), int(errors)
