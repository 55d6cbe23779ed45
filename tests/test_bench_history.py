"""`make bench-history` at a tiny size: the loader's rows arrive, every figure is measured
and reported. Sizes and timings mean nothing here; the bench itself is not a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

BASE = "postgresql://postgres@127.0.0.1:5432"


async def test_the_history_bench_loads_and_reports_every_figure(tmp_path: Path):
    name = f"hookline_histbench_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "HOOKLINE_BENCH_HISTORY_DSN": f"{BASE}/{name}",
        "HOOKLINE_BENCH_HISTORY_MESSAGES": "3000",
        "HOOKLINE_BENCH_HISTORY_DAYS": "5",
        "HOOKLINE_BENCH_HISTORY_RESULTS": str(tmp_path),
    }
    try:
        done = subprocess.run(  # noqa: ASYNC221 - the bench is a program of its own
            [sys.executable, "-m", "bench.history"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    finally:
        admin = await asyncpg.connect(f"{BASE}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    results = json.loads((tmp_path / "history-latest.json").read_text())
    rows = results["rows"]
    assert rows["message"] == 3000 and rows["destination"] == 6000
    assert rows["attempt"] > 4 * rows["message"]  # 2.53 per delivery, two deliveries each
    assert len(results["routes_ms"]) == 13 and all(t["p99"] > 0 for t in results["routes_ms"].values())
    assert results["overview_ms"]["p99"] > 0 and results["partition_drop_ms"] > 0
    for figure in (
        "messages, deep cursor",
        "endpoint attempts, event type",
        "dashboard overview",
        "drop one day",
    ):
        assert figure in done.stdout
