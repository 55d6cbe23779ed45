"""A PostgreSQL 15 cluster of our own: ``initdb`` into a temporary folder and
``pg_ctl`` on a spare port. initdb refuses to run as root, so as root every command
runs as the ``postgres`` user (``runuser``), which then owns the folder."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from scripts.chaos.ports import free_port, port_answers, wait_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.data = root / "data"
        self.restarts = 0

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 90) -> str:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{out.stdout}{out.stderr}\n{self.tail()}")
        return out.stdout

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o755)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        if port_answers(self.port):
            raise RuntimeError(f"port {self.port} is already taken; not starting a cluster there")
        # A throwaway cluster: durability against power loss is not what is tested here,
        # and fsync on a shared 2-core machine only slows every other test down.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", str(int(timeout)), "start",
        )  # fmt: skip
        wait_port(self.port, up=True, timeout=timeout, what="private PostgreSQL")

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)), "stop"
        )
        wait_port(self.port, up=False, timeout=timeout, what="private PostgreSQL")

    def restart(self, mode: str = "fast") -> None:
        """Stop (every connection is cut) and start again on the same port and data."""
        self.stop(mode)
        self.start()
        self.restarts += 1

    def tail(self, lines: int = 30) -> str:
        log = self.root / "server.log"
        return "".join(log.read_text(errors="replace").splitlines(True)[-lines:]) if log.exists() else ""

    def remove(self) -> None:
        """Stop at once; the folder itself goes with the stack's."""
        self.stop("immediate")
