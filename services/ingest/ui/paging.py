"""Links to the newer and older pages of a cursor-paginated list, filters kept."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from services.ingest.store.sql import Page


@dataclass(frozen=True)
class PageLinks:
    newer: str | None
    older: str | None


def page_links(
    path: str, filters: dict[str, str], page: Page, *, iterator: str | None, limit: int
) -> PageLinks:
    """``iterator`` is the one this page was read with (``-<id>`` walks back to newer items)."""

    def url(cursor: str | None) -> str:
        query = {k: v for k, v in filters.items() if v}
        if cursor:
            query["iterator"] = cursor
        return f"{path}?{urlencode(query)}" if query else path

    walked_back = bool(iterator and iterator.startswith("-"))
    # Walking back, a short page means the newest items are on it: nothing newer.
    newer = (
        url(page.prev_iterator)
        if iterator and page.rows and not (walked_back and len(page.rows) < limit)
        else None
    )
    older = url(page.iterator) if page.rows and (walked_back or not page.done) else None
    if iterator and not page.rows:
        newer = url(None)  # an empty page past either end: offer the newest again
    return PageLinks(newer, older)
