"""Bodies of the expunge routes, as the ``svix`` SDK's models spell them
(``BulkExpungeContentsIn``/``Out``, ``BulkExpungeStatus``, ``ExpungeAllContentsOut``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from services.ingest.models.common import ApiModel, InModel, Uid


class BulkExpungeStatus(StrEnum):
    expunged = "expunged"
    # Svix answers this too for a message found whose payload was already gone.
    not_found = "not-found"


class BulkExpungeContentsIn(InModel):
    # Message ids or eventIds, up to 250; none at all is an empty answer, as in Svix.
    ids: Annotated[list[Uid], Field(max_length=250)] = Field(default_factory=list)


class BulkExpungeContentsOut(ApiModel):
    results: dict[str, BulkExpungeStatus]


class ExpungeAllContentsOut(ApiModel):
    id: str
    status: str
    task: str
    updated_at: datetime
