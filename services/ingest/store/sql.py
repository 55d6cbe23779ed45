"""A small builder for WHERE clauses with numbered parameters, and keyset pagination."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg


@dataclass
class Where:
    conditions: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, condition: str, *values: Any) -> Where:
        """``condition`` uses ``{}`` for each value; they become ``$n`` placeholders."""
        placeholders = []
        for value in values:
            self.args.append(value)
            placeholders.append(f"${len(self.args)}")
        self.conditions.append(condition.format(*placeholders))
        return self

    def sql(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "TRUE"


@dataclass
class Page:
    rows: list[asyncpg.Record]
    iterator: str | None
    prev_iterator: str | None
    done: bool


async def fetch_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    select: str,
    where: Where,
    key: str,
    limit: int,
    iterator: str | None,
    descending: bool,
) -> Page:
    """Svix iterator pagination over a time-sortable key.

    ``iterator`` is the key of the last item seen; ``-<key>`` (a ``prevIterator``) walks
    back from the first item seen. One query of ``limit + 1`` rows tells whether more follow.
    """
    backwards = bool(iterator) and iterator.startswith("-")  # type: ignore[union-attr]
    cursor = iterator[1:] if backwards else iterator  # type: ignore[index]
    walk_descending = descending != backwards
    page_where = Where(list(where.conditions), list(where.args))
    if cursor:
        page_where.add(f"{key} {'<' if walk_descending else '>'} {{}}", cursor)
    page_where.args.append(limit + 1)
    order = "DESC" if walk_descending else "ASC"
    rows = await conn.fetch(
        f"{select} WHERE {page_where.sql()} ORDER BY {key} {order} LIMIT ${len(page_where.args)}",
        *page_where.args,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    bare_key = key.rsplit(".", 1)[-1]
    return Page(
        rows=rows,
        iterator=rows[-1][bare_key] if rows else None,
        prev_iterator=f"-{rows[0][bare_key]}" if rows else None,
        done=not more if not backwards else False,
    )
