"""Log lines: the task a line is about comes with it, secrets do not.

The lines are read from a real process's stderr, as a log collector would read them."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import asyncio

import structlog

from shared.logging import WORK, configure_logging
from shared.settings import Settings
from shared.tasks import DeliveryTask

configure_logging(Settings(log_format="json", log_level="info"), "dispatcher")
log = structlog.get_logger()
task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", 0.0, b"{}", attempt=3)


async def handle() -> None:
    WORK.set(task)
    log.info("inside", secret="whsec_abc")


async def main() -> None:
    await asyncio.create_task(handle())
    log.info("outside")  # the task's own context did not leak into its creator's


asyncio.run(main())
"""


def test_a_line_carries_its_tasks_context_and_no_secret():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    inside, outside = (json.loads(line) for line in done.stderr.splitlines())
    assert {k: inside[k] for k in ("app_id", "msg_id", "endpoint_id", "attempt", "service")} == {
        "app_id": "app_1",
        "msg_id": "msg_1",
        "endpoint_id": "ep_1",
        "attempt": 3,
        "service": "dispatcher",
    }
    assert inside["secret"] == "[redacted]" and "whsec_abc" not in done.stderr
    assert outside["event"] == "outside" and "msg_id" not in outside
