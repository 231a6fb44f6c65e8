"""The local world's data plane: PostgreSQL and Valkey in two regions, joined by delayed, breakable links.

    primary region                                   DR region
    postgres-<primary>  ── WAL (link, delayed) ──▶    postgres-<dr>  (streaming replica, asynchronous)
    valkey-<primary>    ── replication (link) ──▶     valkey-<dr>    (replicaof)

Clients reach every server through a link named `<client region>-><server>`: no delay within a
region, the configured one-way delay across regions. The replicas pull through the links
`wal:<dr>-><server>` and `replication:<dr>-><server>`. A regional outage puts every link into or out
of that region into `refuse` or `hang`; the servers keep running (as a partitioned region's do), and
their own ports stay reachable for the checker, which reads the old primary "around the proxy".

The process that starts a `DataPlane` owns it: the servers are its children, the links run in one of
its threads, and the servers' pids are recorded in `build/dataplane-<name>.json`, so `stop()` or,
from another process, `stop_recorded()` stops them by pid and leaves no process and no bound port.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hastack.local.dataplane import postgres_sql, valkey_server
from hastack.local.dataplane.account import ServerAccount, reachable_copy, server_account, state_root
from hastack.local.dataplane.binaries import ServerBinaries, locate_binaries
from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.linkproxy import LinkMode, LinkProxy, ProxyHub
from hastack.local.dataplane.postgres_server import PostgresServer, template_cluster
from hastack.local.dataplane.processes import Endpoint, alive, stop_pid, wait_until
from hastack.local.dataplane.valkey_server import ValkeyServer
from hastack.paths import BUILD_DIR

Service = Literal["postgres", "valkey"]
SERVICES: tuple[Service, ...] = ("postgres", "valkey")
STOP_SIGNALS = {"postgres": PostgresServer.stop_signal, "valkey": ValkeyServer.stop_signal}


class DataPlaneConfig(BaseModel):
    """What to start: the two regions, the cross-region delay, where pids and data go."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("local", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$",
                      description="Names the pid record build/dataplane-<name>.json (one data plane per name)")
    primary_region: str = "us-east-1"
    dr_region: str = "us-west-2"
    one_way_delay_ms: float = Field(70.0, ge=0, le=10_000, description="Added to each direction of a cross-region link")
    build_dir: Path = BUILD_DIR
    start_timeout_s: float = Field(30.0, gt=0)


class ServerRecord(BaseModel):
    name: str
    service: Service
    region: str
    role: Literal["primary", "replica"]
    pid: int
    start_ticks: int | None
    port: int


class DataPlaneRecord(BaseModel):
    """`build/dataplane-<name>.json`: enough to stop every server by pid from another process."""

    name: str
    owner_pid: int
    state_dir: str
    servers: list[ServerRecord]
    links: dict[str, int]
    started_at: str


def record_path(build_dir: Path, name: str) -> Path:
    return build_dir / f"dataplane-{name}.json"


def server_name(service: Service, region: str) -> str:
    return f"{service}-{region}"


