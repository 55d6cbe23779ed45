"""Endpoint health from the attempt log: 24-hour success rate and the last attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from shared.ids import boundary_id
from shared.status import MessageStatus

DAY = 24 * 3600

# The newest attempt of one endpoint: one index probe (endpoint_id, id DESC) each.
_LAST_ATTEMPT = """
JOIN LATERAL (
    SELECT t.status, t.response_status_code, t.created_at FROM message_attempt t
    WHERE t.endpoint_id = e.id ORDER BY t.id DESC LIMIT 1
) last ON true
"""

# The bound on created_at (the partition key) keeps the 24-hour counts to the last day's
# partitions; the bound on the time-sortable id lets the index find where to start.
_HEALTH = f"""
SELECT e.id, last.status, last.response_status_code, last.created_at,
    (SELECT count(*) FROM message_attempt t WHERE t.endpoint_id = e.id AND t.id > $2
        AND t.created_at > $3) AS total,
    (SELECT count(*) FROM message_attempt t WHERE t.endpoint_id = e.id AND t.id > $2
        AND t.created_at > $3 AND t.status = {MessageStatus.SUCCESS:d}) AS ok
FROM unnest($1::text[]) AS e(id)
{_LAST_ATTEMPT}
"""

# The newest attempt of the last day only: the bound on created_at prunes the older
# partitions, so each endpoint costs an index probe into one or two days, not into every
# day of the retention period (1.3 s -> see docs/performance.md, "History at scale").
# An endpoint whose newest attempt is older than a day is not listed either way.
_FAILING = f"""
SELECT e.id, e.app_id, a.name AS app_name, e.url, e.disabled, e.failing_since,
    last.status, last.response_status_code, last.created_at
FROM endpoint e JOIN application a ON a.id = e.app_id
JOIN LATERAL (
    SELECT t.status, t.response_status_code, t.created_at FROM message_attempt t
    WHERE t.endpoint_id = e.id AND t.created_at > now() - interval '24 hours'
    ORDER BY t.id DESC LIMIT 1
) last ON true
WHERE last.status <> {MessageStatus.SUCCESS:d}
ORDER BY last.created_at DESC
LIMIT $1
"""


@dataclass(frozen=True)
class Health:
    ok_24h: int
    total_24h: int
    last_status: int | None
    last_code: int | None
    last_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        return None if not self.total_24h else self.ok_24h / self.total_24h


NO_ATTEMPTS = Health(0, 0, None, None, None)


async def endpoint_health(pool: asyncpg.Pool, endpoint_ids: list[str]) -> dict[str, Health]:
    """Health of each endpoint; one without any attempt gets ``NO_ATTEMPTS``."""
    if not endpoint_ids:
        return {}
    since = time.time() - DAY
    rows = await pool.fetch(
        _HEALTH, endpoint_ids, boundary_id("atmpt", since), datetime.fromtimestamp(since, UTC)
    )
    found = {
        r["id"]: Health(r["ok"], r["total"], r["status"], r["response_status_code"], r["created_at"])
        for r in rows
    }
    return {ep_id: found.get(ep_id, NO_ATTEMPTS) for ep_id in endpoint_ids}


async def failing_endpoints(pool: asyncpg.Pool, limit: int = 20) -> list[asyncpg.Record]:
    """Endpoints whose latest attempt, within a day, failed."""
    return await pool.fetch(_FAILING, limit)
