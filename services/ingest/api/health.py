"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from services.ingest.keys import POOL
from shared.web.errors import ServiceUnavailable
from shared.web.routes import ApiRoutes

routes = ApiRoutes()


@routes.get("/api/v1/health", public=True, status=204, tag="Health")
async def health(request: web.Request) -> None:
    """Svix's health check: 204 while the database answers."""
    try:
        await request.app[POOL].fetchval("SELECT 1")
    except Exception as exc:
        raise ServiceUnavailable("database unavailable") from exc