class DataPlane:
    """Starts, steers and stops the data plane of one local world (see the module docstring)."""

    def __init__(self, config: DataPlaneConfig | None = None) -> None:
        self.config = config or DataPlaneConfig()
        if self.config.primary_region == self.config.dr_region:
            raise DataPlaneError(f"primary_region and dr_region must differ, both are {self.config.primary_region!r}")
        self.regions = (self.config.primary_region, self.config.dr_region)
        self.hub = ProxyHub()
        self.servers: dict[str, PostgresServer | ValkeyServer] = {}
        self.roles: dict[str, Literal["primary", "replica"]] = {}
        self.state_dir: Path | None = None
        self.binaries: ServerBinaries | None = None
        self.account: ServerAccount | None = None
        self.started_in: float | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> DataPlane:
        """Start both regions' servers and every link; seconds taken are kept in `started_in`."""
        began = time.perf_counter()
        record = record_path(self.config.build_dir, self.config.name)
        if record.is_file():
            stop_recorded(self.config.build_dir, self.config.name)  # what a crashed owner left behind
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.perf_counter() - began
        return self

    def _start(self) -> None:
        account = self.account = server_account()
        binaries = locate_binaries()
        self.state_dir, private = state_root(self.config.build_dir, self.config.name, account)
        bin_copy = reachable_copy(binaries.postgres_install, account, self.state_dir)
        if bin_copy is not None:
            binaries = ServerBinaries(bin_copy / "bin", binaries.valkey_server,
                                      binaries.postgres_source + " (copied where the server account can run it)",
                                      binaries.valkey_source)
        self.binaries = binaries
        primary, dr = self.regions
        # The template cluster is kept for the next start under build/ (not in a private directory).
        template = template_cluster(binaries, account, self.state_dir if private else self.state_dir.parent)
        self.hub.start()
        pg_primary = PostgresServer.primary_from_template(
            server_name("postgres", primary), primary, template, self.state_dir / server_name("postgres", primary),
            binaries, account, self.state_dir / f"{server_name('postgres', primary)}.log")
        vk_primary = self._valkey(primary)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataplane-start") as pool:
            started = [pool.submit(self._start_pg_primary, pg_primary), pool.submit(self._start_server, vk_primary)]
            for future in started:
                future.result()
        wal = self._link(f"wal:{dr}->{pg_primary.name}", pg_primary.endpoint, cross_region=True)
        sync = self._link(f"replication:{dr}->{vk_primary.name}", vk_primary.endpoint, cross_region=True)
        pg_replica_name = server_name("postgres", dr)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataplane-start") as pool:
            replicas = [pool.submit(self._start_pg_replica, pg_replica_name, dr, pg_primary.endpoint, wal.endpoint),
                        pool.submit(self._start_server, self._valkey(dr), sync.endpoint)]
            for future in replicas:
                future.result()
        for name, server in self.servers.items():
            for client_region in self.regions:
                self._link(f"{client_region}->{name}", server.endpoint, cross_region=client_region != server.region)
        self._write_record()

    def _valkey(self, region: str) -> ValkeyServer:
        assert self.state_dir is not None and self.binaries is not None
        name = server_name("valkey", region)
        return ValkeyServer(name, region, self.binaries.valkey_server, self.state_dir / name,
                            self.state_dir / f"{name}.log")

    def _start_server(self, server: ValkeyServer, replica_of: Endpoint | None = None) -> None:
        self.servers[server.name] = server
        self.roles[server.name] = "primary" if replica_of is None else "replica"
        server.start(replica_of=replica_of, timeout=self.config.start_timeout_s)

    def _start_pg_primary(self, server: PostgresServer) -> None:
        self.servers[server.name] = server
        self.roles[server.name] = "primary"
        server.start(self.config.start_timeout_s)
        postgres_sql.create_schema(server.endpoint)

    def _start_pg_replica(self, name: str, region: str, source: Endpoint, upstream: Endpoint) -> None:
        assert self.state_dir is not None and self.binaries is not None and self.account is not None
        replica = PostgresServer.replica_of(name, region, source, upstream, self.state_dir / name,
                                            self.binaries, self.account, self.state_dir / f"{name}.log",
                                            timeout=self.config.start_timeout_s)
        self.servers[name] = replica
        self.roles[name] = "replica"
        replica.start(self.config.start_timeout_s)
        # Started means streaming: a cut right after start must find the WAL link carrying WAL.
        if not wait_until(lambda: postgres_sql.wal_receiver_status(replica.endpoint) == "streaming",
                          self.config.start_timeout_s):
            raise DataPlaneError(f"PostgreSQL replica {name} did not start streaming from {upstream} within "
                                 f"{self.config.start_timeout_s:.0f} s")

    def _link(self, name: str, upstream: Endpoint, cross_region: bool) -> LinkProxy:
        delay = self.config.one_way_delay_ms / 1000 if cross_region else 0.0
        return self.hub.add_link(name, upstream, delay)

    def stop(self) -> str:
        """Stop the links, then every server by pid, and remove the data and the pid record."""
        self.hub.stop()
        stopped = []
        for name, server in self.servers.items():
            if server.process is not None:
                server.stop()
                stopped.append(name)
        self.servers.clear()
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None
        record_path(self.config.build_dir, self.config.name).unlink(missing_ok=True)
        return f"stopped the data plane {self.config.name!r}: {', '.join(stopped) or 'nothing was running'}"

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_record(self) -> None:
        assert self.state_dir is not None
        record = DataPlaneRecord(
            name=self.config.name, owner_pid=os.getpid(), state_dir=str(self.state_dir),
            servers=[ServerRecord(name=name, service="postgres" if isinstance(server, PostgresServer) else "valkey",
                                  region=server.region, role=self.roles[name], pid=server.pid,
                                  start_ticks=server.ticks, port=server.port)
                     for name, server in self.servers.items()],
            links={name: link.port for name, link in self.hub.links.items()},
            started_at=datetime.now(UTC).isoformat(timespec="seconds"))
        path = record_path(self.config.build_dir, self.config.name)
        path.write_text(record.model_dump_json(indent=2) + "\n")

    # --- topology --------------------------------------------------------------------------------

    def server(self, service: Service, region: str) -> PostgresServer | ValkeyServer:
        name = server_name(service, region)
        if name not in self.servers:
            raise DataPlaneError(f"no {service} server in region {region!r} (regions: {', '.join(self.regions)})")
        return self.servers[name]

    def direct(self, service: Service, region: str) -> Endpoint:
        """The server's own port: around every link (the operator's or the checker's way in)."""
        return self.server(service, region).endpoint

    def endpoint(self, service: Service, region: str, client_region: str) -> Endpoint:
        """What a client in `client_region` connects to for `service` in `region` (through the link)."""
        if client_region not in self.regions:
            raise DataPlaneError(f"unknown client region {client_region!r} (regions: {', '.join(self.regions)})")
        return self.link(f"{client_region}->{server_name(service, region)}").endpoint

    def link(self, name: str) -> LinkProxy:
        if name not in self.hub.links:
            raise DataPlaneError(f"no link named {name!r} (links: {', '.join(sorted(self.hub.links))})")
        return self.hub.links[name]

    def link_ends(self, link: LinkProxy) -> tuple[str, str]:
        """(region of the link's clients, region of its server)."""
        return link.name.split(":")[-1].split("->")[0], self.servers[link.upstream.server].region

    def links_of(self, region: str) -> list[LinkProxy]:
        """Every link into or out of `region` (what a regional outage cuts)."""
        return [link for link in list(self.hub.links.values()) if region in self.link_ends(link)]

    def replication_link(self, service: Service, region: str) -> LinkProxy:
        """The link through which the replica in the other region pulls from `service` in `region`."""
        (other,) = [r for r in self.regions if r != region]
        return self.link(f"{'wal' if service == 'postgres' else 'replication'}:{other}->{server_name(service, region)}")

    def role(self, service: Service, region: str) -> Literal["primary", "replica"]:
        return self.roles[server_name(service, region)]

    # --- the world's events ----------------------------------------------------------------------

    def outage(self, region: str, mode: LinkMode | str, *, when: Callable[[], bool] | None = None,
               within: float = 10.0) -> str:
        """Make `region` unreachable (`refuse` or `hang`) on every link into or out of it.

        With `when`, the links change at the first instant of their loop at which `when()` holds (it
        runs on that loop: keep it short), so evidence it reads from the links' stats still holds at
        the cut; DataPlaneError when it has not held within `within` seconds (nothing is cut then).
        """
        if region not in self.regions:
            raise DataPlaneError(f"unknown region {region!r} (regions: {', '.join(self.regions)})")
        mode = LinkMode(mode)
        links = self.links_of(region)
        if when is None:
            self.hub.set_mode(links, mode)
        elif not self.hub.set_mode_when(links, mode, when, within):
            raise DataPlaneError(f"{region} was not cut ({mode}): the condition for the cut did not hold "
                                 f"within {within:.1f} s")
        return f"{region} is {'healed' if mode == LinkMode.UP else f'down ({mode})'} on {len(links)} links"

    def heal(self, region: str) -> str:
        return self.outage(region, LinkMode.UP)

    def follow(self, dark: Collection[str], mode: LinkMode | str, partitioned: Collection[str] = ()) -> list[str]:
        """Put every link where the world's state says, at one instant; returns the links that changed.

        A link into or out of a `dark` region is in the outage's `mode` (the region's servers are
        unreachable, even from inside it, as `outage` cuts them); a cross-region link of a
        `partitioned` region hangs (packets dropped: the region reaches no other region, its own
        clients still reach its servers); every other link is up. Links already in their mode are
        left alone, so a cut made earlier with `outage(..., when=...)` survives the world catching up.
        """
        wanted = LinkMode(mode)
        changes: dict[LinkProxy, LinkMode] = {}
        for link in list(self.hub.links.values()):  # a rejoin may add a link meanwhile
            client, server = self.link_ends(link)
            if client in dark or server in dark:
                target = wanted
            elif client != server and (client in partitioned or server in partitioned):
                target = LinkMode.HANG
            else:
                target = LinkMode.UP
            if link.mode != target:
                changes[link] = target
        self.hub.set_modes(changes)
        return sorted(link.name for link in changes)

    def promote(self, service: Service, region: str) -> str:
        """Promote the replica of `service` in `region` for real; the sentence says what happened."""
        endpoint = self.direct(service, region)
        sentence = postgres_sql.promote(endpoint) if service == "postgres" else valkey_server.promote(endpoint)
        self.roles[endpoint.server] = "primary"
        self._write_record()
        return sentence

    def rejoin_as_replica(self, service: Service, region: str) -> str:
        """Make the old primary of `service` in `region` a replica of the primary in the other region.

        The first step of a failback: PostgreSQL is rebuilt from a base backup of the new primary (the
        old timeline's extra writes are discarded, as RDS does when it creates a new replica) and streams
        through the link `wal:<region>-><new primary>`; Valkey follows the new primary (`REPLICAOF`)
        through `replication:<region>-><new primary>`. The region's links must be up (heal it first).
        """
        name = server_name(service, region)
        if self.roles.get(name) == "replica":
            return f"{name} is already a replica: nothing to rejoin"
        (other,) = [r for r in self.regions if r != region]
        primary = self.server(service, other)
        if self.roles[primary.name] != "primary":
            raise DataPlaneError(f"{primary.name} is not a primary: promote it before {name} can follow it")
        if down := [link.name for link in self.links_of(region) if link.mode != LinkMode.UP]:
            raise DataPlaneError(f"{region} is still cut off ({', '.join(down)}): heal it before {name} rejoins")
        link_name = f"{'wal' if service == 'postgres' else 'replication'}:{region}->{primary.name}"
        link = self.hub.links.get(link_name) or self._link(link_name, primary.endpoint, cross_region=True)
        if service == "postgres":
            old = self.servers[name]
            assert isinstance(old, PostgresServer)
            old.stop()
            shutil.rmtree(old.data_dir)
            self._start_pg_replica(name, region, primary.endpoint, link.endpoint)
            for client_link in self.hub.links.values():
                if client_link.upstream.server == name:
                    client_link.retarget(self.servers[name].endpoint)
            how = f"rebuilt from a base backup of {primary.name}"
        else:
            valkey_server.follow(self.direct("valkey", region), link.endpoint, self.config.start_timeout_s)
            self.roles[name] = "replica"
            how = f"following {primary.name} (REPLICAOF)"
        self._write_record()
        return f"{name} rejoined as a replica, {how}, through the link {link_name}"

    def replica_lag_seconds(self, region: str) -> float | None:
        """PostgreSQL's replica lag in `region`, as RDS computes `ReplicaLag` (None: no datapoint)."""
        return postgres_sql.replica_lag_seconds(self.direct("postgres", region))

    def pause_replay(self, region: str) -> None:
        postgres_sql.pause_replay(self.direct("postgres", region))

    def resume_replay(self, region: str) -> None:
        postgres_sql.resume_replay(self.direct("postgres", region))


