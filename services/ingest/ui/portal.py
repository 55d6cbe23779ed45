"""The app portal's entry: ``/ui/portal#key=<token>`` (the link the API hands out).

The page's script (``static/portal.js``; the dashboard allows no inline script) reads the
token from the fragment and posts it here; a live token becomes the ``hookline_portal``
cookie, signed like the operator's session and naming the token by its hash, so every
page checks the token's row again (``visitor``) and a revoked or expired token ends its
sessions at once. What a portal visitor may reach is ``portal_scope``'s decision.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from aiohttp import web

from services.ingest import portal_tokens
from services.ingest.keys import POOL
from services.ingest.portal_tokens import PortalToken
from services.ingest.ui.form_body import FormTooSlow, read_form
from services.ingest.ui.keys import SIGNER
from services.ingest.ui.render import render
from services.ingest.ui.session import Session

routes = web.RouteTableDef()
PORTAL_COOKIE = "hookline_portal"


def _mac(request: web.Request, body: str) -> str:
    return request.app[SIGNER].mac("portal", body)


def _cookie_value(request: web.Request, token_hash: bytes, expires: int) -> str:
    body = f"{token_hash.hex()}.{expires}"
    return f"{body}.{_mac(request, body)}"


async def visitor(request: web.Request) -> tuple[Session, PortalToken] | None:
    """The portal visitor of this request while its token lives, else None."""
    cookie = request.cookies.get(PORTAL_COOKIE)
    if not cookie or cookie.count(".") != 2:
        return None
    token_hex, expires, mac = cookie.split(".")
    if not hmac.compare_digest(mac.encode(), _mac(request, f"{token_hex}.{expires}").encode()):
        return None
    if not expires.isdigit() or int(expires) <= time.time():
        return None
    token = await portal_tokens.check(request.app[POOL], bytes.fromhex(token_hex))
    if token is None:
        return None
    # The session id only keys the CSRF token of the visitor's forms.
    return Session(hashlib.sha256(token_hex.encode()).hexdigest()[:24], int(expires)), token


@routes.get("/ui/portal", name="ui.portal")
async def portal_page(request: web.Request) -> web.Response:
    return render(request, "portal.html", {})


@routes.post("/ui/portal/session")
async def portal_session(request: web.Request) -> web.Response:
    """Trade the fragment's token for the portal cookie; answers where to go."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return web.json_response({"detail": "cross-site request refused"}, status=403)
    try:
        form = await read_form(request)
    except FormTooSlow:
        return web.json_response({"detail": "the request was too slow"}, status=408)
    key = form.get("key")
    token_hash = portal_tokens.digest(key) if isinstance(key, str) and key else b""
    token = await portal_tokens.check(request.app[POOL], token_hash) if token_hash else None
    if token is None:
        # 403, not 401: there is no credential to ask for again, only a new link.
        return web.json_response({"detail": "This link has expired or was revoked."}, status=403)
    expires = int(token.expires_at.timestamp())
    response = web.json_response({"next": f"/ui/apps/{token.app_id}"})
    response.set_cookie(
        PORTAL_COOKIE,
        _cookie_value(request, token_hash, expires),
        path="/ui",
        max_age=max(0, expires - int(time.time())),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response
