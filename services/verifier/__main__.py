"""``python -m services.verifier``: load the settings, configure logging, serve."""

from contextlib import suppress

import structlog
from aiohttp import web

from services.verifier.main import create_app
from services.verifier.settings import VerifierSettings
from shared.gc_settle import settle_gc
from shared.logging import configure_logging
from shared.settings import get_settings


def main() -> None:
    settings = get_settings()
    verifier = VerifierSettings()
    configure_logging(settings, "verifier")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    log = structlog.get_logger()
    log.info("verifier starting", port=settings.verifier_port, amqp_prefix=settings.amqp_prefix)
    app = create_app(settings, verifier)
    app.on_startup.append(settle_gc)  # after its cleanup_ctx: the resources are open
    web.run_app(
        app,
        host=verifier.host,
        port=settings.verifier_port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )


main()
