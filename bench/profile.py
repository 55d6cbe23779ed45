"""py-spy sampling one of the services while the benchmark loads it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def start_profiler(pid: int, seconds: int, output: Path) -> subprocess.Popen | None:
    """py-spy recording ``pid`` for ``seconds`` (raw, flamegraph-ready), or None without py-spy."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: pip install py-spy into the venv to profile")
        return None
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"]
    command += ["--nonblocking", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
