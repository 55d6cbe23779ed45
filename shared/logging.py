"""structlog set-up: JSON lines in prod, readable console lines in dev.

Context (``app_id``, ``msg_id``, ``endpoint_id``, ``attempt``) is bound with
``structlog.contextvars.bind_contextvars`` where it is known; ``merge_contextvars``
runs first so every line carries it. Secrets are never passed to a logger; the
``_redact`` processor is a second line of defence for keys that look secret.
"""

from __future__ import annotations

import logging
import sys

import structlog

from shared.settings import Settings

_SECRET_KEYS = frozenset({"secret", "key", "token", "api_token", "authorization", "password"})


def _redact(_logger: object, _name: str, event: dict) -> dict:
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "[redacted]"
    return event


def configure_logging(settings: Settings, service: str) -> None:
    as_json = settings.log_format == "json" or (
        settings.log_format == "auto" and (settings.env == "prod" or not sys.stderr.isatty())
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line (message and newline together), so the lines of several worker
        # processes sharing a stream never run into each other.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # aiohttp's access log and aio-pika's reconnect chatter go through stdlib logging.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, format="%(message)s")
