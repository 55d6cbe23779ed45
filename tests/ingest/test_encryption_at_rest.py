"""Secrets at rest, against real PostgreSQL: what the API, the dashboard's store, the
dispatcher and the verifier are given is sealed in the tables, a dump of the database
holds none of it, old keys keep opening what they sealed, and ``shared.rekey`` moves
every row to the newest key while writes go on.

Each test has a database of its own: a rekey walks whole tables, and the run's shared
database holds rows of other tests sealed with the dev key."""

from __future__ import annotations

import asyncio
import glob
import os
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import svix as svix_lib
from svix.api import (
    ApplicationIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointRotateSecretOptions,
    EndpointSecretRotateIn,
    MessageIn,
    SvixAsync,
    SvixOptions,
)

from shared import encryption
from shared.db import create_pool
from shared.keyring import KeyRing, new_key
from shared.rekey import census, rekey, stale
from shared.signing import new_secret
from tests.conftest import RUN_ID
from tests.dispatcher import conftest as dispatcher
from tests.dispatcher.conftest import running_dispatcher
from tests.ingest.conftest import start_ingest
from tests.support.databases import temporary_database
from tests.verifier.conftest import start_verifier, unique_id

receiver = dispatcher.receiver  # the real receiver, as a fixture of this module
K1, K2 = f"k1:{new_key()}", f"k2:{new_key()}"
PG_DUMP = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1]


@pytest.fixture(autouse=True)
def _keep_the_process_ring():
    """The ingests here install rings of their own; later tests get the one before back."""
    before = encryption.active()
    yield
    encryption.install(before)


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    async with temporary_database(f"hookline_test_{RUN_ID}_keys_{uuid.uuid4().hex[:6]}", migrate=True) as dsn:
        yield dsn


