#!/usr/bin/env python3
"""Run Hookline's three services in one terminal, for local development (`make up`).

Each service runs as `python -m services.<name>` with this process's environment and its
output is shown line by line behind a `name | ` prefix. Ctrl-C or SIGTERM stops all of them:
SIGTERM first, SIGKILL for whatever is still running after the grace period, exit 0. If a
service exits on its own, the others are stopped the same way and devstack exits 1.

Standard library only: it runs before anything else is known to be installed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

SERVICES = ("ingest", "dispatcher", "verifier")
DEFAULT_PORTS = {"ingest": 8000, "dispatcher": 8001, "verifier": 8002}
DEFAULT_TOKEN = "hookline-dev-token"
SELF = "devstack"
# Longer than the dispatcher's own bounded drain of in-flight deliveries.
GRACE_SECONDS = float(os.environ.get("HOOKLINE_DEVSTACK_GRACE_SECONDS", "30"))
POLL_SECONDS = 0.2
ANSI_COLORS = {"ingest": "36", "dispatcher": "35", "verifier": "33", SELF: "1"}
REPO_ROOT = Path(__file__).resolve().parent.parent
# Loaded before any fork: the child between fork and exec should only make the one call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class Console:
    """Serializes lines from several reader threads onto stdout, each behind its name."""

    def __init__(self, stream: IO[str], names: tuple[str, ...]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._width = max(len(name) for name in names)
        self._color = stream.isatty() and "NO_COLOR" not in os.environ

    def line(self, name: str, text: str) -> None:
        label = f"{name:<{self._width}} | "
        if self._color:
            label = f"\033[{ANSI_COLORS.get(name, '0')}m{label}\033[0m"
        with self._lock:
            try:
                self._stream.write(f"{label}{text}\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # stdout went away (a closed pipe); the services keep running regardless

    def say(self, text: str) -> None:
        self.line(SELF, text)


class StopRequest:
    """Counts SIGINT/SIGTERM: the first asks for a graceful stop, the second for SIGKILL now."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1


def env_port(name: str) -> str:
    return os.environ.get(f"HOOKLINE_{name.upper()}_PORT", str(DEFAULT_PORTS[name]))


def banner() -> Iterator[str]:
    token = os.environ.get("HOOKLINE_API_TOKEN", DEFAULT_TOKEN)
    yield f"API        http://127.0.0.1:{env_port('ingest')}/api/v1"
    yield f"API token  {token}  (header  Authorization: Bearer {token})"
    yield f"dashboard  http://127.0.0.1:{env_port('ingest')}/ui/  (sign in with the API token)"
    for name in SERVICES:
        yield f"metrics    http://127.0.0.1:{env_port(name)}/metrics  ({name})"
    yield "Ctrl-C stops all three."


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if devstack itself is killed (SIGKILL, OOM).

    Linux only (prctl PR_SET_PDEATHSIG); the services are in their own process group so that
    Ctrl-C reaches devstack alone, and this keeps them from outliving it.
    """
    pr_set_pdeathsig = 1
    assert _LIBC is not None
    _LIBC.prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own process group: the terminal's SIGINT goes to devstack, which stops the
        # services in order instead of all of them racing on the same Ctrl-C.
        process_group=0,
        preexec_fn=_die_with_parent if _LIBC is not None else None,
    )


def pump(name: str, proc: subprocess.Popen[bytes], console: Console) -> None:
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        console.line(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    proc.stdout.close()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def watch(children: dict[str, subprocess.Popen[bytes]], stop: StopRequest) -> str | None:
    """Block until a stop is requested (returns None) or a child exits (returns its name)."""
    while not stop.count:
        for name, proc in children.items():
            if proc.poll() is not None:
                return name
        time.sleep(POLL_SECONDS)
    return None


def shutdown(children: dict[str, subprocess.Popen[bytes]], stop: StopRequest, console: Console) -> None:
    signals_seen = stop.count
    for proc in children.values():
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while any(proc.poll() is None for proc in children.values()):
        if stop.count > signals_seen:
            console.say("second interrupt: sending SIGKILL")
            break
        if time.monotonic() >= deadline:
            console.say(f"still running after {GRACE_SECONDS:g}s: sending SIGKILL")
            break
        time.sleep(POLL_SECONDS)
    for name, proc in children.items():
        if proc.poll() is None:
            console.say(f"killing {name}")
            signal_group(proc, signal.SIGKILL)
            proc.wait()


def main() -> int:
    console = Console(sys.stdout, (*SERVICES, SELF))
    stop = StopRequest()
    stop.install()

    for text in banner():
        console.say(text)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in SERVICES:
            children[name] = spawn(name, env)
    except OSError as exc:
        console.say(f"could not start {name}: {exc}")
        shutdown(children, stop, console)
        return 1

    readers = [
        threading.Thread(target=pump, args=(name, proc, console), daemon=True)
        for name, proc in children.items()
    ]
    for reader in readers:
        reader.start()

    died = watch(children, stop)
    if died is None:
        console.say(f"stopping (SIGTERM; SIGKILL after {GRACE_SECONDS:g}s, or on a second Ctrl-C)")
    else:
        code = describe_exit(children[died].returncode)
        console.say(f"{died} exited unexpectedly ({code}); stopping the others")

    shutdown(children, stop, console)
    for reader in readers:
        reader.join(timeout=2)

    for name, proc in children.items():
        if name != died and proc.returncode not in (0, -signal.SIGTERM):
            console.say(f"{name} stopped with {describe_exit(proc.returncode)}")
    if died is not None:
        console.say(f"exit 1: {died} died")
        return 1
    console.say("all stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
