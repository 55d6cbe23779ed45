"""Typed keys for what the ingest application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.publisher import DeliveryPublisher
from services.ingest.service import MessageService
from shared.amqp import BrokerLink
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
PUBLISHER = web.AppKey("publisher", DeliveryPublisher)
MESSAGES = web.AppKey("messages", MessageService)
BROKER_LINK = web.AppKey("broker_link", BrokerLink)
