"""Schemathesis against ingest's own OpenAPI document, run as its CLI (``st run``),
and what its JUnit report and ingest's log say went wrong."""

from __future__ import annotations

import asyncio
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import orjson

# What issue 8 asks of every response: no 5xx, and it matches the document.
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# Failures already reported to the owner of ingest (see docs/chaos.md, "Known findings").
# Each is (name, a regex over one failure's report, or over one of ingest's logged
# unhandled exceptions). A failure that matches none of them fails the test.


@dataclass
class Finding:
    operation: str
    codes: str
    text: str


async def run_schemathesis(
    url: str, token: str, report: Path, *, examples: int, seed: int, phases: str
) -> str:
    """Run ``st run``; its console output. The JUnit report lands in ``report``."""
    st = Path(sys.executable).with_name("st")
    process = await asyncio.create_subprocess_exec(
        str(st), "run", f"{url}/api/v1/openapi.json", "--url", url,
        "-H", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--phases", phases, "-n", str(examples),
        "--seed", str(seed), "--generation-deterministic", "--no-shrink",
        "--workers", "1", "--no-color",  # 2 workers trip a CPython 3.11 ast race in hypothesis
        "--report", "junit", "--report-junit-path", str(report),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return output.decode(errors="replace")


def findings(report: Path) -> list[Finding]:
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for failure in [*case.iter("failure"), *case.iter("error")]:
            text = failure.text or ""
            # One <failure> may hold several numbered test cases: judge each on its own.
            for part in re.split(r"\n(?=\d+\. Test Case ID:)", text):
                found.append(Finding(case.get("name", "?"), failure.get("message", ""), part))
    return found


def unhandled_exceptions(log: Path) -> list[str]:
    """The last line of each exception ingest logged as unhandled (JSON log lines)."""
    lines = []
    for raw in log.read_bytes().splitlines():
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("exception"):
            lines.append([x for x in str(entry["exception"]).splitlines() if x.strip()][-1])
    return lines
