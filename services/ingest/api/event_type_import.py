"""``POST /api/v1/event-type/import/openapi``: the webhooks of an OpenAPI 3.1 document
become event types with their schemas (``services/ingest/openapi_import.py``)."""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import ValidationError

from services.ingest.api.common import pool_of
from services.ingest.api.event_types import schemas_changed
from services.ingest.models.event_types import (
    EventTypeImportOpenApiIn,
    EventTypeImportOpenApiOut,
    EventTypeImportOpenApiOutData,
    EventTypeIn,
)
from services.ingest.openapi_import import InvalidSpec, event_types_of, parse_spec
from services.ingest.schema_validation import InvalidSchema, check_schemas
from shared.web.errors import BadRequest, Unprocessable
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
log = structlog.get_logger()

# An import replaces what the document describes and leaves enforceSchema alone: that
# is the operator's choice, not the document's.
_UPSERT = """
INSERT INTO event_type (name, description, schemas, deprecated, group_name, feature_flags)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (name) DO UPDATE SET description = excluded.description, schemas = excluded.schemas,
  deprecated = excluded.deprecated, group_name = excluded.group_name,
  feature_flags = excluded.feature_flags, archived = false, updated_at = now()
"""


@routes.post(
    "/api/v1/event-type/import/openapi",
    body=EventTypeImportOpenApiIn,
    response=EventTypeImportOpenApiOut,
    tag="Event Type",
    headers=["idempotency-key"],
)
async def openapi_event_types(
    request: web.Request, body: EventTypeImportOpenApiIn
) -> EventTypeImportOpenApiOut:
    """Create or update an event type per webhook of the document (``dryRun``: only say
    which); ``replaceAll`` archives the event types the document does not name."""
    try:
        found = event_types_of(parse_spec(body.spec, body.spec_raw))
        for et in found:
            EventTypeIn(name=et.name, description=et.description)  # Svix's name rules
            check_schemas(et.schemas)
    except InvalidSpec as exc:
        raise BadRequest(str(exc), code="invalid_spec") from exc
    except (InvalidSchema, ValidationError) as exc:
        raise Unprocessable.single(["body", "spec"], str(exc)) from exc
    names = [et.name for et in found]
    if body.dry_run:
        return EventTypeImportOpenApiOut(data=EventTypeImportOpenApiOutData(modified=names, to_modify=found))
    async with pool_of(request).acquire() as conn, conn.transaction():
        # One statement per webhook: a document names tens of them, not thousands.
        for et in found:
            await conn.execute(
                _UPSERT, et.name, et.description, et.schemas, et.deprecated, et.group_name, et.feature_flags
            )
        if body.replace_all:
            await conn.execute(
                "UPDATE event_type SET archived = true, updated_at = now()"
                " WHERE NOT archived AND name <> ALL($1)",
                names,
            )
    await schemas_changed(request)
    log.info("event types imported from OpenAPI", count=len(names), replace_all=body.replace_all)
    return EventTypeImportOpenApiOut(data=EventTypeImportOpenApiOutData(modified=names))
