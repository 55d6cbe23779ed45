"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from services.ingest.keys import POOL, PUBLISHER
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


@routes.get("/healthz", public=True, status=204, tag="Health")
async def liveness(request: web.Request) -> None:
    """Liveness: the process serves requests (dependencies are readiness's business)."""


@routes.get("/readyz", public=True, status=204, tag="Health")
async def readiness(request: web.Request) -> None:
    """Readiness: the database answers and the broker link is up."""
    try:
        await request.app[POOL].fetchval("SELECT 1")
    except Exception as exc:
        raise ServiceUnavailable("database unavailable") from exc
    if not request.app[PUBLISHER].ready:
        raise ServiceUnavailable("broker unavailable")
