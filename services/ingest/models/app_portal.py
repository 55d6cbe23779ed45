"""Bodies of the app portal's routes (Svix's ``AppPortalAccessIn/Out``, ``ApplicationTokenExpireIn``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.ingest.models.applications import ApplicationIn
from services.ingest.models.common import ApiModel, InModel

Capability = Literal[
    "ViewBase",
    "ViewEndpointSecret",
    "ManageEndpointSecret",
    "ManageTransformations",
    "CreateAttempts",
    "ManageEndpoint",
]
WEEK = 7 * 24 * 3600


class AppPortalAccessIn(InModel):
    application: ApplicationIn | None = None
    read_only: bool | None = None
    capabilities: list[Capability] | None = None
    feature_flags: list[str] | None = None  # accepted; Hookline has none
    # Svix: between an hour and seven days, seven days by default.
    expiry: int | None = Field(None, ge=3600, le=WEEK)
    session_id: str | None = Field(None, max_length=256)


class AppPortalAccessOut(ApiModel):
    url: str
    token: str


class ApplicationTokenExpireIn(InModel):
    expiry: int | None = Field(None, ge=0, le=WEEK)  # seconds until they stop working; 0 or none: now
    session_ids: list[str] | None = None
