"""Ordered endpoints' lanes belong to the installation (services/dispatcher/lanes.py), which
the tests of one run share (one database): any test's dispatcher would take over a lane that
a finished test left with undelivered work, and deliver or dead-letter it on that test's
queues. Each test starts without ordered endpoints or leases."""

from __future__ import annotations

import asyncpg


async def forget_ordered_lanes(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    await conn.execute("UPDATE endpoint SET ordered = false WHERE ordered")
    await conn.execute("DELETE FROM endpoint_lane")
