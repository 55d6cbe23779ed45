"""Spare loopback ports, and waiting for a server to answer on one."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_port(port: int, *, up: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while port_answers(port) != up:
        if time.monotonic() > deadline:
            state = "answer" if up else "close"
            raise TimeoutError(f"{what} did not {state} on 127.0.0.1:{port} within {timeout:g}s")
        time.sleep(0.1)
