"""``python -m services.dispatcher``: one dispatcher, or a supervisor and its workers."""

from contextlib import suppress

import structlog
from aiohttp import web

from services.dispatcher.main import create_app
from services.dispatcher.supervisor import run_supervisor
from shared.gc_settle import settle_gc
from shared.logging import configure_logging
from shared.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "dispatcher")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    if settings.dispatcher_workers > 1:
        run_supervisor(settings)
        return
    structlog.get_logger().info("dispatcher listening", port=settings.dispatcher_port)
    app = create_app(settings)
    app.on_startup.append(settle_gc)  # after its cleanup_ctx: the resources are open
    web.run_app(
        app,
        port=settings.dispatcher_port,
        access_log=None,
        print=None,
        shutdown_timeout=5,
    )


# Guarded: worker processes are spawned, and spawning re-imports this module.
if __name__ == "__main__":
    main()
