"""PostgreSQL servers of the local world, driven through `initdb`, `pg_basebackup` and `postgres` directly.

A primary is a copy of a template cluster made once by `initdb` (copying 40 MB takes a tenth of the
second `initdb` takes); a replica is a `pg_basebackup` of the primary that streams WAL back from it
through whatever endpoint it is given (in the local world: the cross-region link's proxy), so it is
asynchronous, as an RDS cross-region read replica is. `postgres` is started directly, as a child of
the owning process, so its pid is ours to record, signal and reap.

Every server listens on 127.0.0.1 only, with no Unix socket, and trusts loopback connections: the
local world's servers carry no credentials, like the rest of the emulated AWS. `fsync` is off (no
power is ever cut here; what is lost in a drill is lost by replication, not by the disk).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from hastack.local.dataplane.account import ServerAccount, make_owned_dir
from hastack.local.dataplane.binaries import ServerBinaries
from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.processes import LOOPBACK, Endpoint, ServerProcess

SUPERUSER = "hastack"
DATABASE = "postgres"
#: Settings every server starts with (on the command line, so `ps` shows them and no template can drift).
SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "on",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "io_method": "sync",
    "jit": "off",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "256MB",
    "hot_standby": "on",
    "wal_receiver_status_interval": "1s",
    "wal_retrieve_retry_interval": "500ms",
    "log_min_messages": "warning",
}
HBA = (
    "# hastack local world: loopback only, no credentials (the servers bind 127.0.0.1 and nothing else)\n"
    f"host all all {LOOPBACK}/32 trust\n"
    f"host replication all {LOOPBACK}/32 trust\n"
)
READY_STATES = ("ready", "standby")


def _run_as(account: ServerAccount, argv: list[str], home: Path, what: str, timeout: float) -> None:
    result = subprocess.run(argv, env=account.env(home), cwd=home, capture_output=True, text=True, timeout=timeout,
                            check=False, **account.popen_kwargs())
    if result.returncode != 0:
        raise DataPlaneError(f"{what} failed (exit {result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-500:]}")


def _write_owned(path: Path, text: str, account: ServerAccount, append: bool = False) -> None:
    with open(path, "a" if append else "w") as handle:
        handle.write(text)
    if not account.is_self:
        os.chown(path, account.uid, account.gid)


def template_cluster(binaries: ServerBinaries, account: ServerAccount, cache_dir: Path, timeout: float = 60.0) -> Path:
    """A cluster made by `initdb` once per install and account, kept in `cache_dir` (made under a file lock)."""
    key = hashlib.sha256(f"{binaries.postgres_bin}|{binaries.postgres_source}|{account.uid}".encode()).hexdigest()[:12]
    template = cache_dir / f"template-{key}"
    if (template / "data" / "PG_VERSION").is_file():
        return template / "data"
    with open(cache_dir / f"template-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / "data" / "PG_VERSION").is_file():
            return template / "data"
        building = cache_dir / f"template-{key}.{os.getpid()}"
        if building.exists():
            shutil.rmtree(building)
        make_owned_dir(building, account)
        _run_as(account, [str(binaries.postgres("initdb")), "-D", str(building / "data"), "-U", SUPERUSER,
                          "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                building, "initdb of the template cluster", timeout)
        _write_owned(building / "data" / "pg_hba.conf", HBA, account)
        building.rename(template)
    return template / "data"


class PostgresServer(ServerProcess):
    """One `postgres` process on a loopback port, with its data directory and log."""

    label = "PostgreSQL"
    stop_signal = signal.SIGQUIT  # immediate shutdown: the data is thrown away, and a fast shutdown would
    bind_error = "could not bind"  # wait for a WAL sender stuck on a hung link (up to wal_sender_timeout)

    def __init__(self, name: str, region: str, data_dir: Path, binaries: ServerBinaries, account: ServerAccount,
                 log_path: Path) -> None:
        super().__init__(name, region, log_path)
        self.data_dir = data_dir
        self.binaries = binaries
        self.account = account

    @classmethod
    def primary_from_template(cls, name: str, region: str, template: Path, data_dir: Path,
                              binaries: ServerBinaries, account: ServerAccount, log_path: Path) -> PostgresServer:
        """A new primary: a copy of the template cluster (as the account, so ownership and modes are kept)."""
        _run_as(account, ["cp", "-a", str(template), str(data_dir)], data_dir.parent, f"copy of the template to {name}",
                60.0)
        return cls(name, region, data_dir, binaries, account, log_path)

    @classmethod
    def replica_of(cls, name: str, region: str, source: Endpoint, upstream: Endpoint, data_dir: Path,
                   binaries: ServerBinaries, account: ServerAccount, log_path: Path,
                   timeout: float = 60.0) -> PostgresServer:
        """A streaming replica: a base backup taken from `source`, then WAL streamed from `upstream`.

        `source` is the primary's own port (the copy is set-up, not replication); `upstream` is what the
        replica's WAL receiver connects to for ever after, normally the cross-region link's proxy.
        """
        _run_as(account, [str(binaries.postgres("pg_basebackup")), "-h", source.host, "-p", str(source.port),
                          "-U", SUPERUSER, "-w", "-D", str(data_dir), "-X", "stream", "--checkpoint=fast",
                          "--no-sync", "--no-manifest"], data_dir.parent, f"pg_basebackup of {source} for {name}",
                timeout)
        _write_owned(data_dir / "standby.signal", "", account)
        conninfo = (f"host={upstream.host} port={upstream.port} user={SUPERUSER} application_name={name} "
                    "connect_timeout=2")
        _write_owned(data_dir / "postgresql.auto.conf", f"primary_conninfo = '{conninfo}'\n", account, append=True)
        return cls(name, region, data_dir, binaries, account, log_path)

    def _state(self) -> str | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        return lines[7].strip() if len(lines) > 7 else None

    def command(self, port: int) -> list[str]:
        argv = [str(self.binaries.postgres("postgres")), "-D", str(self.data_dir), "-p", str(port),
                "-c", f"cluster_name={self.name}"]
        for key, value in SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def spawn_options(self) -> dict[str, Any]:
        return {"env": self.account.env(self.data_dir), "cwd": self.data_dir, "run_as": self.account.popen_kwargs()}

    def ready(self) -> bool:
        return self._state() in READY_STATES

    def start(self, timeout: float = 30.0) -> PostgresServer:
        """Start `postgres`; return once it accepts connections (a primary) or serves reads (a standby)."""
        self.launch(timeout)
        return self
