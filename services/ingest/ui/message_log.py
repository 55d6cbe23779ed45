"""The message log's filters and queries: across applications, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from multidict import MultiMapping

from services.ingest.api.messages import add_time_filters
from services.ingest.store import applications as app_store
from services.ingest.store.sql import Page, Where, fetch_page
from shared.status import MessageStatus

PAGE_SIZE = 50
STATUSES = [s.text for s in MessageStatus if s is not MessageStatus.CANCELED]

_SELECT = (
    "SELECT m.id, m.app_id, m.event_type, m.event_id, m.channels, m.created_at, m.expunged_at,"
    " a.name AS app_name"
    " FROM message m JOIN application a ON a.id = m.app_id"
)
_DELIVERIES = """
SELECT msg_id, status, count(*) AS n FROM message_destination
WHERE msg_id = ANY($1::text[]) GROUP BY msg_id, status
"""
_LAST_ATTEMPTS = """
SELECT m.id, last.status, last.response_status_code, last.created_at
FROM unnest($1::text[]) AS m(id)
JOIN LATERAL (
    SELECT t.status, t.response_status_code, t.created_at FROM message_attempt t
    WHERE t.msg_id = m.id ORDER BY t.id DESC LIMIT 1
) last ON true
"""


def _time(text: str) -> datetime:
    """A ``datetime-local`` value, read as UTC like every time the dashboard shows."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass
class LogFilters:
    app: str = ""
    event_type: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: MultiMapping[str]) -> LogFilters:
        filters = cls(
            **{
                name: query.get(name, "").strip()
                for name in ("app", "event_type", "status", "since", "until")
            }
        )
        if filters.status and filters.status not in STATUSES:
            filters.errors.append(f"Status must be one of: {', '.join(STATUSES)}.")
        for label, text in (("From", filters.since), ("To", filters.until)):
            try:
                if text:
                    _time(text)
            except ValueError:
                filters.errors.append(f"“{label}” is not a date and time, like 2024-05-01 09:30.")
        return filters

    def as_query(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("app", "event_type", "status", "since", "until")}

    async def where(self, pool: asyncpg.Pool) -> Where | None:
        """The SQL conditions, or None when they can match nothing (an unknown app)."""
        where = Where()
        if self.app:
            app = await app_store.get(pool, self.app)
            if app is None:
                self.errors.append(f"There is no application “{self.app}”.")
                return None
            where.add("m.app_id = {}", app["id"])
        if self.event_type:
            where.add("m.event_type = {}", self.event_type)
        if self.status:
            where.add(
                "EXISTS (SELECT 1 FROM message_destination d WHERE d.msg_id = m.id AND d.status = {})",
                int(MessageStatus.from_text(self.status)),
            )
        add_time_filters(
            where,
            "m.id",
            "msg",
            _time(self.until) if self.until else None,
            _time(self.since) if self.since else None,
        )
        return where


@dataclass(frozen=True)
class LogRow:
    message: asyncpg.Record
    deliveries: dict[str, int]  # status name -> destinations in it
    last_attempt: asyncpg.Record | None


async def read_page(pool: asyncpg.Pool, where: Where, iterator: str | None) -> tuple[Page, list[LogRow]]:
    page = await fetch_page(
        pool, select=_SELECT, where=where, key="m.id", limit=PAGE_SIZE, iterator=iterator, descending=True
    )
    ids = [r["id"] for r in page.rows]
    deliveries: dict[str, dict[str, int]] = {i: {} for i in ids}
    for r in await pool.fetch(_DELIVERIES, ids):
        deliveries[r["msg_id"]][MessageStatus(r["status"]).text] = r["n"]
    last = {r["id"]: r for r in await pool.fetch(_LAST_ATTEMPTS, ids)}
    return page, [LogRow(r, deliveries[r["id"]], last.get(r["id"])) for r in page.rows]
