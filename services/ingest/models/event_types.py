"""Event-type bodies as the ``svix`` SDK spells them, plus Hookline's ``enforceSchema``
(refuse payloads that don't match the newest schema version; see the README's API
section), and the OpenAPI import's ``EventTypeImportOpenApiIn``/``Out``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from services.ingest.models.common import ApiModel, EventTypeName, InModel, ListQuery, Uid


class EventTypeIn(InModel):
    name: EventTypeName
    description: str = Field(max_length=4096)
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    group_name: Uid | None = None
    feature_flags: list[Uid] | None = None
    enforce_schema: bool = False


class EventTypeUpdate(InModel):
    description: str = Field(max_length=4096)
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    group_name: Uid | None = None
    feature_flags: list[Uid] | None = None
    enforce_schema: bool = False


class EventTypePatch(InModel):
    description: str | None = Field(None, max_length=4096)
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: dict[str, Any] | None = None
    group_name: Uid | None = None
    feature_flags: list[Uid] | None = None
    enforce_schema: bool | None = None


class EventTypeOut(ApiModel):
    name: str
    description: str
    archived: bool = False
    deprecated: bool
    schemas: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    group_name: str | None = None
    feature_flags: list[str] | None = None
    enforce_schema: bool = False


class EventTypeListQuery(ListQuery):
    include_archived: bool = False
    with_content: bool = False


class EventTypeImportOpenApiIn(InModel):
    dry_run: bool = False
    replace_all: bool = False
    spec: dict[str, Any] | None = None
    spec_raw: str | None = None


class EventTypeFromOpenApi(ApiModel):
    name: str
    description: str
    schemas: dict[str, Any] | None = None
    deprecated: bool
    group_name: str | None = None
    feature_flags: list[str] | None = None


class EventTypeImportOpenApiOutData(ApiModel):
    modified: list[str]
    # Svix spells this one in snake_case on the wire too (the SDK's alias says so).
    to_modify: list[EventTypeFromOpenApi] | None = Field(None, serialization_alias="to_modify")


class EventTypeImportOpenApiOut(ApiModel):
    data: EventTypeImportOpenApiOutData
