"""Logging in with the API token, and out."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from services.ingest.ui.form_body import FormTooSlow, read_form, too_slow_page
from services.ingest.ui.guard import action, current_session, safe_next
from services.ingest.ui.keys import SIGNER, VISIT
from services.ingest.ui.portal import PORTAL_COOKIE
from services.ingest.ui.render import render, see_other
from services.ingest.ui.session import LOGIN_COOKIE, SESSION_COOKIE, new_login_token

routes = web.RouteTableDef()
_FAILED_LOGIN_PAUSE = 0.5  # seconds: makes guessing the token by hand slower still


def _cookie(response: web.Response, request: web.Request, name: str, value: str, path: str, age: int) -> None:
    response.set_cookie(
        name, value, max_age=age, path=path, httponly=True, samesite="Strict", secure=request.secure
    )


def _login_page(
    request: web.Request, next_path: str | None, *, error: str | None = None, status: int = 200
) -> web.Response:
    token = new_login_token()
    context = {"login_csrf": token, "next": safe_next(next_path), "error": error}
    response = render(request, "login.html", context, status)
    _cookie(response, request, LOGIN_COOKIE, token, "/ui/login", 3600)
    return response


@routes.get("/ui/login", name="ui.login")
async def login_form(request: web.Request) -> web.Response:
    if current_session(request) is not None:
        return see_other(safe_next(request.query.get("next")))
    return _login_page(request, request.query.get("next"))


@routes.post("/ui/login")
async def login(request: web.Request) -> web.Response:
    try:
        form = await read_form(request)
    except FormTooSlow as exc:
        return too_slow_page(request, exc)
    fields = {name: form.get(name) for name in ("csrf", "token", "next")}
    text = {name: value if isinstance(value, str) else "" for name, value in fields.items()}
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), text["csrf"].encode()):
        error = "The login form expired. Please enter the token again."
        return _login_page(request, text["next"], error=error, status=403)
    signer = request.app[SIGNER]
    if not signer.token_matches(text["token"]):
        await asyncio.sleep(_FAILED_LOGIN_PAUSE)
        error = "That token is not right. Use the API token Hookline runs with (HOOKLINE_API_TOKEN)."
        return _login_page(request, text["next"], error=error, status=401)
    _, cookie = signer.issue()
    response = see_other(safe_next(text["next"]))
    _cookie(response, request, SESSION_COOKIE, cookie, "/ui", signer.lifetime)
    response.del_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@routes.post("/ui/logout", name="ui.logout")
@action
async def logout(request: web.Request) -> web.Response:
    visit = request[VISIT]
    if visit.portal_app is not None:  # an app portal visitor: its link opens it again
        response = see_other("/ui/portal", "logged-out")
        response.del_cookie(PORTAL_COOKIE, path="/ui")
        return response
    request.app[SIGNER].revoke(visit.session)
    response = see_other("/ui/login", "logged-out")
    response.del_cookie(SESSION_COOKIE, path="/ui")
    return response
