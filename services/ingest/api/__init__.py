"""Every route of the management API, in one table (the OpenAPI document is built from it)."""

from __future__ import annotations

from aiohttp import web

from services.ingest.api import (
    app_portal,
    applications,
    attempts,
    background_tasks,
    endpoint_extras,
    endpoints,
    event_type_import,
    event_types,
    health,
    messages,
    operational_webhooks,
)
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes, openapi_document

VERSION = "0.1.0"

api_routes = ApiRoutes()
for module in (
    health,
    applications,
    event_types,
    event_type_import,
    endpoints,
    endpoint_extras,
    messages,
    attempts,
    background_tasks,
    operational_webhooks,
    app_portal,
):
    api_routes.extend(module.routes)

_document = openapi_document(api_routes, title="Hookline management API", version=VERSION)


@api_routes.get("/api/v1/openapi.json", public=True, tag="Health")
async def openapi(request: web.Request) -> web.Response:
    """This document."""
    return json_response(_document)


def install_routes(app: web.Application) -> None:
    """Install every route, message routes first. aiohttp tries the routes under a
    prefix in the order they were added (a coroutine call and a regex each), and every
    route here shares ``/api/v1/app``: message creation, the hot path, came after some
    twenty others. The message paths overlap no other route, so order changes nothing
    else; the OpenAPI document keeps the module order."""
    ordered = ApiRoutes()
    ordered.extend(messages.routes)
    ordered.specs += [spec for spec in api_routes.specs if spec not in messages.routes.specs]
    ordered.install(app)