def read_record(build_dir: Path, name: str) -> DataPlaneRecord | None:
    path = record_path(build_dir, name)
    try:
        return DataPlaneRecord.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def stop_recorded(build_dir: Path, name: str, timeout: float = 10.0) -> str:
    """Stop, by pid, every server `build/dataplane-<name>.json` records; remove its data and the record.

    For `hastack local down` and test fixtures: works from any process (a pid whose start time differs
    from the recorded one belongs to someone else and is left alone).
    """
    path = record_path(build_dir, name)
    record = read_record(build_dir, name)
    if record is None:
        path.unlink(missing_ok=True)
        return f"no data plane recorded as {name!r} ({path.name} absent or unreadable): nothing to stop"
    stopped = [server.name for server in record.servers
               if stop_pid(server.pid, server.start_ticks, STOP_SIGNALS[server.service], timeout)]
    left = [server.name for server in record.servers if alive(server.pid, server.start_ticks)]
    if left:
        raise DataPlaneError(f"could not stop {', '.join(left)} of the data plane {name!r}")
    shutil.rmtree(record.state_dir, ignore_errors=True)
    path.unlink(missing_ok=True)
    return (f"stopped the data plane {name!r}: {', '.join(stopped)}" if stopped
            else f"the data plane {name!r} was already stopped; removed {path.name}")
