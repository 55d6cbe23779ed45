"""The official svix SDK drives endpoints: CRUD, headers, secret rotation, stats."""

import pytest
from svix.api import (
    ApplicationIn,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
)
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import EndpointUpsertIn

URL = "http://127.0.0.1:9/hook"


async def test_endpoint_lifecycle(svix):
    app = await svix.application.create(ApplicationIn(name="Endpoints"))
    ep = await svix.endpoint.create(
        app.id,
        EndpointIn(url=URL, uid="primary", event_types=["user.signup"], channels=["eu"], description="main"),
    )
    assert ep.id.startswith("ep_") and ep.event_types == ["user.signup"] and ep.channels == ["eu"]
    assert (await svix.endpoint.get(app.id, "primary")).id == ep.id

    patched = await svix.endpoint.patch(app.id, ep.id, EndpointPatch(disabled=True, event_types=None))
    assert patched.disabled is True and patched.event_types is None and patched.channels == ["eu"]

    updated = await svix.endpoint.upsert(app.id, ep.id, EndpointUpsertIn(url=URL + "2", uid="primary"))
    assert updated.url == URL + "2" and updated.disabled is False and updated.channels is None

    created = await svix.endpoint.upsert(app.id, "by-put", EndpointUpsertIn(url=URL))
    assert created.uid == "by-put" and created.id != ep.id

    listed = await svix.endpoint.list(app.id)
    assert {e.id for e in listed.data} == {ep.id, created.id} and listed.done

    await svix.endpoint.delete(app.id, ep.id)
    with pytest.raises(HttpError) as err:
        await svix.endpoint.get(app.id, ep.id)
    assert err.value.status_code == 404


async def test_headers_secret_rotation_and_stats(svix):
    app = await svix.application.create(ApplicationIn(name="Secrets"))
    given = "whsec_" + "A" * 32
    ep = await svix.endpoint.create(app.id, EndpointIn(url=URL, secret=given))
    assert (await svix.endpoint.get_secret(app.id, ep.id)).key == given

    await svix.endpoint.set_headers(
        app.id, ep.id, EndpointHeadersIn(headers={"X-Tenant": "42", "Authorization": "Bearer s3cret"})
    )
    headers = await svix.endpoint.get_headers(app.id, ep.id)
    assert headers.headers == {"X-Tenant": "42"} and headers.sensitive == ["Authorization"]
    await svix.endpoint.patch_headers(
        app.id, ep.id, EndpointHeadersPatchIn(headers={"X-Extra": "1"}, delete_headers=["X-Tenant"])
    )
    assert (await svix.endpoint.get_headers(app.id, ep.id)).headers == {"X-Extra": "1"}

    rotated = await svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
    current = (await svix.endpoint.get_secret(app.id, ep.id)).key
    assert current == rotated.key != given and current.startswith("whsec_")

    stats = await svix.endpoint.get_stats(app.id, ep.id)
    assert (stats.success, stats.pending, stats.fail, stats.sending) == (0, 0, 0, 0)


async def test_deprecated_filter_types_is_accepted(http, svix):
    app = await svix.application.create(ApplicationIn(name="Legacy"))
    async with http.post(f"/api/v1/app/{app.id}/endpoint", json={"url": URL, "filterTypes": ["a.b"]}) as r:
        assert r.status == 201
        assert (await r.json())["eventTypes"] == ["a.b"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://example.com/hook"}, "http:// or https://"),
        ({"url": "http://169.254.169.254/latest"}, "cloud metadata"),
        ({"url": "http://10.0.0.1/"}, "private"),
        ({"url": URL, "secret": "too-short"}, "secret"),
        ({"url": URL, "channels": []}, "channels"),
        ({"url": URL, "headers": {"X-Bad": "a\r\nInjected: 1"}}, "line break"),
        ({"url": URL, "headers": {"webhook-id": "spoof"}}, "cannot be overridden"),
    ],
)
async def test_invalid_endpoints_get_422_with_a_reason(svix, db_pool, body, fragment):
    app = await svix.application.create(ApplicationIn(name="Invalid"))
    with pytest.raises(HTTPValidationError) as err:
        await svix.endpoint.create(app.id, EndpointIn.model_validate(body))
    assert err.value.status_code == 422
    assert any(fragment in item.msg for item in err.value.detail), err.value.detail
    assert await db_pool.fetchval("SELECT count(*) FROM endpoint WHERE app_id = $1", app.id) == 0
