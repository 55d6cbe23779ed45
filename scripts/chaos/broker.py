"""A RabbitMQ node of our own: own node name, AMQP and distribution ports, data, logs,
config and Erlang cookie, so it can be stopped and started under load.

The Debian wrapper ``/usr/sbin/rabbitmq-server`` switches to the ``rabbitmq`` user and
reads ``/etc/rabbitmq`` (whose config binds 5672); we call the real script in
``/usr/lib/rabbitmq/bin`` with every path pointed into our folder instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from scripts.chaos.ports import free_port, port_answers, wait_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class PrivateBroker:
    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.dist_port = free_port()
        self.node = f"hlchaos{secrets.token_hex(4)}@localhost"
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _prepare(self) -> None:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "log.console = false\n"
            "log.file.level = warning\n"
            "disk_free_limit.absolute = 50MB\n"
        )
        # Quorum queues' at-least-once dead-lettering (Hookline's retry tiers -> dispatch)
        # re-sends a dead letter whose confirm never came only after this long; RabbitMQ
        # 3.10's default is 180 s, which after a restart can hold retries for minutes.
        (self.root / "advanced.config").write_text(
            "[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 5000}]}].\n"
        )
        (self.root / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's NODENAME
        (self.root / "enabled_plugins").write_text("[].\n")  # no management on 15672

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, timeout: float = 60) -> str:
        out = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "-q", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def start(self, timeout: float = 90) -> None:
        if port_answers(self.port):
            raise RuntimeError(f"port {self.port} is already taken; not starting a second node there")
        self._prepare()
        log = (self.root / "server.out").open("ab")
        # Its own session: stop() can end the whole tree this call started, and nothing else.
        self._process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self.env(),
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not port_answers(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited ({self._process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ node {self.node} not up in {timeout:g}s:\n{self.tail()}")
            time.sleep(0.2)
        self.starts += 1

    def stop(self, timeout: float = 60) -> None:
        """Stop the node (``rabbitmqctl shutdown``, then signals to the tree we started)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            try:
                self.ctl("shutdown", timeout=timeout)
            except (RuntimeError, subprocess.TimeoutExpired):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        wait_port(self.port, up=False, timeout=timeout, what=f"RabbitMQ node {self.node}")
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, lines: int = 40) -> str:
        text = ""
        for path in [self.root / "server.out", *sorted((self.root / "log").glob("*.log"))]:
            if path.exists():
                text += "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
        return text

    def queues(self, prefix: str) -> dict[str, tuple[int, int]]:
        """Queue name -> (messages, consumers) for the queues whose names start with ``prefix``."""
        found: dict[str, tuple[int, int]] = {}
        for line in self.ctl("list_queues", "name", "messages", "consumers").splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0].startswith(prefix) and parts[1].isdigit():
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found
