"""Valkey servers of the local world: a primary, and a replica that follows it through a given endpoint.

`valkey-server` runs as a child of the owning process (no daemonize, no persistence: `save ""`, no
AOF), listening on 127.0.0.1 only. A replica is started with `replicaof <upstream>`, where the
upstream is the cross-region link's proxy, and is ready once its link to the primary is up. Promotion
is `REPLICAOF NO ONE`, what a Global Datastore failover or disassociation does to the DR member.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import valkey

from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.processes import LOOPBACK, Endpoint, ServerProcess, log_tail, wait_until


def client(endpoint: Endpoint, timeout: float = 2.0) -> valkey.Valkey:
    """A client with bounded connect and read times (a hung server raises TimeoutError, never hangs)."""
    return valkey.Valkey(host=endpoint.host, port=endpoint.port, socket_connect_timeout=timeout,
                         socket_timeout=timeout, decode_responses=True)


def replication_info(endpoint: Endpoint, timeout: float = 2.0) -> dict[str, object]:
    try:
        with client(endpoint, timeout) as conn:
            return dict(conn.info("replication"))
    except valkey.ValkeyError as exc:
        raise DataPlaneError(f"Valkey {endpoint} is unreachable: {exc}") from exc


def promote(endpoint: Endpoint, timeout: float = 2.0) -> str:
    """Make a replica a primary (`REPLICAOF NO ONE`); the sentence says what happened."""
    if replication_info(endpoint, timeout).get("role") == "master":
        return f"Valkey {endpoint.server} is already a primary: nothing to promote"
    try:
        with client(endpoint, timeout) as conn:
            conn.replicaof("NO", "ONE")
    except valkey.ValkeyError as exc:
        raise DataPlaneError(f"could not promote Valkey {endpoint}: {exc}") from exc
    return f"promoted Valkey {endpoint.server} to primary (REPLICAOF NO ONE)"


def follow(endpoint: Endpoint, upstream: Endpoint, timeout: float = 30.0) -> None:
    """Make the server at `endpoint` a replica of `upstream` (`REPLICAOF`) and wait until it is in sync."""
    try:
        with client(endpoint) as conn:
            conn.replicaof(upstream.host, upstream.port)
    except valkey.ValkeyError as exc:
        raise DataPlaneError(f"could not make Valkey {endpoint} follow {upstream}: {exc}") from exc
    if not wait_until(lambda: replication_info(endpoint).get("master_link_status") == "up", timeout):
        raise DataPlaneError(f"Valkey {endpoint} did not sync from {upstream} within {timeout:.0f} s")


class ValkeyServer(ServerProcess):
    """One `valkey-server` on a loopback port."""

    label = "Valkey"
    stop_signal = signal.SIGTERM  # nothing to save: `save ""`, no AOF

    def __init__(self, name: str, region: str, binary: Path, data_dir: Path, log_path: Path) -> None:
        super().__init__(name, region, log_path)
        self.binary = binary
        self.data_dir = data_dir
        self.replica_of: Endpoint | None = None

    def command(self, port: int) -> list[str]:
        argv = [str(self.binary), "--port", str(port), "--bind", LOOPBACK, "--dir", str(self.data_dir),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        if self.replica_of is not None:
            argv += ["--replicaof", self.replica_of.host, str(self.replica_of.port)]
        return argv

    def spawn_options(self) -> dict[str, Any]:
        return {"env": {"PATH": "/usr/bin:/bin"}, "cwd": self.data_dir}

    def ready(self) -> bool:
        try:
            with client(self.endpoint, 0.5) as conn:
                return bool(conn.ping())
        except valkey.ValkeyError:
            return False

    def start(self, replica_of: Endpoint | None = None, timeout: float = 30.0) -> ValkeyServer:
        """Start on a free port; a replica returns once its link to the primary is up."""
        self.data_dir.mkdir(exist_ok=True)
        self.replica_of = replica_of
        self.launch(timeout)
        if replica_of is not None and not wait_until(
                lambda: replication_info(self.endpoint).get("master_link_status") == "up", timeout):
            self.stop()
            raise DataPlaneError(f"Valkey replica {self.name} did not sync from {replica_of} within {timeout:.0f} s; "
                                 f"log: {log_tail(self.log_path)}")
        return self
