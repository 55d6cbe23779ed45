"""Typed keys for what the dispatcher application holds."""

from __future__ import annotations

from aiohttp import web

from services.dispatcher.config import DispatcherTuning
from services.dispatcher.health import Readiness
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
TUNING = web.AppKey("tuning", DispatcherTuning)
READINESS = web.AppKey("readiness", Readiness)
