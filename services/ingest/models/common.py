"""Pieces every Svix-compatible model shares: camelCase aliases, patterns, list shape."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

T = TypeVar("T")

# The id-like strings Svix accepts (uid, eventType, channel, eventId).
SLUG_PATTERN = r"^[a-zA-Z0-9\-_.]+$"
Uid = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=SLUG_PATTERN)]
EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=SLUG_PATTERN)]
Channel = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=SLUG_PATTERN)]
# Svix: maximum messages per second, a uint16 of at least 1.
ThrottleRate = Annotated[int, Field(ge=1, le=65535)]
Metadata = dict[str, str]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class InModel(ApiModel):
    """Request bodies: unknown fields are ignored, as Svix does, so newer SDKs keep working."""


class QueryModel(BaseModel):
    """Query parameters: snake_case on the wire, as Svix's are."""

    model_config = ConfigDict(extra="ignore")


class ListResponse(ApiModel, Generic[T]):
    data: list[T]
    iterator: str | None
    prev_iterator: str | None = None
    done: bool


class Ordering(StrEnum):
    ascending = "ascending"
    descending = "descending"


class ListQuery(QueryModel):
    limit: int = Field(50, ge=1, le=250)
    iterator: str | None = Field(None, max_length=300)
    order: Ordering | None = None


class TriggerType(IntEnum):
    scheduled = 0
    manual = 1


class StatusCodeClass(IntEnum):
    none = 0
    code_1xx = 100
    code_2xx = 200
    code_3xx = 300
    code_4xx = 400
    code_5xx = 500


class Timestamps(ApiModel):
    created_at: datetime
    updated_at: datetime
