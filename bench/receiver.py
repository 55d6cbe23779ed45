"""The fast local receiver the benchmark delivers to.

nginx (Debian's package, installed on demand) answers 204 on one port and fails half
of the requests with 500 on another (for the retry path); a third port answers 204 and
writes each request's arrival time to a file (the peer comparison times its drain
there, at the receiver). When nginx can't be had, an aiohttp receiver in its own
process does the same job, more slowly (the report says which one ran).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.stack import free_port


def written_lines(path: Path) -> list[str]:
    """The lines a receiver has finished writing to ``path``: one still being written (no
    newline yet) is left for the next read. A receiver appends while the bench reads, and a
    line read half-written either failed to parse or, cut inside its time, read as an
    earlier arrival than the real one. Each log has one writer, which ends every line with a
    newline (nginx's one worker, the Python receivers' line-buffered file)."""
    text = path.read_text() if path.exists() else ""
    return text[: text.rfind("\n") + 1].splitlines()


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_buffer_size 64k;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    split_clients "${{request_id}}" $fail {{ 50% 1; * 0; }}
    log_format stamp '$msec';
    server {{
        listen 127.0.0.1:{ok_port};
        location / {{ return 204; }}
    }}
    server {{
        listen 127.0.0.1:{flaky_port};
        location / {{ if ($fail) {{ return 500; }} return 204; }}
    }}
    server {{
        listen 127.0.0.1:{stamp_port};
        access_log {stamps} stamp;
        location / {{ return 204; }}
    }}
}}
"""


def ensure_nginx() -> str | None:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], env=env, capture_output=True)
        if not Path("/usr/sbin/nginx").exists():
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], env=env, capture_output=True)
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


@dataclass
class Receiver:
    kind: str
    ok_url: str
    flaky_url: str
    stamp_url: str  # answers 204 and logs each arrival's unix time to ``stamps``
    stamps: Path
    process: subprocess.Popen

    def arrivals(self) -> list[float]:
        return sorted(float(line) for line in written_lines(self.stamps) if line.strip())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM if self.kind == "aiohttp" else signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_port(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"receiver did not start on port {port}")


def start_receiver() -> Receiver:
    # Ports nobody holds: on a fixed port a leftover server would answer in the bench's place.
    ok_port, flaky_port, stamp_port = free_port(), free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="hookline-bench-receiver-")
    stamps = Path(workdir, "stamps.log")
    nginx = ensure_nginx()
    if nginx:
        conf = Path(workdir, "nginx.conf")
        conf.write_text(
            NGINX_CONF.format(
                dir=workdir, ok_port=ok_port, flaky_port=flaky_port, stamp_port=stamp_port, stamps=stamps
            )
        )
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", workdir], stderr=subprocess.DEVNULL)
        kind = "nginx"
    else:
        ports = (str(ok_port), str(flaky_port), str(stamp_port))
        process = subprocess.Popen([sys.executable, "-m", "bench.aiohttp_receiver", *ports, str(stamps)])
        kind = "aiohttp"
    for port in (ok_port, flaky_port, stamp_port):
        _wait_port(port)
    time.sleep(0.2)
    if process.poll() is not None:  # nginx gives up on every port when one bind fails
        raise RuntimeError(f"the {kind} receiver exited at start (code {process.returncode})")
    return Receiver(
        kind,
        f"http://127.0.0.1:{ok_port}/hook",
        f"http://127.0.0.1:{flaky_port}/hook",
        f"http://127.0.0.1:{stamp_port}/hook",
        stamps,
        process,
    )
