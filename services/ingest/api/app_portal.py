"""The app portal's access links, as Svix makes them: ``/api/v1/auth/...``.

A link opens the dashboard scoped to one application (``services/ingest/ui/portal.py``).
Its token travels in the URL's fragment (``/ui/portal#key=...``), which browsers never
send to a server: it stays out of access logs, proxies and Referer headers, and the
portal page's script trades it for a session cookie.
"""

from __future__ import annotations

import re

import asyncpg
from aiohttp import web

from services.ingest import portal_tokens
from services.ingest.api.common import app_or_404, pool_of
from services.ingest.models.app_portal import (
    WEEK,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
    AppPortalAccessOut,
)
from services.ingest.models.common import SLUG_PATTERN
from services.ingest.store import applications as app_store
from shared.ids import has_prefix
from shared.operational import is_operational
from shared.web.errors import Conflict, NotFound, Unauthorized
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Authentication"


@routes.post(
    "/api/v1/auth/app-portal-access/{app_id}", body=AppPortalAccessIn, response=AppPortalAccessOut, tag=TAG
)
async def app_portal_access(request: web.Request, body: AppPortalAccessIn) -> AppPortalAccessOut:
    """A link (and its token) to the portal of one application; ``application`` creates it
    when the id or uid in the path names none."""
    pool, ref = pool_of(request), request.match_info["app_id"]
    app = await app_store.get(pool, ref)
    if app is None and body.application is not None:
        values = body.application.model_dump()
        # The path names the new app's uid unless the body does, or it cannot be one.
        path_uid = None if has_prefix(ref, "app") or not re.fullmatch(SLUG_PATTERN, ref) else ref
        values["uid"] = values.get("uid") or path_uid
        try:
            app = await app_store.insert(pool, values)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("An application with this uid already exists") from exc
    if app is None or is_operational(app["id"]):
        raise NotFound("Application not found")
    token = await portal_tokens.issue(
        pool,
        app["id"],
        seconds=body.expiry or WEEK,
        read_only=bool(body.read_only),
        capabilities=body.capabilities,
        session_id=body.session_id,
    )
    return AppPortalAccessOut(url=f"{request.url.origin()}/ui/portal#key={token}", token=token)


@routes.post("/api/v1/auth/app/{app_id}/expire-all", body=ApplicationTokenExpireIn, status=204, tag=TAG)
async def expire_all(request: web.Request, body: ApplicationTokenExpireIn) -> None:
    """Every portal token of the application (or of the given sessions) stops working."""
    app = await app_or_404(request)
    await portal_tokens.revoke_all(
        pool_of(request), app["id"], after=body.expiry or 0, session_ids=body.session_ids
    )


@routes.post("/api/v1/auth/logout", status=204, tag=TAG, public=True, own_auth=True)
async def logout(request: web.Request) -> None:
    """Revoke the portal token this request is authorized with (no other kind of token)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(portal_tokens.PREFIX):
        raise Unauthorized("only an app portal token can be logged out")
    if not await portal_tokens.revoke(pool_of(request), token):
        raise Unauthorized("this token is not a live app portal token")
