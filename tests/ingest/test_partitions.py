"""Partitioned history against real PostgreSQL: the in-place migration from the old
schema, partitions made ahead and dropped by retention (a time argument, not waiting),
and payloads expunged past payloadRetention* (through the svix SDK)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from structlog.testing import capture_logs
from svix.api import ApplicationIn, EndpointIn, MessageGetOptions, MessageIn, MessageListOptions
from svix.exceptions import HttpError

from services.ingest.retention import Upkeep, existing_partitions, upkeep, warn_without_autovacuum
from shared.ids import new_id
from shared.migrate import apply_migrations, migration_files
from shared.partitions import Partition
from tests.ingest.conftest import start_ingest
from tests.support.databases import temporary_database

NOW = datetime.now(UTC)
WITH_CONTENT = MessageGetOptions(with_content=True)


@pytest.fixture
async def fresh_dsn() -> AsyncIterator[str]:
    """A database of its own: these tests drop partitions and apply migrations."""
    async with temporary_database(f"hookline_parts_{uuid.uuid4().hex[:10]}") as dsn:
        yield dsn


async def _apply_up_to(conn: asyncpg.Connection, last: str) -> None:
    """The schema of an installation made before 006, recorded as ``shared.migrate`` does."""
    await conn.execute(
        "CREATE TABLE schema_migration (version text PRIMARY KEY, applied_at timestamptz DEFAULT now())"
    )
    for path in migration_files():
        if path.stem > last:
            break
        await conn.execute(path.read_text())
        await conn.execute("INSERT INTO schema_migration (version) VALUES ($1)", path.stem)


async def _fill_old_schema(conn: asyncpg.Connection) -> None:
    """Two apps, messages over 200 days (with and without eventId), destinations created
    later than their message (a resend), attempts, an expunged message."""
    for app in ("app_a", "app_b"):
        await conn.execute("INSERT INTO application (id, name) VALUES ($1, $1)", app)
        await conn.execute(
            "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, 'http://x', 's')",
            f"ep_{app}",
            app,
        )
    for n in range(60):
        app = ("app_a", "app_b")[n % 2]
        at = NOW - timedelta(days=200 - 3 * n, hours=n)
        msg = new_id("msg", at.timestamp())
        await conn.execute(
            "INSERT INTO message (id, app_id, event_id, event_type, payload, tags, created_at, expunged_at)"
            " VALUES ($1, $2, $3, 'order.paid', $4, $5, $6, $7)",
            msg, app, f"evt-{n}" if n % 3 else None, f'{{"n":{n}}}', ["t"] if n % 2 else None, at,
            at if n == 7 else None,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO message_destination (msg_id, endpoint_id, app_id, status, published, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            msg, f"ep_{app}", app, n % 3, n % 5 != 0, at + timedelta(days=n % 4),
        )  # fmt: skip
        for k in range(n % 3):
            await conn.execute(
                "INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response, status,"
                " attempt_number, created_at) VALUES ($1, $2, $3, $4, 'http://x', $5, 2, $6, $7)",
                new_id("atmpt", (at + timedelta(hours=k)).timestamp()), msg, f"ep_{app}", app,
                f"body {n}.{k}", k + 1, at + timedelta(hours=k),
            )  # fmt: skip


_MESSAGES = (
    "SELECT id, app_id, event_id, event_type, payload, channels, tags, created_at, expunged_at FROM message"
)
_DESTINATIONS = (
    "SELECT msg_id, endpoint_id, app_id, status, next_attempt, attempt_count, published, trigger_type,"
    " updated_at FROM message_destination"
)
_ATTEMPTS = (  # the old schema's columns (later migrations add some, empty for these rows)
    "SELECT id, msg_id, endpoint_id, app_id, url, response, response_status_code, response_duration_ms,"
    " status, trigger_type, attempt_number, error, created_at FROM message_attempt"
)
_LATER_INSERT = (
    "INSERT INTO message (id, app_id, event_type, payload, created_at)"
    " VALUES ('msg_later', 'app_a', 't', '{}', $1)"
)


async def _snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    return {q: sorted(tuple(r) for r in await conn.fetch(q)) for q in (_MESSAGES, _DESTINATIONS, _ATTEMPTS)}


async def test_the_old_schema_migrates_in_place_without_losing_a_row(fresh_dsn: str) -> None:
    # Given an installation at migration 005 with 200 days of history
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await _apply_up_to(conn, "005_event_type_schemas")
        await _fill_old_schema(conn)
        before = await _snapshot(conn)
        assert len(before[_ATTEMPTS]) == 60
        # When the next migrations are applied
        later = [p.stem for p in migration_files() if p.stem > "005_event_type_schemas"]
        assert later[0] == "006_partitioned_history"
        assert await apply_migrations(fresh_dsn) == later
        # Then every row is there, in daily partitions
        assert await _snapshot(conn) == before
        kinds = await conn.fetch(
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY($1)",
            ["message", "message_destination", "message_attempt"],
        )
        assert {r["relkind"] for r in kinds} == {"p"}
        days = {p.day for p in await existing_partitions(conn) if p.table == "message"}
        assert (NOW - timedelta(days=200)).date() in days
        assert {(NOW + timedelta(days=n)).date() for n in range(8)} <= days
        # a destination now lives in its message's partition
        assert await conn.fetchval(
            "SELECT count(*) FROM message_destination d JOIN message m"
            " ON m.id = d.msg_id AND m.created_at = d.created_at"
        ) == 60  # fmt: skip
        # eventId stays unique per app
        assert await conn.fetchval("SELECT count(*) FROM message_event_id") == 40
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO message_event_id (app_id, event_id, msg_id, created_at)"
                " VALUES ('app_b', 'evt-1', 'msg_x', now())"
            )
    finally:
        await conn.close()


async def _upkeep(pool: asyncpg.Pool, now: datetime, retention_days: int = 90) -> Upkeep:
    # Another replica (here: a running ingest's own loop) may hold the lock for a moment.
    async with asyncio.timeout(20):
        while (done := await upkeep(pool, now, retention_days=retention_days, premake_days=7)) is None:
            await asyncio.sleep(0.05)
    return done


async def test_partitions_are_made_ahead_and_dropped_past_retention(fresh_dsn: str) -> None:
    await apply_migrations(fresh_dsn)
    async with asyncpg.create_pool(fresh_dsn, min_size=1, max_size=2) as pool:
        await pool.execute("INSERT INTO application (id, name) VALUES ('app_a', 'a')")
        await pool.execute(
            "INSERT INTO message (id, app_id, event_type, payload) VALUES ('msg_today', 'app_a', 't', '{}')"
        )
        later = NOW + timedelta(days=100)
        # Given no partition for a day 100 days ahead, a row for it has nowhere to go
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                _LATER_INSERT,
                later,
            )
        # When upkeep runs as if 100 days had passed
        done = await _upkeep(pool, later)
        # Then that day and the week after it exist for every table, and today is gone
        assert len(done.created) == 3 * 8
        assert f"message_attempt_p{later:%Y%m%d}" in done.created
        assert f"message_p{NOW:%Y%m%d}" in done.dropped
        assert f"message_destination_p{NOW:%Y%m%d}" in done.dropped
        assert await pool.fetchval("SELECT count(*) FROM message") == 0
        await pool.execute(
            _LATER_INSERT,
            later,
        )
        # The days still inside retention stay, and a second round changes nothing
        async with pool.acquire() as conn:
            days = {p.day for p in await existing_partitions(conn) if p.table == "message"}
        assert min(days) > (later - timedelta(days=91)).date()
        again = await _upkeep(pool, later)
        assert (again.created, again.dropped) == ([], [])


async def test_payloads_are_expunged_past_their_retention_and_stay_listed(svix, db_pool) -> None:
    app = await svix.application.create(ApplicationIn(name="retention"))
    ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    hours = await svix.message.create(
        app.id, MessageIn(event_type="a.b", payload={"secret": 1}, payload_retention_hours=1)
    )
    days = await svix.message.create(
        app.id, MessageIn(event_type="a.b", payload={"secret": 2}, payload_retention_period=2)
    )
    kept = await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"secret": 3}))
    for msg in (hours, days, kept):
        await db_pool.execute(
            "INSERT INTO message_attempt (id, msg_id, endpoint_id, app_id, url, response, status)"
            " VALUES ($1, $2, $3, $4, 'http://x', 'sensitive body', 2)",
            new_id("atmpt"), msg.id, ep.id, app.id,
        )  # fmt: skip

    async def payloads() -> list[dict]:
        return [(await svix.message.get(app.id, m.id, WITH_CONTENT)).payload for m in (hours, days, kept)]

    async def responses(msg_id: str) -> list[str]:
        return [
            r["response"]
            for r in await db_pool.fetch("SELECT response FROM message_attempt WHERE msg_id = $1", msg_id)
        ]

    # Within the hour nothing changes
    await _upkeep(db_pool, datetime.now(UTC) + timedelta(minutes=50))
    assert await payloads() == [{"secret": 1}, {"secret": 2}, {"secret": 3}]
    # Past an hour only payloadRetentionHours=1 is expunged
    await _upkeep(db_pool, datetime.now(UTC) + timedelta(hours=1, minutes=1))
    assert await payloads() == [{"expired": True}, {"secret": 2}, {"secret": 3}]
    assert await responses(hours.id) == ["EXPUNGED"]
    assert await responses(days.id) == ["sensitive body"]
    # Past two days payloadRetentionPeriod=2 too; no retention given keeps the payload
    done = await _upkeep(db_pool, datetime.now(UTC) + timedelta(days=2, minutes=1))
    assert done.payloads_expunged == 1
    assert await payloads() == [{"expired": True}, {"expired": True}, {"secret": 3}]
    assert await responses(kept.id) == ["sensitive body"]
    listed = await svix.message.list(app.id, MessageListOptions(with_content=True))
    assert {m.id for m in listed.data} == {hours.id, days.id, kept.id}


async def test_both_payload_retentions_at_once_are_refused(http) -> None:
    app = await (await http.post("/api/v1/app", json={"name": "both"})).json()
    body = {"eventType": "a.b", "payload": {}, "payloadRetentionPeriod": 1, "payloadRetentionHours": 1}
    async with http.post(f"/api/v1/app/{app['id']}/msg", json=body) as response:
        assert response.status == 422


async def test_a_payload_retention_past_90_days_is_a_422_not_a_500(http) -> None:
    # Found by the schema fuzzer: a 20-digit payloadRetentionHours overflowed timedelta.
    app = await (await http.post("/api/v1/app", json={"name": "long"})).json()
    for field, value in (
        ("payloadRetentionHours", 10**20),
        ("payloadRetentionHours", 2161),
        ("payloadRetentionPeriod", 91),
    ):
        body = {"eventType": "a.b", "payload": {}, field: value}
        async with http.post(f"/api/v1/app/{app['id']}/msg", json=body) as response:
            assert response.status == 422, (field, value)
            assert field in (await response.json())["detail"][0]["loc"]  # Svix's validation shape


async def test_an_event_id_is_refused_twice_and_free_again_past_retention(svix, db_pool) -> None:
    app = await svix.application.create(ApplicationIn(name="event-ids"))
    await svix.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-once"))
    with pytest.raises(HttpError) as refused:
        await svix.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-once"))
    assert refused.value.status_code == 409
    # Only the event id bookkeeping is released here (partitions of the session database
    # stay: other tests use them); the message itself leaves with its day's partition.
    await db_pool.execute(
        "UPDATE message_event_id SET created_at = now() - interval '91 days' WHERE app_id = $1", app.id
    )
    done = await _upkeep(db_pool, datetime.now(UTC))
    assert done.event_ids_released >= 1
    await svix.message.create(app.id, MessageIn(event_type="a.b", payload={}, event_id="evt-once"))


async def test_a_starting_ingest_makes_the_missing_partitions(fresh_dsn: str, make_settings) -> None:
    # Given a database whose partitions of today and the days ahead are gone
    await apply_migrations(fresh_dsn)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        for part in await existing_partitions(conn):
            await conn.execute(f'DROP TABLE "{part.name}"')
        assert await existing_partitions(conn) == set()
        # When ingest starts (its history-retention loop runs a round at once)
        _running, runner = await start_ingest(make_settings(database_url=fresh_dsn))
        try:
            async with asyncio.timeout(20):
                while len(await existing_partitions(conn)) < 3 * 8:
                    await asyncio.sleep(0.05)
        finally:
            await runner.cleanup()
        # Then today's rows have somewhere to go
        assert {p.day for p in await existing_partitions(conn)} >= {datetime.now(UTC).date()}
    finally:
        await conn.close()


async def test_a_resend_of_an_older_message_stays_in_its_partition(svix, db_pool) -> None:
    # Given a message three days old with its destination, in that day's partition
    at = datetime.now(UTC) - timedelta(days=3)
    day = Partition("message_destination", at.date())
    for table in ("message", "message_destination"):
        part = Partition(table, at.date())
        await db_pool.execute(
            f'CREATE TABLE IF NOT EXISTS "{part.name}" PARTITION OF "{table}"'
            f" FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
        )
    app = await svix.application.create(ApplicationIn(name="older"))
    ep = await svix.endpoint.create(app.id, EndpointIn(url="http://127.0.0.1:9/"))
    msg_id = new_id("msg", at.timestamp())
    await db_pool.execute(
        "INSERT INTO message (id, app_id, event_type, payload, created_at) VALUES ($1, $2, 'a.b', '{}', $3)",
        msg_id, app.id, at,
    )  # fmt: skip
    await db_pool.execute(
        "INSERT INTO message_destination (msg_id, endpoint_id, app_id, published, created_at)"
        " VALUES ($1, $2, $3, true, $4)",
        msg_id, ep.id, app.id, at,
    )  # fmt: skip
    # When it is resent to the same endpoint
    await svix.message_attempt.resend(app.id, msg_id, ep.id)
    # Then its one destination row is reset, not doubled in today's partition
    rows = await db_pool.fetch(
        "SELECT tableoid::regclass::text AS part, trigger_type FROM message_destination WHERE msg_id = $1",
        msg_id,
    )
    assert [(r["part"], r["trigger_type"]) for r in rows] == [(day.name, 1)]


async def test_ingest_says_at_startup_when_postgresql_runs_without_autovacuum(db_pool) -> None:
    """Partitions get statistics from autovacuum alone; its absence is said, not guessed."""
    autovacuum = await db_pool.fetchval("SELECT current_setting('autovacuum')::bool")
    with capture_logs() as logs:
        await warn_without_autovacuum(db_pool)
    warned = [e for e in logs if e["log_level"] == "warning" and "autovacuum off" in e["event"]]
    assert len(warned) == (0 if autovacuum else 1), logs
