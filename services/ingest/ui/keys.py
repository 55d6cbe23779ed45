"""Typed keys for what the dashboard keeps on the ingest application and on a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from services.ingest.ui.cached import Cached
from services.ingest.ui.circuits import CircuitReport
from services.ingest.ui.live import LiveFeed
from services.ingest.ui.queues import QueueProbe
from services.ingest.ui.session import Session, SessionSigner

SIGNER = web.AppKey("ui_signer", SessionSigner)
QUEUES = web.AppKey("ui_queues", QueueProbe)
LIVE = web.AppKey("ui_live", LiveFeed)
CIRCUITS = web.AppKey("ui_circuits", CircuitReport)
FIGURES = web.AppKey("ui_overview_figures", Cached)  # the overview's numbers, shared by its viewers


@dataclass
class Visit:
    """The logged-in request: its session, the CSRF token its forms carry, what it posted."""

    session: Session
    csrf: str
    form: MultiDictProxy[Any] | None = None
    portal_app: str | None = None  # an app portal visitor: the one application it may see


# aiohttp 3.14 types request storage; older releases take a plain string key.
VISIT: Any = web.RequestKey("ui_visit", Visit) if hasattr(web, "RequestKey") else "ui_visit"
