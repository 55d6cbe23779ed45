"""Three RabbitMQ nodes of our own on this machine, joined into one cluster
(``rabbitmqctl join_cluster``): each a ``PrivateBroker`` (own node name, ports, data and
logs) sharing one Erlang cookie. Quorum queues declared once all three run get a member
on each. A node can be killed with SIGKILL and started again; it rejoins by itself (its
data directory remembers the cluster).
"""

from __future__ import annotations

import os
import secrets
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts.chaos.broker import PrivateBroker


class PrivateCluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        cookie = secrets.token_hex(16).upper()
        self.nodes = [PrivateBroker(root / f"node{n}") for n in range(size)]
        for node in self.nodes:
            home = node.root / "home"
            home.mkdir(parents=True, exist_ok=True)
            (home / ".erlang.cookie").write_text(cookie)
            (home / ".erlang.cookie").chmod(0o400)

    def start(self) -> PrivateCluster:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.stop(timeout=30)
            except Exception:  # a node killed and not restarted, say
                if node._process is not None and node._process.poll() is None:
                    os.killpg(node._process.pid, signal.SIGKILL)

    def running(self) -> list[str]:
        """Node names the cluster reports running, asked of the first live node."""
        for node in self.nodes:
            try:
                status = node.ctl("eval", "rabbit_nodes:all_running().")
            except RuntimeError:
                continue
            return [name for name in (n.node for n in self.nodes) if name in status]
        return []

    def kill(self, node: PrivateBroker) -> None:
        """SIGKILL the node's whole process tree: no goodbye to its peers."""
        assert node._process is not None
        os.killpg(node._process.pid, signal.SIGKILL)
        node._process.wait()
        node._process = None

    def _status(self, queue: str) -> str:
        """``rabbit_quorum_queue:status`` of a queue, asked of the first live node."""
        for node in self.nodes:
            try:
                return node.ctl("eval", f'rabbit_quorum_queue:status(<<"/">>, <<"{queue}">>).')
            except RuntimeError:
                continue
        return ""

    def _members(self, queue: str) -> dict[str, str]:
        """Each member's part of the status, by node name."""
        members = self._status(queue).split('[{<<"Node Name">>,')[1:]
        return {member.split("}", 1)[0].strip(): member for member in members}

    def leader(self, queue: str) -> str:
        """The node name that leads a quorum queue."""
        for name, member in self._members(queue).items():
            if '{<<"Raft State">>,leader}' in member:
                return name
        raise RuntimeError(f"no leader found for {queue}")

    def commit_indexes(self, queue: str) -> dict[str, int]:
        """Each running member's Raft commit index, by node name: equal once a member that
        was away has caught up with the leader's log."""
        indexes = {}
        for name, member in self._members(queue).items():
            _, found, rest = member.partition('{<<"Commit Index">>,')
            value = rest.split("}", 1)[0].strip()
            if found and value.isdigit():
                indexes[name] = int(value)
        return indexes

    def members_online(self, queue: str) -> int:
        """How many of the queue's members run (of 3)."""
        status = self._status(queue)
        return sum(status.count(f'{{<<"Raft State">>,{state}}}') for state in ("leader", "follower"))
