"""HTTP load on ingest's message API, as a careful client sends it: every message has
its own ``idempotency-key``, and a refused connection, a timeout or a 5xx is retried
with the same key until ingest answers 202 (or the client's patience runs out)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

EVENT_TYPES = 10  # endpoint i subscribes to chaos.k{i % 10}: each message reaches 2 of 20


def event_type_of(n: int) -> str:
    return f"chaos.k{n % EVENT_TYPES}"


def endpoints_of(event_type: str, endpoints: int) -> list[int]:
    k = int(event_type.removeprefix("chaos.k"))
    return [i for i in range(endpoints) if i % EVENT_TYPES == k]


@dataclass
class LoadResult:
    accepted: dict[str, str] = field(default_factory=dict)  # seq -> msg id
    event_types: dict[str, str] = field(default_factory=dict)  # seq -> event type
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, retries included
    connection_errors: int = 0
    given_up: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def expected(self, endpoints: int) -> set[tuple[str, int]]:
        return {
            (seq, index) for seq in self.accepted for index in endpoints_of(self.event_types[seq], endpoints)
        }


class HttpLoad:
    def __init__(
        self, base_url: str, token: str, app_id: str, *, concurrency: int = 8, patience: float = 120
    ):
        self.base_url, self.app_id = base_url, app_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.concurrency, self.patience = concurrency, patience
        self.result = LoadResult()
        self.run_id = uuid.uuid4().hex[:8]

    async def send(self, session: aiohttp.ClientSession, seq: str, event_type: str) -> None:
        key = f"chaos-{self.run_id}-{seq}"
        body = {"eventType": event_type, "payload": {"seq": seq, "note": "chaos"}}
        deadline = time.monotonic() + self.patience
        pause = 0.1
        self.result.event_types[seq] = event_type
        while time.monotonic() < deadline:
            try:
                async with session.post(
                    f"{self.base_url}/api/v1/app/{self.app_id}/msg",
                    json=body,
                    headers={**self.headers, "idempotency-key": key},
                ) as response:
                    self.result.statuses[response.status] += 1
                    if response.status == 202:
                        self.result.accepted[seq] = (await response.json())["id"]
                        return
                    if response.status < 500 and response.status != 409:
                        raise AssertionError(
                            f"ingest refused {seq}: {response.status} {await response.text()}"
                        )
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                self.result.connection_errors += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        self.result.given_up.append(seq)

    async def run(self, count: int, *, seconds: float, label: str) -> LoadResult:
        """Send ``count`` messages paced evenly over about ``seconds``."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        interval = seconds / max(count, 1)
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=15, connect=3)

        async def feed() -> None:
            for n in range(count):
                await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
                await queue.put(n)

        async def client(session: aiohttp.ClientSession) -> None:
            while True:
                n = await queue.get()
                try:
                    await self.send(session, f"{label}-{n}", event_type_of(n))
                finally:
                    queue.task_done()

        async with aiohttp.ClientSession(timeout=timeout) as session:
            clients = [asyncio.create_task(client(session)) for _ in range(self.concurrency)]
            await feed()
            await queue.join()
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
        return self.result
