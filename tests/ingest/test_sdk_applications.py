"""The official svix SDK drives applications and event types against Hookline."""

import pytest
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
)
from svix.exceptions import HttpError


async def test_application_lifecycle(svix):
    created = await svix.application.create(
        ApplicationIn(name="Acme", uid="acme-1", metadata={"tier": "gold"})
    )
    assert created.id.startswith("app_") and created.uid == "acme-1" and created.metadata == {"tier": "gold"}

    assert (await svix.application.get("acme-1")).id == created.id
    same = await svix.application.get_or_create(ApplicationIn(name="ignored", uid="acme-1"))
    assert same.id == created.id and same.name == "Acme"

    patched = await svix.application.patch(created.id, ApplicationPatch(name="Acme Inc", throttle_rate=5))
    assert patched.name == "Acme Inc" and patched.throttle_rate == 5 and patched.uid == "acme-1"

    replaced = await svix.application.upsert("acme-1", ApplicationIn(name="Acme Corp"))
    assert replaced.id == created.id and replaced.name == "Acme Corp"

    await svix.application.delete("acme-1")
    with pytest.raises(HttpError) as err:
        await svix.application.get(created.id)
    assert err.value.status_code == 404 and err.value.code == "not_found"


async def test_duplicate_uid_is_409(svix):
    await svix.application.create(ApplicationIn(name="A", uid="dup-uid"))
    with pytest.raises(HttpError) as err:
        await svix.application.create(ApplicationIn(name="B", uid="dup-uid"))
    assert err.value.status_code == 409


async def test_list_applications_pages_with_iterator(svix):
    ids = [(await svix.application.create(ApplicationIn(name=f"page-{i}"))).id for i in range(7)]
    seen, iterator, pages = [], None, 0
    while True:
        page = await svix.application.list(ApplicationListOptions(limit=3, iterator=iterator))
        seen += [a.id for a in page.data]
        pages += 1
        if page.done:
            break
        iterator = page.iterator
    assert set(ids) <= set(seen) and len(seen) == len(set(seen)) and pages >= 3


async def test_event_types_archive_and_list(svix):
    await svix.event_type.create(EventTypeIn(name="invoice.paid", description="An invoice was paid"))
    await svix.event_type.create(EventTypeIn(name="invoice.void", description="Voided"))
    got = await svix.event_type.get("invoice.paid")
    assert got.description == "An invoice was paid" and got.deprecated is False

    await svix.event_type.patch("invoice.void", EventTypePatch(archived=True))
    visible = {e.name for e in (await svix.event_type.list()).data}
    assert "invoice.paid" in visible and "invoice.void" not in visible
    everything = await svix.event_type.list(EventTypeListOptions(include_archived=True))
    assert "invoice.void" in {e.name for e in everything.data}

    await svix.event_type.delete("invoice.paid")
    assert (await svix.event_type.get("invoice.paid")).archived is True