async def pg_dump(dsn: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        PG_DUMP, "--data-only", dsn, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def sdk(running) -> SvixAsync:
    return SvixAsync(running.settings.api_token, SvixOptions(server_url=running.url))


async def test_a_dump_holds_none_of_the_secrets_given_to_the_api(make_settings, own_database, receiver):
    settings = make_settings(database_url=own_database, encryption_keys=K1)
    first, second = new_secret(), new_secret()
    bearer, tenant, added, token = (f"{what}-{uuid.uuid4().hex}" for what in ("bearer", "tenant", "x", "tok"))
    ingest, ingest_runner = await start_ingest(settings)
    verifier, verifier_runner = await start_verifier(settings)
    try:
        svix = sdk(ingest)
        app = await svix.application.create(ApplicationIn(name="Sealed"))
        headers = {"Authorization": f"Bearer {bearer}", "X-Tenant": tenant}
        ep = await svix.endpoint.create(
            app.id, EndpointIn(url=f"{receiver.url}/in", secret=first, headers=headers)
        )
        rotate = EndpointSecretRotateIn(key=second)
        await svix.endpoint.rotate_secret(
            app.id, ep.id, rotate, EndpointRotateSecretOptions(idempotency_key="r1")
        )
        await svix.endpoint.patch_headers(app.id, ep.id, EndpointHeadersPatchIn(headers={"X-Added": added}))
        source = await verifier.create_source(
            id=unique_id("sealed"), scheme="token", headerName="X-Token", secrets=[token]
        )

        # Every read path still sees the plaintext: the API ...
        assert (await svix.endpoint.get_secret(app.id, ep.id)).key == second
        shown = await svix.endpoint.get_headers(app.id, ep.id)
        assert shown.headers == {"X-Tenant": tenant, "X-Added": added} and shown.sensitive == [
            "Authorization"
        ]
        replayed = await svix.endpoint.rotate_secret(
            app.id, ep.id, rotate, EndpointRotateSecretOptions(idempotency_key="r1")
        )
        assert replayed.key == second
        async with verifier.http.get(f"/api/v1/sources/{source['id']}") as response:
            assert (await response.json())["secrets"] == [token]
        # ... the verifier's receiving path ...
        assert (await verifier.post(source["id"], b'{"a":1}', {"X-Token": token}))[0] == 200
        assert (await verifier.post(source["id"], b'{"a":1}', {"X-Token": "wrong"}))[0] == 401
        # ... and the dispatcher, which signs with both secrets during the grace period
        await svix.message.create(app.id, MessageIn(event_type="a.b", payload={"k": "v"}))
        async with running_dispatcher(settings):
            await receiver.wait_for(lambda: len(receiver.at("/in")) == 1)
        got = receiver.at("/in")[0]
        assert got.headers["Authorization"] == f"Bearer {bearer}" and got.headers["X-Tenant"] == tenant
        for secret in (first, second):
            svix_lib.Webhook(secret).verify(got.body, got.headers)
    finally:
        await verifier.http.close()
        await verifier_runner.cleanup()
        await ingest_runner.cleanup()

    dump = await pg_dump(own_database)
    assert "hl1:k1:" in dump
    for value in (first, second, bearer, tenant, added, token):
        assert value not in dump


async def _legacy_rows(pool: asyncpg.Pool, app_id: str) -> dict[str, str]:
    """Rows as a Hookline before encryption wrote them: plaintext."""
    plain = {"secret": new_secret(), "old": new_secret(), "header": uuid.uuid4().hex, "source": new_secret()}
    await pool.execute(
        "INSERT INTO endpoint (id, app_id, url, secret, old_secrets, headers)"
        " VALUES ('ep_legacy', $1, 'http://127.0.0.1:9/', $2, $3, $4)",
        app_id,
        plain["secret"],
        [{"key": plain["old"], "expiresAt": "2999-01-01T00:00:00+00:00"}],
        {"X-Legacy": plain["header"]},
    )
    await pool.execute(
        "INSERT INTO inbound_source (id, scheme, secrets, max_body_bytes, tolerance_seconds)"
        " VALUES ('src_legacy', 'standard-webhooks', $1, 1000, 300)",
        [plain["source"]],
    )
    await pool.execute(
        "INSERT INTO idempotency_key (scope, key, state, status_code, body) VALUES"
        " ('POST /api/v1/app/a/endpoint/e/secret/rotate', 'k', 'done', 200, $1),"
        " ('POST /api/v1/app/a/msg', 'k', 'done', 202, '{\"id\":\"msg_1\"}')",
        f'{{"key":"{plain["secret"]}"}}'.encode(),
    )
    return plain


async def _check(dsn: str, keys: str) -> int:
    env = {**os.environ, "HOOKLINE_DATABASE_URL": dsn, "HOOKLINE_ENCRYPTION_KEYS": keys}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.rekey", "--check", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    return await proc.wait()


async def test_old_keys_open_and_rekey_moves_every_row_to_the_newest(make_settings, own_database):
    # Given endpoints sealed under k1, and rows left in plaintext by an older Hookline
    old_ingest, runner = await start_ingest(make_settings(database_url=own_database, encryption_keys=K1))
    svix = sdk(old_ingest)
    app = await svix.application.create(ApplicationIn(name="Rotation"))
    expected: dict[str, tuple[str, str]] = {}
    for i in range(12):
        secret, header = new_secret(), f"v{i}-{uuid.uuid4().hex}"
        ep = await svix.endpoint.create(
            app.id, EndpointIn(url="http://127.0.0.1:9/", secret=secret, headers={"X-H": header})
        )
        expected[ep.id] = (secret, header)
    await runner.cleanup()
    async with create_pool(own_database, min_size=1, max_size=6) as pool:
        plain = await _legacy_rows(pool, app.id)
        expected["ep_legacy"] = (plain["secret"], plain["header"])

        # When the ring gets a newer key first, what k1 sealed and the plaintext still read
        ingest, runner = await start_ingest(
            make_settings(database_url=own_database, encryption_keys=f"{K2},{K1}")
        )
        svix = sdk(ingest)
        for ep_id, (secret, _) in expected.items():
            assert (await svix.endpoint.get_secret(app.id, ep_id)).key == secret
        assert await _check(own_database, f"{K2},{K1}") == 1  # not all under k2 yet

        # And two rekey runs go at once while the API keeps changing headers
        async def write_headers() -> None:
            for round_ in range(3):
                for ep_id in list(expected)[:6]:
                    value = f"new-{round_}-{uuid.uuid4().hex}"
                    await svix.endpoint.patch_headers(
                        app.id, ep_id, EndpointHeadersPatchIn(headers={"X-H": value})
                    )
                    expected[ep_id] = (expected[ep_id][0], value)

        ring = KeyRing.parse(f"{K2},{K1}")
        done = await asyncio.gather(rekey(pool, ring, batch=5), rekey(pool, ring, batch=3), write_headers())
        await runner.cleanup()

        # Then every sealed value is under k2, none is plaintext (message answers aside)
        counts = await census(pool)
        assert stale(counts, ring) == 0, counts
        assert done[0]["endpoint"] + done[1]["endpoint"] >= 1
        assert await _check(own_database, f"{K2},{K1}") == 0
        # ... a second run finds nothing to do
        assert await rekey(pool, ring) == {"endpoint": 0, "inbound_source": 0, "idempotency_key": 0}
        msg_answer = await pool.fetchval(
            "SELECT body FROM idempotency_key WHERE scope = 'POST /api/v1/app/a/msg'"
        )
        assert msg_answer == b'{"id":"msg_1"}'  # group commit reads its own answers unsealed

    # And k1 can leave the ring: k2 alone reads every value, with the last writes kept
    ingest, runner = await start_ingest(make_settings(database_url=own_database, encryption_keys=K2))
    try:
        svix = sdk(ingest)
        for ep_id, (secret, header) in expected.items():
            assert (await svix.endpoint.get_secret(app.id, ep_id)).key == secret
            assert (await svix.endpoint.get_headers(app.id, ep_id)).headers == {
                "X-Legacy" if ep_id == "ep_legacy" else "X-H": header
            }
    finally:
        await runner.cleanup()
    dump = await pg_dump(own_database)
    assert "hl1:k1:" not in dump
    for value in plain.values():
        assert value not in dump


@pytest.mark.parametrize("service", ["ingest", "dispatcher", "verifier"])
async def test_prod_without_a_key_refuses_to_start(service):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_ENV="prod",
        HOOKLINE_API_TOKEN="a-random-token-of-24-characters",
        HOOKLINE_AMQP_URL="amqp://hook:s3cret@127.0.0.1:5672/",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{service}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(proc.communicate(), 60))[0].decode()
    assert proc.returncode != 0
    assert "refusing to start with HOOKLINE_ENV=prod: HOOKLINE_ENCRYPTION_KEYS must be set" in output
    assert "24-characters" not in output  # the error does not echo the settings it was given
