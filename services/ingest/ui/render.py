"""Templates: the Jinja environment, page rendering, redirects and short notices."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from services.ingest.ui.keys import VISIT
from shared.status import MessageStatus

HERE = Path(__file__).parent
LIVE_HEADER = "X-Hookline-Live"
SECURITY_HEADERS = {
    # Everything the dashboard uses is served by ingest itself; no inline scripts.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Shown after a redirect (?notice=key, and a number as ?count=): fixed texts, so a link
# can't put words in the page.
NOTICES = {
    "endpoint-created": "Endpoint created.",
    "endpoint-saved": "Endpoint saved.",
    "endpoint-disabled": "Endpoint disabled: nothing is sent to it until it is enabled again.",
    "endpoint-enabled": "Endpoint enabled.",
    "endpoint-deleted": "Endpoint deleted, with its delivery history.",
    "secret-rotated": "Secret rotated. The previous secret keeps signing for 24 hours.",
    "resent": "Resend queued: the new attempt appears below once it is made.",
    "recovered": "Failed deliveries queued again as manual attempts: {count}.",
    "logged-out": "You are logged out.",
}


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_name(status: int | None) -> str:
    return "no attempt" if status is None else MessageStatus(status).text


def pretty_json(text: str) -> str:
    return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=False)


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, status_name=status_name, pretty_json=pretty_json)


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    notice = NOTICES.get(request.query.get("notice", ""))
    if notice and "{count}" in notice:
        count = request.query.get("count", "")
        notice = notice.format(count=int(count) if count.isdigit() else "some")
    visit = request.get(VISIT)
    base = {
        "request": request,
        "notice": notice,
        "csrf": visit.csrf if visit else "",
        "portal_app": visit.portal_app if visit else None,
        # live.js passes it to /ui/live: what happened between render and subscribe is news.
        "rendered_at": f"{time.time():.3f}",
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def is_live_refresh(request: web.Request) -> bool:
    """The page's own script asking again after an event (static/live.js), not a visit."""
    return request.headers.get(LIVE_HEADER) == "1"


def see_other(location: str, notice: str | None = None, *, count: int | None = None) -> web.Response:
    """The answer to a form post: go to a page (303, so a reload doesn't post again)."""
    assert notice is None or notice in NOTICES
    if notice:
        query = {"notice": notice} if count is None else {"notice": notice, "count": str(count)}
        location += ("&" if "?" in location else "?") + urlencode(query)
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def not_found(request: web.Request, what: str) -> web.Response:
    return render(request, "error.html", {"title": "Not found", "message": f"{what} was not found."}, 404)
