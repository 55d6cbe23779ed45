"""The private RabbitMQ node and PostgreSQL cluster together.

``python -m scripts.chaos.stack`` starts both, creates and migrates a ``hookline``
database, prints the ``HOOKLINE_*`` variables that point services at them, and stops
and removes everything on Ctrl-C or SIGTERM: a sandbox to break things in by hand.
The chaos tests (``tests/chaos``) use the same class.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from scripts.chaos.broker import PrivateBroker
from scripts.chaos.database import PrivatePostgres


class PrivateStack:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="hookline-chaos-"))
        self.root.chmod(0o755)  # mkdtemp's 0700 would keep the postgres user out
        self.postgres = PrivatePostgres(self.root / "postgres")
        self.broker = PrivateBroker(self.root / "rabbitmq")

    def start(self) -> PrivateStack:
        self.postgres.init()
        self.postgres.start()
        try:
            self.broker.start()
        except BaseException:
            self.postgres.remove()
            raise
        return self

    def stop(self, keep_logs: Path | None = None) -> None:
        """Stop both servers and remove their folder (copying the servers' own logs to
        ``keep_logs`` first, when given); safe to call twice."""
        try:
            self.broker.stop()
        finally:
            self.postgres.remove()
            if keep_logs is not None:
                for log in [*self.root.glob("rabbitmq/log/*.log"), *self.root.glob("*/server.*")]:
                    keep_logs.mkdir(parents=True, exist_ok=True)
                    shutil.copy(log, keep_logs / f"{log.parent.name}-{log.name}")
            shutil.rmtree(self.root, ignore_errors=True)

    def env(self, database: str) -> dict[str, str]:
        return {"HOOKLINE_DATABASE_URL": self.postgres.dsn(database), "HOOKLINE_AMQP_URL": self.broker.url}


def main() -> None:
    stack = PrivateStack().start()
    try:
        env = stack.env("hookline")
        # shared.migrate creates the database first when it is missing.
        subprocess.run([sys.executable, "-m", "shared.migrate"], env={**os.environ, **env}, check=True)
        for name, value in env.items():
            print(f"export {name}={value}", flush=True)
        print(
            f"# RabbitMQ node {stack.broker.node}, data in {stack.root}; Ctrl-C stops and removes both",
            flush=True,
        )
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
