"""The session cookie and CSRF tokens, as pure functions (no browser needed)."""

from __future__ import annotations

from services.ingest.ui.session import SessionSigner


def test_a_cookie_verifies_until_it_expires():
    signer = SessionSigner("token-1", lifetime=60)
    session, cookie = signer.issue(now=1000)
    assert signer.verify(cookie, now=1059) == session
    assert signer.verify(cookie, now=1060) is None


def test_a_tampered_or_foreign_cookie_is_refused():
    signer = SessionSigner("token-1")
    _, cookie = signer.issue()
    sid, expires, mac = cookie.split(".")
    assert signer.verify(f"{sid}.{int(expires) + 3600}.{mac}") is None  # a longer life
    assert signer.verify(f"other.{expires}.{mac}") is None
    assert signer.verify("not a cookie") is None and signer.verify(None) is None
    assert SessionSigner("token-2").verify(cookie) is None  # a new API token ends every session


def test_logging_out_revokes_the_session():
    signer = SessionSigner("token-1")
    session, cookie = signer.issue()
    signer.revoke(session)
    assert signer.verify(cookie) is None


def test_the_csrf_token_belongs_to_one_session():
    signer = SessionSigner("token-1")
    first, _ = signer.issue()
    second, _ = signer.issue()
    token = signer.csrf_token(first)
    assert signer.csrf_matches(first, token)
    assert not signer.csrf_matches(second, token)
    assert not signer.csrf_matches(first, None) and not signer.csrf_matches(first, "é")


def test_the_token_check():
    signer = SessionSigner("the-api-token")
    assert signer.token_matches("the-api-token")
    assert not signer.token_matches("the-api-token ") and not signer.token_matches("")
