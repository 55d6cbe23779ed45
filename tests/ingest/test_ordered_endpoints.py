"""The ``ordered`` extension field on the endpoint routes: set on create, PUT and PATCH,
returned by get and list, left alone by a Svix SDK that never sends it."""

from svix.api import ApplicationIn, EndpointPatch
from svix.models import EndpointUpsertIn

URL = "http://127.0.0.1:9/hook"


async def test_ordered_is_set_returned_and_kept_by_svix_sdk_calls(svix, http):
    app = await svix.application.create(ApplicationIn(name="Ordered"))
    base = f"/api/v1/app/{app.id}/endpoint"
    # Given an endpoint created with "ordered": true
    async with http.post(base, json={"url": URL, "ordered": True}) as response:
        assert response.status == 201
        created = await response.json()
    assert created["ordered"] is True
    # Then get and list return it, and one created without it is not ordered
    async with http.post(base, json={"url": URL}) as response:
        plain = await response.json()
    assert plain["ordered"] is False
    async with http.get(f"{base}/{created['id']}") as response:
        assert (await response.json())["ordered"] is True
    async with http.get(base) as response:
        listed = {e["id"]: e["ordered"] for e in (await response.json())["data"]}
    assert listed == {created["id"]: True, plain["id"]: False}
    # And the Svix SDK reads such an endpoint, and its PUT and PATCH (which never send the
    # field) leave it ordered
    assert (await svix.endpoint.get(app.id, created["id"])).url == URL
    await svix.endpoint.upsert(app.id, created["id"], EndpointUpsertIn(url=URL + "2"))
    await svix.endpoint.patch(app.id, created["id"], EndpointPatch(description="still ordered"))
    async with http.get(f"{base}/{created['id']}") as response:
        assert (await response.json())["ordered"] is True
    # And PATCH or PUT with the field change it
    async with http.patch(f"{base}/{created['id']}", json={"ordered": False}) as response:
        assert (await response.json())["ordered"] is False
    async with http.put(f"{base}/{plain['id']}", json={"url": URL, "ordered": True}) as response:
        assert (await response.json())["ordered"] is True
    # And a value that is not a boolean is a 422 naming the field
    async with http.patch(f"{base}/{plain['id']}", json={"ordered": "sometimes"}) as response:
        assert response.status == 422
        assert (await response.json())["detail"][0]["loc"][-1] == "ordered"
