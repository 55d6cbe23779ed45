"""No secret created or handed over during the chaos run appears in any log line the
services wrote: API tokens, endpoint signing secrets (before and after a rotation),
custom header values, verifier source secrets.

Runs last in the chaos directory (file order), so its scan also covers every log the
fault and abuse tests captured before it."""

from __future__ import annotations

import base64
import secrets as random_secrets
import time
from pathlib import Path

import aiohttp

from shared.signing import decode_secret, delivery_headers
from tests.chaos.conftest import LOGS
from tests.chaos.hookline import SECRETS
from tests.chaos.load import HttpLoad


def new_whsec() -> str:
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(24)).decode()


def forms(secret: str) -> set[str]:
    """The ways a secret could show up in a log: as given, without whsec_, as the
    JSON-escaped base64 (``/`` becomes ``\\/`` in some encoders)."""
    bare = secret.removeprefix("whsec_")
    return {secret, bare, bare.replace("/", "\\/")}


def leaks(logs: Path, secrets: set[str]) -> list[str]:
    needles = {form: secret for secret in secrets for form in forms(secret) if len(form) >= 16}
    found = []
    for log in sorted(logs.rglob("*.log")):
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            for form in needles:
                if form in line:
                    found.append(f"{log.relative_to(logs)}:{number}: {line[:300]}")
    return found


async def test_no_secret_created_during_the_run_appears_in_any_log_line(hookline, receivers, row, tmp_path):
    # Given a scan that does find a planted secret (so a clean result means something)
    planted = new_whsec()
    (tmp_path / "planted.log").write_text(f'{{"event": "oops", "key": "{planted.removeprefix("whsec_")}"}}\n')
    assert leaks(tmp_path, {planted})
    # and the three services logging at debug level
    hl = await hookline("ingest", "dispatcher", "verifier", HOOKLINE_LOG_LEVEL="debug")
    verifier = hl.services["verifier"].url
    given, rotated, header_value = new_whsec(), new_whsec(), "hdr-" + random_secrets.token_urlsafe(24)
    source_secret = new_whsec()
    SECRETS.update({given, rotated, header_value, source_secret})

    # When secrets are created, supplied, rotated, read back and used to sign and verify
    async with aiohttp.ClientSession(headers=hl.headers) as http:
        app_id, (first, second) = await hl.app_with_endpoints(receivers.urls[:2], [None, None])
        endpoint = f"{hl.api}/app/{app_id}/endpoint"
        async with http.post(endpoint, json={"url": receivers.urls[2], "secret": given}) as r:
            assert r.status == 201, await r.text()
        async with http.put(
            f"{endpoint}/{first}/headers", json={"headers": {"X-Api-Key": header_value}}
        ) as r:
            assert r.status == 204, await r.text()
        async with http.post(f"{endpoint}/{second}/secret/rotate", json={"key": rotated}) as r:
            assert r.status == 200, await r.text()
        async with http.get(f"{endpoint}/{second}/secret") as r:
            assert (await r.json())["key"] == rotated
        load = await HttpLoad(hl.ingest.url, hl.token, app_id).run(20, seconds=1, label="secrets")
        source = {"id": "chaos-src", "scheme": "standard-webhooks", "secrets": [source_secret]}
        async with http.post(f"{verifier}/api/v1/sources", json=source) as r:
            assert r.status == 201, await r.text()
        body = b'{"type":"chaos.in","data":{}}'
        for key in (decode_secret(source_secret), b"wrong-key-0123456789"):
            headers = {
                **delivery_headers([key], "msg_chaos", body, time.time()),
                "content-type": "application/json",
            }
            async with http.post(f"{verifier}/in/chaos-src", data=body, headers=headers) as r:
                assert r.status in (200, 202, 204, 401), await r.text()
    async with aiohttp.ClientSession() as anonymous:  # and the wrong tokens get refused (and maybe logged)
        for token in (hl.token[:-2], "Bearer " + hl.token):
            async with anonymous.get(f"{hl.api}/app", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401
    pairs = {(seq, i) for seq in load.accepted for i in (0, 1, 2)}
    missing = await receivers.wait_for(pairs, 60)
    assert not missing, f"{len(missing)} deliveries never arrived"
    await hl.stop()  # shutdown lines too
    row.bad_inputs += 3

    # Then not one line of any service log holds any of them, in any of its forms
    found = leaks(LOGS, SECRETS)
    lines = sum(len(p.read_text(errors="replace").splitlines()) for p in LOGS.rglob("*.log"))
    row.note = f"{len(SECRETS)} secrets searched for in {lines} log lines"
    assert not found, "secrets in logs:\n" + "\n".join(found[:20])
