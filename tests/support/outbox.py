"""The outbox belongs to the installation too (services/ingest/outbox.py): any test's ingest
relays every destination left unpublished in the run's one database, onto its own queues.
A finished test can leave some (messages created while its ingest had no broker yet;
test_svix_extra_routes.py leaves six for http://127.0.0.1:9/), and a later test's
dispatcher then delivers them: failing ones walk that test's retry schedule and, where
the test has an operational endpoint, report ``message.attempt.failing`` and
``exhausted`` events it never caused (seen once in a full run of
test_operational_webhooks.py). Each test starts with those rows flagged published."""

from __future__ import annotations

import asyncpg


async def forget_unpublished(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    await conn.execute("UPDATE message_destination SET published = true WHERE NOT published")
