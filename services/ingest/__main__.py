"""``python -m services.ingest``: load the settings, configure logging, serve."""

from contextlib import suppress

import structlog
from aiohttp import web

from services.ingest.main import create_app
from shared.gc_settle import settle_gc
from shared.logging import configure_logging
from shared.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "ingest")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    structlog.get_logger().info(
        "ingest starting", port=settings.ingest_port, amqp_prefix=settings.amqp_prefix
    )
    app = create_app(settings)
    app.on_startup.append(settle_gc)  # after its cleanup_ctx: the resources are open
    web.run_app(
        app,
        host=settings.ingest_host,
        port=settings.ingest_port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )


main()
