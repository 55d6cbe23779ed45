"""Ids compare in byte order, which is creation order, whatever the database's collation
(migration 016): lists, cursors and an ordered endpoint's lane rely on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import RUN_ID
from tests.support.databases import temporary_database

# Text columns named like ids that hold someone else's identifier, compared only for
# equality: their order means nothing, so they keep the database's collation.
NOT_HOOKLINE_IDS = {
    ("inbound_seen", "message_id"),  # the sender's webhook-id
    ("message", "event_id"),  # the customer's eventId
    ("message_event_id", "event_id"),
    ("app_portal_token", "session_id"),
}

# Two ids of one second whose first differing character is 'Z' and 'a': byte order puts
# 'Z' (0x5a) first, as base62 does (shared/ids.py); a linguistic collation puts 'a' first.
EARLIER, LATER = "msg_2Zq0000000000000000000000", "msg_2aq0000000000000000000000"


@pytest.fixture
async def linguistic_database() -> AsyncIterator[str]:
    """A database whose default collation is ICU's en-US, as on many servers and images."""
    name = f"hookline_test_{RUN_ID}_icu_{uuid.uuid4().hex[:6]}"
    icu = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    async with temporary_database(name, options=icu, migrate=True) as dsn:
        yield dsn


async def test_every_id_column_compares_in_byte_order(db_pool: asyncpg.Pool):
    # Tables only: a partition takes its parent's collations.
    rows = await db_pool.fetch(
        """
        SELECT c.relname AS table_name, a.attname AS column_name, co.collname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
        JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
          AND a.atttypid = 'text'::regtype AND (a.attname = 'id' OR a.attname LIKE '%\\_id')
        """
    )
    checked = {(r["table_name"], r["column_name"]): r["collname"] for r in rows}
    assert ("message_destination", "msg_id") in checked
    wrong = {
        key: collation
        for key, collation in checked.items()
        if collation != "C" and key not in NOT_HOOKLINE_IDS
    }
    assert wrong == {}


async def test_ids_sort_by_creation_in_a_database_with_a_linguistic_collation(linguistic_database: str):
    conn = await asyncpg.connect(linguistic_database)
    try:
        # The database really sorts linguistically: its default puts the later id first.
        assert await conn.fetchval("SELECT $1::text < $2::text", LATER, EARLIER)
        await conn.execute("INSERT INTO application (id, name) VALUES ('app_1', 'a')")
        await conn.execute(
            "INSERT INTO endpoint (id, app_id, url, secret) VALUES ('ep_1', 'app_1', 'https://x', 's')"
        )
        for msg_id in (LATER, EARLIER):
            await conn.execute(
                "INSERT INTO message (id, app_id, event_type, payload) VALUES ($1, 'app_1', 't', '{}')",
                msg_id,
            )
            await conn.execute(
                "INSERT INTO message_destination (msg_id, endpoint_id, app_id) VALUES ($1, 'ep_1', 'app_1')",
                msg_id,
            )
        assert await conn.fetch("SELECT id FROM message ORDER BY id") == [(EARLIER,), (LATER,)]
        # A cursor: what comes after the earlier id is the later one.
        assert await conn.fetchval("SELECT id FROM message WHERE id > $1", EARLIER) == LATER
        # An ordered endpoint's lane takes its head by msg_id (services/dispatcher/lane_store.py).
        head = "SELECT msg_id FROM message_destination WHERE endpoint_id = 'ep_1' ORDER BY msg_id LIMIT 1"
        assert await conn.fetchval(head) == EARLIER
    finally:
        await conn.close()
