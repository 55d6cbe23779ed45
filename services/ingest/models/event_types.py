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


class EventTypeUpdate(InModel):
    description: str = Field(max_length=4096)
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    group_name: Uid | None = None
    feature_flags: list[Uid] | None = None


class EventTypePatch(InModel):
    description: str | None = Field(None, max_length=4096)
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: dict[str, Any] | None = None
    group_name: Uid | None = None
    feature_flags: list[Uid] | None = None


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


class EventTypeListQuery(ListQuery):
    include_archived: bool = False
    with_content: bool = False
