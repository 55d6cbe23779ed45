"""Schemathesis against ingest's ``/api/v1/openapi.json``: no 5xx, every response as the
document describes it."""

from __future__ import annotations

from tests.chaos.conftest import LOGS
from tests.chaos.schema_fuzz import (
    findings,
    run_schemathesis,
    unhandled_exceptions,
)
from tests.chaos.sizes import SCHEMA_EXAMPLES, SCHEMA_PHASES

SEED = 20261128  # deterministic generation: CI sees the same cases every run


async def test_schemathesis_finds_no_server_error_and_no_response_off_the_document(hookline, row, request):
    # Given ingest on the private database and broker
    hl = await hookline("ingest")
    report = LOGS / request.node.name / "schemathesis-junit.xml"

    # When schemathesis generates requests from the document, valid and invalid ones
    output = await run_schemathesis(
        hl.ingest.url, hl.token, report, examples=SCHEMA_EXAMPLES, seed=SEED, phases=SCHEMA_PHASES
    )
    (LOGS / request.node.name / "schemathesis.txt").write_text(output)
    assert report.exists(), f"schemathesis produced no report:\n{output[-3000:]}"
    row.bad_inputs, row.server_errors = await hl.responses_served()

    # Then nothing answered 5xx or off the document, and ingest logged no unhandled exception
    found = findings(report)
    crashes = unhandled_exceptions(hl.ingest.log)
    assert not found, "\n\n".join(f"{f.operation} [{f.codes}]\n{f.text[:1500]}" for f in found)
    assert not crashes, crashes
