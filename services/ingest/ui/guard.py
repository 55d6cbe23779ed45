"""Who may see a page or post a form: the session cookie, the CSRF token, the origin.

``page`` wraps a GET handler, ``action`` a form post. Both send a visitor without a
session to the login page, and turn an unexpected error into a page in plain words
(the API's error middleware would answer JSON).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from services.ingest.ui import portal, portal_scope
from services.ingest.ui.form_body import FormTooSlow, read_form, too_slow_page
from services.ingest.ui.keys import SIGNER, VISIT, Visit
from services.ingest.ui.render import not_found, render, see_other
from services.ingest.ui.session import SESSION_COOKIE, Session

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def current_session(request: web.Request) -> Session | None:
    return request.app[SIGNER].verify(request.cookies.get(SESSION_COOKIE))


def safe_next(target: str | None) -> str:
    """Only a dashboard path: never another site (an open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _to_login(request: web.Request) -> web.Response:
    return see_other("/ui/login?" + urlencode({"next": safe_next(request.path_qs)}))


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _failure_page(request: web.Request) -> web.Response:
    log.exception("dashboard page failed", path=request.path, method=request.method)
    message = "Something went wrong on our side while showing this page. The error was logged; try again."
    return render(request, "error.html", {"title": "Something went wrong", "message": message}, 500)


def _enter(request: web.Request) -> Session | None:
    session = current_session(request)
    if session is not None:
        request[VISIT] = Visit(session, request.app[SIGNER].csrf_token(session))
    return session


def posted(request: web.Request) -> MultiDictProxy[Any]:
    """The form an ``action`` handler received (already read and checked)."""
    form = request[VISIT].form
    assert form is not None, "only for handlers wrapped in action()"
    return form


def posted_text(request: web.Request, name: str) -> str:
    value = posted(request).get(name, "")
    return value.strip() if isinstance(value, str) else ""


async def _refuse_forged(request: web.Request, session: Session) -> web.Response | None:
    """Read the posted form; a refusal page unless it carries this session's CSRF token."""
    try:
        form = await read_form(request)
    except FormTooSlow as exc:
        return too_slow_page(request, exc)
    csrf = form.get("csrf")
    signer = request.app[SIGNER]
    if same_origin(request) and signer.csrf_matches(session, csrf if isinstance(csrf, str) else None):
        request[VISIT].form = form
        return None
    message = (
        "This form has expired or was sent from another site, so nothing was changed."
        " Reload the page and try again."
    )
    return render(request, "error.html", {"title": "Form refused", "message": message}, 403)


async def _enter_portal(request: web.Request, posts_form: bool) -> Session | web.Response:
    """An app portal visitor: its session, or the answer its scope gives (portal_scope)."""
    found = await portal.visitor(request)
    if found is None:
        return _to_login(request)
    session, token = found
    request[VISIT] = Visit(session, request.app[SIGNER].csrf_token(session), portal_app=token.app_id)
    verdict = portal_scope.decide(request.path, request.query.get("app"), posts_form, token)
    if verdict == "home":
        return see_other(portal_scope.home(token))
    if verdict == "404":
        return not_found(request, "This page")
    if verdict == "403":
        message = "Your access to this portal does not allow this change."
        return render(request, "error.html", {"title": "Not allowed", "message": message}, 403)
    return session


def _guard(handler: Handler, *, posts_form: bool) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = _enter(request)
        if session is None:
            entered = await _enter_portal(request, posts_form)
            if isinstance(entered, web.Response):
                return entered
            session = entered
        if posts_form and (refusal := await _refuse_forged(request, session)) is not None:
            return refusal
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            return _failure_page(request)

    return guarded


def page(handler: Handler) -> Handler:
    """A page for logged-in visitors."""
    return _guard(handler, posts_form=False)


def action(handler: Handler) -> Handler:
    """A form post from a logged-in visitor, with this session's CSRF token."""
    return _guard(handler, posts_form=True)
