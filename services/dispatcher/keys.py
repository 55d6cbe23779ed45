"""Typed keys for what the dispatcher application holds."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from services.dispatcher.config import DispatcherTuning
from services.dispatcher.consumer import TaskConsumer
from services.dispatcher.health import Readiness
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
TUNING = web.AppKey("tuning", DispatcherTuning)
READINESS = web.AppKey("readiness", Readiness)


@dataclass
class Parts:
    """The running pieces, once the resources are up (for introspection and tests)."""

    consumer: TaskConsumer | None = None


PARTS = web.AppKey("parts", Parts)
