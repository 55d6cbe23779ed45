"""Typed keys for what the verifier application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.verifier.publisher import InboundPublisher
from services.verifier.receive import Receiver
from services.verifier.settings import VerifierSettings
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
VERIFIER_SETTINGS = web.AppKey("verifier_settings", VerifierSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
PUBLISHER = web.AppKey("publisher", InboundPublisher)
RECEIVER = web.AppKey("receiver", Receiver)
