"""What an app portal visitor may reach: its own application's pages, the event-type
catalogue, and logging out — and which forms its token's capabilities allow. Pure."""

from __future__ import annotations

import re

from services.ingest.portal_tokens import PortalToken

_APP_PAGE = re.compile(r"^/ui/apps/(?P<app_id>[^/]+)(?P<rest>/.*)?$")
_HOME_ALIASES = {"/ui", "/ui/", "/ui/apps", "/ui/messages"}
_MESSAGES = "/ui/messages"  # the message log, filtered to the visitor's application only
_OPEN = {"/ui/event-types"}
# form path suffix -> the capabilities of which one allows it (ManageEndpoint allows all)
_NEEDS = (
    ("/secret/reveal", {"ViewEndpointSecret", "ManageEndpointSecret"}),
    ("/secret/rotate", {"ManageEndpointSecret"}),
    ("/recover", {"CreateAttempts"}),
    ("/resend/", {"CreateAttempts"}),
)


def home(token: PortalToken) -> str:
    return f"/ui/apps/{token.app_id}"


def decide(path: str, app_filter: str | None, posted: bool, token: PortalToken) -> str | None:
    """None: go ahead. Otherwise "home" (send to the app's page), "404" or "403".
    ``app_filter``: the ``app`` query parameter (the message log's filter)."""
    if path == "/ui/logout":
        return None
    if path == _MESSAGES and not posted and app_filter == token.app_id:
        return None
    if path in _HOME_ALIASES and not posted:
        return "home"
    if path in _OPEN and not posted:
        return None
    found = _APP_PAGE.match(path)
    if found is None or found["app_id"] != token.app_id:
        return "404"  # another application's pages do not exist for this visitor
    if not posted:
        return None
    if token.read_only:
        return "403"
    allowed = {"ManageEndpoint"}
    for suffix, capabilities in _NEEDS:
        if suffix in (found["rest"] or ""):
            allowed |= capabilities
    return None if allowed & set(token.capabilities) else "403"
