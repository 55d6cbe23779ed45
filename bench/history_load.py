"""Fills a database with history for `make bench-history`: applications, endpoints, and
messages, destinations and attempts spread over days of partitions, written with COPY.

The shape is a busy installation's: one hot application takes a fifth of the messages,
the others share the rest; every message goes to two endpoints of its application; of
the deliveries, 69 % succeed at once, 21 % after three failures, 10 % fail ten times
(2.53 attempts per delivery, so attempts = 5.06 x messages). Ids are made at the rows' own
times, as ingest and the dispatcher make them, so the id indexes see real orderings.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.ids import new_id

EVENT_TYPES = [f"{noun}.{verb}" for noun in ("invoice", "customer", "order", "payment") for verb in
               ("created", "updated", "paid", "failed", "deleted")]  # fmt: skip
ENDPOINTS_PER_APP = 10
FANOUT = 2
# (share of deliveries, attempts each, final status): 0 success, 2 fail
OUTCOMES = [(0.69, 1, 0), (0.21, 4, 0), (0.1, 10, 2)]
_MESSAGE_COLUMNS = ["id", "app_id", "event_type", "payload", "created_at"]
_DESTINATION_COLUMNS = ["msg_id", "endpoint_id", "app_id", "status", "attempt_count", "published",
                        "created_at", "updated_at"]  # fmt: skip
_ATTEMPT_COLUMNS = ["id", "msg_id", "endpoint_id", "app_id", "url", "response", "response_status_code",
                    "response_duration_ms", "status", "attempt_number", "created_at",
                    "event_type"]  # fmt: skip


@dataclass
class Shape:
    messages: int
    days: int
    apps: int = 200
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def first_day(self) -> datetime:
        return (self.now - timedelta(days=self.days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Loaded:
    apps: list[str]
    endpoints: dict[str, list[str]]  # app id -> its endpoint ids
    hot_app: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def make_partitions(conn: asyncpg.Connection, shape: Shape) -> None:
    for n in range(shape.days + 2):
        start = shape.first_day + timedelta(days=n)
        end = start + timedelta(days=1)
        for table in ("message", "message_destination", "message_attempt"):
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{table}_p{start:%Y%m%d}" PARTITION OF {table}'
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )


async def make_apps(conn: asyncpg.Connection, shape: Shape) -> Loaded:
    apps = [new_id("app") for _ in range(shape.apps)]
    await conn.executemany(
        "INSERT INTO application (id, name) VALUES ($1, $2)", [(a, f"bench {a}") for a in apps]
    )
    endpoints = {app: [new_id("ep") for _ in range(ENDPOINTS_PER_APP)] for app in apps}
    await conn.executemany(
        "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, $3, $4)",
        [(ep, app, f"https://hooks.example.com/{ep}", "whsec_" + "A" * 32) for app, eps in endpoints.items()
         for ep in eps],
    )  # fmt: skip
    return Loaded(apps, endpoints, hot_app=apps[0])


def _rows(shape: Shape, loaded: Loaded, seed: int = 7) -> Iterator[tuple[str, tuple]]:
    """("message" | "destination" | "attempt", row) in time order."""
    rng = random.Random(seed)
    span = (shape.now - shape.first_day).total_seconds() - 60
    start = shape.first_day.timestamp()
    weights = [w for w, _, _ in OUTCOMES]
    payload = '{"id":"%s","amount":1200,"currency":"eur","customer":{"id":"cus_1","email":"a@example.com"},' \
              '"lines":[{"sku":"sku_1","qty":2},{"sku":"sku_2","qty":1}]}'  # fmt: skip
    for i in range(shape.messages):
        at = start + span * i / shape.messages
        app = loaded.hot_app if rng.random() < 0.2 else loaded.apps[rng.randrange(1, len(loaded.apps))]
        msg_id, created = new_id("msg", at), datetime.fromtimestamp(at, UTC)
        event_type = EVENT_TYPES[rng.randrange(len(EVENT_TYPES))]
        yield "message", (msg_id, app, event_type, payload % i, created)
        for endpoint in rng.sample(loaded.endpoints[app], FANOUT):
            _, attempts, status = rng.choices(OUTCOMES, weights)[0]
            attempt_at = at
            for n in range(1, attempts + 1):
                attempt_at += 0.05 + 2 ** min(n, 8)  # the backoff, shortened
                ok = n == attempts and status == 0
                yield "attempt", (
                    new_id("atmpt", attempt_at), msg_id, endpoint, app,
                    f"https://hooks.example.com/{endpoint}", "ok" if ok else "upstream connect error",
                    200 if ok else 503, rng.randrange(5, 400), 0 if ok else 2, n,
                    datetime.fromtimestamp(attempt_at, UTC), event_type,
                )  # fmt: skip
            yield "destination", (msg_id, endpoint, app, status, attempts, True, created, created)


async def load_history(dsn: str, shape: Shape, batch: int = 20_000) -> Loaded:
    """COPY ``shape``'s history into ``dsn`` (migrated, empty); returns what it made.
    A destination takes its message's ``created_at`` (ingest's rule); an attempt its own."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await make_partitions(conn, shape)
        loaded = await make_apps(conn, shape)
        buffers: dict[str, list[tuple]] = {"message": [], "destination": [], "attempt": []}
        tables = {
            "message": ("message", _MESSAGE_COLUMNS),
            "destination": ("message_destination", _DESTINATION_COLUMNS),
            "attempt": ("message_attempt", _ATTEMPT_COLUMNS),
        }
        counts = dict.fromkeys(buffers, 0)

        async def flush(kind: str) -> None:
            table, columns = tables[kind]
            await conn.copy_records_to_table(table, records=buffers[kind], columns=columns)
            counts[kind] += len(buffers[kind])
            buffers[kind] = []

        for kind, row in _rows(shape, loaded):
            buffers[kind].append(row)
            if len(buffers[kind]) >= batch:
                await flush(kind)
        for kind in buffers:
            await flush(kind)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    loaded.counts, loaded.seconds = counts, time.perf_counter() - started
    return loaded
