"""Log lines: the task a line is about comes with it, secrets do not."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import structlog

from shared.logging import WORK, configure_logging
from shared.settings import Settings
from shared.tasks import DeliveryTask


def test_a_line_carries_its_tasks_context_and_no_secret(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(Settings(log_format="json", log_level="info"), "dispatcher")
    log = structlog.get_logger()
    task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", 0.0, b"{}", attempt=3)

    async def handle(work: DeliveryTask | None) -> None:
        WORK.set(work)
        log.info("inside", secret="whsec_abc")

    async def main() -> None:
        await asyncio.create_task(handle(task))
        log.info("outside")  # the task's own context did not leak into its creator's

    asyncio.run(main())
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: inside[k] for k in ("app_id", "msg_id", "endpoint_id", "attempt", "service")} == {
        "app_id": "app_1",
        "msg_id": "msg_1",
        "endpoint_id": "ep_1",
        "attempt": 3,
        "service": "dispatcher",
    }
    assert inside["secret"] == "[redacted]"
    assert "msg_id" not in outside
