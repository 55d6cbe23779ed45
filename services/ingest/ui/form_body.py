"""A posted form has the same deadline as any request body (``HOOKLINE_BODY_READ_TIMEOUT``).

``request.post()`` waits for the whole form however slowly it comes: a visitor, logged
in or not (the login form needs no session), could hold a connection by trickling one.
Past the deadline the answer is a 408 page and the connection is not kept alive, as the
API does with a JSON 408.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from services.ingest.ui.render import render
from shared.web.body import BODY_READ_SECONDS, DEFAULT_BODY_READ_SECONDS

log = structlog.get_logger()


class FormTooSlow(Exception):
    """The form did not arrive before the deadline."""


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    seconds = request.config_dict.get(BODY_READ_SECONDS, DEFAULT_BODY_READ_SECONDS)
    try:
        async with asyncio.timeout(seconds):
            return await request.post()
    except TimeoutError:
        raise FormTooSlow(f"the form did not arrive within {seconds:g} s") from None


def too_slow_page(request: web.Request, exc: FormTooSlow) -> web.Response:
    log.info("dashboard form too slow", path=request.path, detail=str(exc))
    message = "The form took too long to arrive, so nothing was changed. Try again."
    response = render(request, "error.html", {"title": "Form too slow", "message": message}, 408)
    # Whatever is left of the body is never read: don't keep the connection.
    response.force_close()
    return response
