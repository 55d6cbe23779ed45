"""Creating and editing an endpoint through the form."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.keys import POOL, SETTINGS
from services.ingest.store import endpoint_events as reported
from services.ingest.ui.endpoint_form import EndpointForm, is_sensitive
from services.ingest.ui.event_types import catalogue_names
from services.ingest.ui.guard import action, page, posted
from services.ingest.ui.lookup import endpoint_path, with_app, with_endpoint
from services.ingest.ui.render import render, see_other
from shared import signing
from shared.target_policy import parse_networks

routes = web.RouteTableDef()
NEW = "/ui/apps/{app_id}/endpoints/new"
EDIT = "/ui/apps/{app_id}/endpoints/{endpoint_id}/edit"
Row = asyncpg.Record


async def _form_page(
    request: web.Request, app: Row, form: EndpointForm, endpoint: Row | None = None, status: int = 200
) -> web.Response:
    names = await catalogue_names(request.app[POOL])
    context = {
        "nav": "apps",
        "app": app,
        "endpoint": endpoint,
        "form": form,
        "event_type_choices": sorted({*names, *form.event_types}),
    }
    return render(request, "endpoint_form.html", context, status)


async def _checked(request: web.Request, form: EndpointForm) -> dict | None:
    """The values to save, or None with every problem found listed on the form."""
    values = form.values()
    if "url" not in form.errors:
        await form.check_target(parse_networks(request.app[SETTINGS].allowed_target_cidrs))
    return None if form.errors else values


@routes.get(NEW, name="ui.endpoint.new")
@page
@with_app
async def new_endpoint(request: web.Request, app: Row) -> web.Response:
    return await _form_page(request, app, EndpointForm())


@routes.post(NEW)
@action
@with_app
async def create_endpoint(request: web.Request, app: Row) -> web.Response:
    form = EndpointForm.from_post(posted(request), hidden_headers={})
    values = await _checked(request, form)
    if values is None:
        return await _form_page(request, app, form, status=422)
    row = await reported.insert(request.app[POOL], app["id"], values, signing.new_secret())
    return see_other(endpoint_path(row), "endpoint-created")


@routes.get(EDIT, name="ui.endpoint.edit")
@page
@with_endpoint
async def edit_endpoint(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    return await _form_page(request, app, EndpointForm.from_endpoint(endpoint), endpoint)


@routes.post(EDIT)
@action
@with_endpoint
async def update_endpoint(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    hidden = {k: v for k, v in endpoint["headers"].items() if is_sensitive(k)}
    form = EndpointForm.from_post(posted(request), hidden_headers=hidden)
    values = await _checked(request, form)
    if values is None:
        return await _form_page(request, app, form, endpoint, status=422)
    await reported.update(request.app[POOL], endpoint, values)
    return see_other(endpoint_path(endpoint), "endpoint-saved")
