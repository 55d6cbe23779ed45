"""Schemathesis against ingest's ``/api/v1/openapi.json``: no 5xx, every response as the
document describes it."""

from __future__ import annotations

import re

import pytest

from tests.chaos.conftest import LOGS
from tests.chaos.schema_fuzz import (
    KNOWN_EXCEPTIONS,
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

    # Then nothing answered 5xx or off the document — apart from the findings already
    # reported (each named below; the run is marked xfail while any of them shows up)
    found = findings(report)
    unknown = [f for f in found if f.known() is None]
    crashes = unhandled_exceptions(hl.ingest.log)
    unknown_crashes = [c for c in crashes if not any(re.search(rx, c) for _, rx in KNOWN_EXCEPTIONS)]
    assert not unknown, "\n\n".join(f"{f.operation} [{f.codes}]\n{f.text[:1500]}" for f in unknown)
    assert not unknown_crashes, unknown_crashes
    if found:
        names = sorted({str(f.known()) for f in found})
        causes = sorted({name for name, rx in KNOWN_EXCEPTIONS if any(re.search(rx, c) for c in crashes)})
        row.note = "known findings: " + "; ".join(names + causes)
        pytest.xfail(row.note)
