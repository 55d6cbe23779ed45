"""The dashboard's session cookie and CSRF tokens.

The cookie is opaque and signed, never the API token: ``<sid>.<expires>.<mac>`` with an
HMAC-SHA256 under a key derived from the API token, so every ingest replica accepts
it without shared storage, and changing the token ends every session. A form's CSRF
token is a second MAC of the session id: a page from another site cannot know it.
Logging out drops the session id in this process until it would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

SESSION_COOKIE = "hookline_session"
LOGIN_COOKIE = "hookline_login"  # double-submit token of the login form
SESSION_SECONDS = 8 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Session:
    sid: str
    expires: int


@dataclass
class SessionSigner:
    api_token: str
    lifetime: int = SESSION_SECONDS
    _revoked: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key = hmac.new(self.api_token.encode(), b"hookline-ui-session-v1", hashlib.sha256).digest()

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).digest())

    def mac(self, purpose: str, text: str) -> str:
        """A MAC under the dashboard's key for another cookie (the app portal's)."""
        return self._mac(purpose, text)

    def token_matches(self, offered: str) -> bool:
        """The login check: constant time whatever the length of what was typed."""
        offered_digest = hashlib.sha256(offered.encode()).digest()
        expected_digest = hashlib.sha256(self.api_token.encode()).digest()
        return hmac.compare_digest(offered_digest, expected_digest)

    def issue(self, now: float | None = None) -> tuple[Session, str]:
        expires = int(now if now is not None else time.time()) + self.lifetime
        session = Session(secrets.token_urlsafe(18), expires)
        body = f"{session.sid}.{session.expires}"
        return session, f"{body}.{self._mac('session', body)}"

    def verify(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or cookie.count(".") != 2:
            return None
        sid, expires_text, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", f"{sid}.{expires_text}").encode()):
            return None
        if not expires_text.isdigit() or int(expires_text) <= (now if now is not None else time.time()):
            return None
        if sid in self._revoked:
            return None
        return Session(sid, int(expires_text))

    def revoke(self, session: Session, now: float | None = None) -> None:
        current = now if now is not None else time.time()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > current}
        self._revoked[session.sid] = session.expires

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def csrf_matches(self, session: Session, offered: str | None) -> bool:
        if not offered:
            return False
        return hmac.compare_digest(offered.encode(), self.csrf_token(session).encode())


def new_login_token() -> str:
    return secrets.token_urlsafe(18)
