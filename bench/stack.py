"""Hookline's services as subprocesses with a benchmark configuration, and their peak RSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DB = "postgresql://postgres@127.0.0.1:5432/hookline_bench"
BENCH_TOKEN = "hookline-bench-token"


def bench_env(prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOOKLINE_DATABASE_URL": BENCH_DB,
        "HOOKLINE_AMQP_PREFIX": prefix,
        "HOOKLINE_API_TOKEN": BENCH_TOKEN,
        "HOOKLINE_ALLOWED_TARGET_CIDRS": "127.0.0.0/8",
        "HOOKLINE_LOG_LEVEL": "warning",
        "HOOKLINE_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_peak_rss_mb(pid: int) -> float:
    """The peak RSS of a process plus that of its children (dispatcher worker processes)."""
    total = peak_rss_mb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            total += peak_rss_mb(int(child))
    return total


def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    port: int
    log: Path
    extra: dict = field(default_factory=dict)

    def rss_mb(self) -> float:
        return tree_peak_rss_mb(self.process.pid)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_wait_seconds(self) -> float:
        """Time the process's threads have spent runnable but waiting for a CPU, so far
        (Linux schedstat): what a busy machine takes from a process that has work."""
        waited = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with suppress(OSError):  # a thread that ended meanwhile
                waited += int((task / "schedstat").read_text().split()[1])
        return waited / 1e9

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(name: str, prefix: str, logdir: Path, health_path: str, **extra: str) -> Service:
    port = free_port()
    env = bench_env(prefix, **{f"HOOKLINE_{name.upper()}_PORT": str(port)}, **extra)
    log = logdir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}{health_path}")
    except RuntimeError:
        process.kill()
        raise RuntimeError(f"{name} did not start; see {log}") from None
    return Service(name, process, port, log)
