"""App portal access through the official svix SDK: links, tokens stored hashed,
``application`` creating the app, expire-all and logout revoking."""

from __future__ import annotations

import pytest
from svix.api import ApplicationIn, ApplicationTokenExpireIn, AppPortalAccessIn, SvixAsync, SvixOptions
from svix.exceptions import HttpError, HTTPValidationError

from services.ingest import portal_tokens


async def live(db_pool, token: str) -> bool:  # type: ignore[no-untyped-def]
    return await portal_tokens.check(db_pool, portal_tokens.digest(token)) is not None


async def test_a_link_for_an_app_with_its_token_stored_hashed(svix, ingest, db_pool):
    app = await svix.application.create(ApplicationIn(name="Acme", uid="acme-portal"))
    access = await svix.authentication.app_portal_access("acme-portal", AppPortalAccessIn(read_only=True))
    assert access.url == f"{ingest.url}/ui/portal#key={access.token}"
    rows = await db_pool.fetch("SELECT * FROM app_portal_token WHERE app_id = $1", app.id)
    assert len(rows) == 1 and rows[0]["read_only"] is True
    assert access.token not in repr(dict(rows[0])) and rows[0]["token_hash"] == portal_tokens.digest(
        access.token
    )
    assert await live(db_pool, access.token)


async def test_application_in_the_body_creates_the_app_when_missing(svix):
    await svix.authentication.app_portal_access(
        "made-by-portal", AppPortalAccessIn(application=ApplicationIn(name="Made by the portal"))
    )
    assert (await svix.application.get("made-by-portal")).name == "Made by the portal"
    with pytest.raises(HttpError) as missing:
        await svix.authentication.app_portal_access("no-such-app", AppPortalAccessIn())
    assert missing.value.status_code == 404


async def test_an_expiry_under_an_hour_is_refused(svix):
    await svix.application.create(ApplicationIn(name="Short", uid="short-portal"))
    with pytest.raises(HTTPValidationError):
        await svix.authentication.app_portal_access("short-portal", AppPortalAccessIn(expiry=60))


async def test_expire_all_and_logout_revoke(svix, ingest, db_pool):
    await svix.application.create(ApplicationIn(name="Rev", uid="rev-portal"))
    first = await svix.authentication.app_portal_access("rev-portal", AppPortalAccessIn(session_id="s1"))
    second = await svix.authentication.app_portal_access("rev-portal", AppPortalAccessIn(session_id="s2"))
    # expire-all of one session leaves the other
    await svix.authentication.expire_all("rev-portal", ApplicationTokenExpireIn(session_ids=["s1"]))
    assert not await live(db_pool, first.token) and await live(db_pool, second.token)
    # logout revokes the token it is called with, and only a portal token can log out
    as_customer = SvixAsync(second.token, SvixOptions(server_url=ingest.url))
    await as_customer.authentication.logout()
    assert not await live(db_pool, second.token)
    with pytest.raises(HttpError) as refused:
        await svix.authentication.logout()
    assert refused.value.status_code == 401
    third = await svix.authentication.app_portal_access("rev-portal", AppPortalAccessIn())
    await svix.authentication.expire_all("rev-portal", ApplicationTokenExpireIn())
    assert not await live(db_pool, third.token)
