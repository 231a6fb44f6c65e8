"""The world's data plane: its RDS instances and cache groups bound to real servers, and driven by them.

Why: a drill must count the writes a failover really loses (issue 13), so the emulated control plane
must act on real data. The servers themselves (`hastack.local.dataplane.DataPlane`: PostgreSQL and
Valkey in two regions, joined by delayed, breakable loopback links) are started and owned by the
process that serves the world (`hastack.local.server.InProcessServer(dataplane=...)`); this module
is what the world does with them:

- **bindings**, kept on moto's own objects (attribute `hastack_server`), so they follow a rename
  (failback renames instances aside) and vanish with a delete or moto's reset:
  - a standalone PostgreSQL instance created in a data-plane region whose server is a primary is
    that server; a cross-region read replica of a bound instance, created in the other region, is
    that region's server — rebuilt first, in the background, as a replica of the source's server
    when it is still a primary (failback's re-protect of the old primary, or a new DR replica after
    a failback): the instance is `creating` until the rebuild is done (retried while its region is
    cut off from the source's), then `available`, as a new RDS replica is;
  - a replication group created in a data-plane region is that region's Valkey (the newest group
    takes the binding over); joining a Global Datastore as a secondary while that Valkey is a
    primary makes it follow the primary member's Valkey;
  - the newest binding of a server wins: the instance renamed aside keeps its identifier and loses
    its server when the replica re-created under the original identifier takes it;
- **endpoints**: a bound instance's `Endpoint` (Address, Port) and a bound group's primary and
  reader endpoints answer the loopback link a client *in the resource's region* uses
  (`plane.endpoint(service, region, client_region=region)`), so the local outputs point at them;
- **the control plane drives the servers**: `PromoteReadReplica` of a bound replica promotes its
  PostgreSQL (moto completes a promotion at once, so the server is promoted within the call);
  `FailoverGlobalReplicationGroup` promotes the new primary member's Valkey (the old primary
  follows it when its region is reachable) and `DisassociateGlobalReplicationGroup` promotes the
  detached member's;
- **ReplicaLag from the real replica**: every `replicaLagPublishSeconds` (world state, 1 s by
  default; RDS publishes once a minute) the lag of each bound replica, as RDS for PostgreSQL
  computes it, goes into `AWS/RDS ReplicaLag{DBInstanceIdentifier}` in the replica's region —
  nothing when PostgreSQL says NULL (no datapoint, never 0), nothing once it is promoted, nothing
  while its region is dark (its CloudWatch is down with it);
- **the heartbeat** (`dataplane.workload.Heartbeat`) beats every `heartbeatSeconds` (1 s by
  default, 0 = off) on each region's PostgreSQL that is a primary bound to a standalone RDS
  instance, through that region's own link, as the stack's heartbeat pods do (deployed with the
  stack, they write only where their database is not in recovery);
- **outages and partitions reach the links**: after every change of the world, `plane.follow`
  puts each link where `downRegions`, `outageMode` and `partitionedRegions` say.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.linkproxy import LinkMode
from hastack.local.dataplane.plane import DataPlane, Service, server_name
from hastack.local.dataplane.processes import Endpoint
from hastack.local.dataplane.workload import Heartbeat
from hastack.local.world.accounts import ACCOUNT_ID

if TYPE_CHECKING:
    from hastack.local.world.state import World

#: The attribute a moto object carries when it is bound to a server (the server's name).
BOUND = "hastack_server"
#: Seconds one heartbeat write may take (connect + statement), so a hanging link costs at most this.
HEARTBEAT_TIMEOUT_SECONDS = 1.0
#: How often the loops look at the world again while they have nothing to do (publishing off).
IDLE_POLL_SECONDS = 0.2
#: How often a replica rebuild that could not start (its region cut off) is tried again.
REBUILD_RETRY_SECONDS = 0.5


def _rds(region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[ACCOUNT_ID][region]


def _elasticache(region: str) -> Any:
    from moto.elasticache.models import elasticache_backends

    return elasticache_backends[ACCOUNT_ID][region]


def bound_server(resource: Any) -> str | None:
    """The name of the server a moto RDS instance or replication group is bound to, if any."""
    return getattr(resource, BOUND, None)


class WorldDataPlane:
    """The world's side of a running `DataPlane` (see the module docstring); one per serving process."""

    def __init__(self, plane: DataPlane, world: World) -> None:
        self.plane = plane
        self.world = world
        #: Serializes what changes servers (promotions, rebuilds); a rebuild can take seconds.
        self.lock = threading.RLock()
        #: Serializes link changes only: an outage must reach the links at once, even mid-rebuild.
        self._links_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heartbeats = {region: Heartbeat(self._heartbeat_endpoint(region), timeout=HEARTBEAT_TIMEOUT_SECONDS,
                                              writer=f"heartbeat-{region}")
                            for region in plane.regions}
        self.beats: dict[str, int] = dict.fromkeys(plane.regions, 0)
        self.beat_failures: dict[str, int] = dict.fromkeys(plane.regions, 0)
        #: identifier -> (when, seconds) of the last ReplicaLag datapoint published for it.
        self.published: dict[str, tuple[float, float]] = {}
        self.events: list[str] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> WorldDataPlane:
        """Attach to the world (one data plane per world), follow its state, start publishing and beating."""
        with self.world.lock:
            if self.world.data_plane is not None:
                raise DataPlaneError("this world already has a data plane")
            self.world.data_plane = self
        self.world.subscribe(self.follow_world)
        self.follow_world(self.world)
        for name, loop in (("replica-lag", self._publish_loop), ("heartbeat", self._heartbeat_loop)):
            thread = threading.Thread(target=loop, name=f"world-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Detach from the world and stop the loops (the servers belong to the plane's owner)."""
        self.world.unsubscribe(self.follow_world)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        with self.world.lock:
            if self.world.data_plane is self:
                self.world.data_plane = None

    # --- the world's state -> the links --------------------------------------------------------

    def follow_world(self, world: World) -> None:
        """Put every link where the world's outages and partitions say (called after each change)."""
        with world.lock:
            dark, mode, partitioned = set(world.down_regions), world.outage_mode, set(world.partitioned_regions)
        with self._links_lock:
            changed = self.plane.follow(dark, LinkMode(mode), partitioned)
        if changed:
            self._event(f"links follow the world (dark {sorted(dark)} {mode}, partitioned {sorted(partitioned)}): "
                        f"{len(changed)} changed")

    # --- endpoints -----------------------------------------------------------------------------

    def endpoint_of(self, resource: Any, region: str) -> Endpoint | None:
        """The loopback endpoint a client in `region` uses for a bound resource (None: not bound)."""
        name = bound_server(resource)
        if name is None or name not in self.plane.servers:
            return None
        service = self.plane.servers[name]
        kind: Service = "postgres" if name.startswith("postgres-") else "valkey"
        return self.plane.endpoint(kind, service.region, client_region=region)

    # --- RDS -----------------------------------------------------------------------------------

    def db_created(self, region: str, database: Any) -> None:
        """A standalone PostgreSQL instance in a data-plane region whose server is a primary is that server."""
        if region not in self.plane.regions or not str(getattr(database, "engine", "")).startswith("postgres"):
            return
        name = server_name("postgres", region)
        if self.plane.roles.get(name) == "primary":
            self._bind_db(region, database, name)

    def db_replica_created(self, region: str, replica: Any, source: Any) -> None:
        """A cross-region replica of a bound instance is the region's server, as a replica of the source's
        (rebuilt in the background when it is still a primary; the instance is `creating` meanwhile)."""
        if hasattr(replica, BOUND):
            delattr(replica, BOUND)  # moto copies the source object: its binding is not the replica's
        name = self._replica_server(region, source)
        if name is None:
            return
        self._bind_db(region, replica, name)
        if self.plane.roles.get(name) == "primary":
            replica.status = "creating"
            thread = threading.Thread(target=self._rebuild, args=(region, replica, name), daemon=True,
                                      name=f"world-rebuild-{name}")
            thread.start()
            self._threads.append(thread)

    def _rebuild(self, region: str, replica: Any, name: str) -> None:
        """Make the region's PostgreSQL a replica of the other region's primary, retrying while the region is
        cut off or the source is not a primary yet; the instance turns `available` once it streams."""
        last = ""
        while not self._stop.is_set() and bound_server(replica) == name:
            try:
                with self.lock:
                    self._event(self.plane.rejoin_as_replica("postgres", region))
            except DataPlaneError as exc:
                if str(exc) != last:
                    self._event(f"{replica.db_instance_identifier} is still creating: {exc}")
                    last = str(exc)
                self._stop.wait(REBUILD_RETRY_SECONDS)
                continue
            replica.status = "available"
            return

    def db_promoted(self, region: str, database: Any) -> None:
        """`PromoteReadReplica` completed (moto: at once): promote the bound replica's server for real."""
        name = bound_server(database)
        if name is None or self.plane.servers.get(name) is None:
            return
        with self.lock:
            if self.plane.roles.get(name) == "replica":
                self._event(self.plane.promote("postgres", region))

    def _replica_server(self, region: str, source: Any) -> str | None:
        source_server = bound_server(source) if source is not None else None
        if region not in self.plane.regions or source_server is None or source_server not in self.plane.servers:
            return None
        if self.plane.servers[source_server].region == region:
            return None  # a same-region read replica: not modelled by the data plane
        return server_name("postgres", region)

    def _bind_db(self, region: str, database: Any, name: str) -> None:
        for other in list(_rds(region).databases.values()):
            if other is not database and bound_server(other) == name:
                delattr(other, BOUND)  # the newest instance takes the server (failback's re-protect)
        setattr(database, BOUND, name)
        self._event(f"RDS {database.db_instance_identifier} in {region} is {name}")

    # --- ElastiCache ---------------------------------------------------------------------------

    def check_cache_join(self, region: str, global_id: str | None) -> None:
        """Before a group joins a Global Datastore as a secondary: can this region's Valkey follow?"""
        name = server_name("valkey", region)
        if not global_id or region not in self.plane.regions or self.plane.roles.get(name) != "primary":
            return
        down = [link.name for link in self.plane.links_of(region) if link.mode != LinkMode.UP]
        if down:
            raise DataPlaneError(f"the Valkey server of {region} cannot start replicating: {region} is cut off "
                                 f"({', '.join(down)})")

    def cache_group_created(self, region: str, group: Any, joined_as_secondary: bool) -> None:
        """A replication group in a data-plane region is its Valkey; a new secondary follows the primary."""
        if region not in self.plane.regions:
            return
        name = server_name("valkey", region)
        with self.lock:
            if joined_as_secondary and self.plane.roles.get(name) == "primary":
                self._event(self.plane.rejoin_as_replica("valkey", region))
        for other in list(_elasticache(region).replication_groups.values()):
            if other is not group and bound_server(other) == name:
                delattr(other, BOUND)
        setattr(group, BOUND, name)
        endpoint = self.plane.endpoint("valkey", region, client_region=region)
        for node_group in getattr(group, "node_groups", []):
            if isinstance(node_group, dict):
                node_group["primary_endpoint_address"] = endpoint.host
                node_group["reader_endpoint_address"] = endpoint.host
                node_group["port"] = endpoint.port
                node_group["primary_endpoint"] = {"address": endpoint.host, "port": endpoint.port}
                node_group["reader_endpoint"] = {"address": endpoint.host, "port": endpoint.port}
        self._event(f"ElastiCache {group.replication_group_id} in {region} is {name}")

    def cache_failed_over(self, region: str) -> None:
        """The Global Datastore's primary moved to `region`: promote its Valkey; the old one follows if it can."""
        if region not in self.plane.regions:
            return
        (other,) = [r for r in self.plane.regions if r != region]
        with self.lock:
            if self.plane.roles.get(server_name("valkey", region)) == "replica":
                self._event(self.plane.promote("valkey", region))
            if self.plane.roles.get(server_name("valkey", other)) == "primary":
                try:
                    self._event(self.plane.rejoin_as_replica("valkey", other))
                except DataPlaneError as exc:  # its region is cut off: it stays a stale primary, as on AWS
                    self._event(f"valkey in {other} did not follow {region}: {exc}")

    def cache_disassociated(self, region: str) -> None:
        """A secondary left its Global Datastore: it is a standalone primary, so its Valkey is promoted."""
        if region not in self.plane.regions:
            return
        with self.lock:
            if self.plane.roles.get(server_name("valkey", region)) == "replica":
                self._event(self.plane.promote("valkey", region))

    # --- ReplicaLag and the heartbeat ------------------------------------------------------------

    def publish_replica_lag(self) -> dict[str, float]:
        """One round: each bound replica's real lag into CloudWatch in its region; returns what was put."""
        from moto.cloudwatch.models import cloudwatch_backends

        put: dict[str, float] = {}
        for region in self.plane.regions:
            name = server_name("postgres", region)
            if self.world.region_is_dark(region) or self.plane.roles.get(name) != "replica":
                continue
            replicas = [db for db in list(_rds(region).databases.values())
                        if bound_server(db) == name and getattr(db, "source_db_instance_identifier", None)]
            if not replicas:
                continue
            try:
                lag = self.plane.replica_lag_seconds(region)
            except DataPlaneError:
                continue  # the server is being rebuilt or stopping: no datapoint
            if lag is None:
                continue  # PostgreSQL's NULL (nothing replayed yet): no datapoint, never 0
            now = dt.datetime.now(dt.UTC)
            stamp = now.replace(tzinfo=None)  # moto keeps metric timestamps as naive UTC
            cloudwatch_backends[ACCOUNT_ID][region].put_metric_data("AWS/RDS", [
                {"MetricName": "ReplicaLag", "Value": max(0.0, lag), "Unit": "Seconds", "Timestamp": stamp,
                 "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": db.db_instance_identifier}]}
                for db in replicas])
            for db in replicas:
                put[db.db_instance_identifier] = lag
                self.published[db.db_instance_identifier] = (now.timestamp(), lag)
        return put

    def _publish_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_replica_lag()
            except Exception as exc:  # noqa: BLE001 - one failed round must not end the publisher
                self._event(f"ReplicaLag not published: {exc}")
            self._stop.wait(self.world.replica_lag_publish_seconds)

    def _heartbeat_endpoint(self, region: str) -> Callable[[], Endpoint]:
        return lambda: self.plane.endpoint("postgres", region, client_region=region)

    def _beats_in(self, region: str) -> bool:
        """The stack's heartbeat pods write where their database is a deployed, standalone primary."""
        name = server_name("postgres", region)
        return self.plane.roles.get(name) == "primary" and any(
            bound_server(db) == name and not getattr(db, "source_db_instance_identifier", None)
            for db in list(_rds(region).databases.values()))

    def beat_once(self) -> None:
        """One heartbeat in each region whose PostgreSQL is a deployed primary (a failed beat is counted)."""
        for region, heartbeat in self._heartbeats.items():
            if not self._beats_in(region):
                continue
            try:
                heartbeat.beat(self.beats[region] + 1)
            except Exception:  # noqa: BLE001 - a beat that fails is counted; the next one tries again
                self.beat_failures[region] += 1
            else:
                self.beats[region] += 1

    def _heartbeat_loop(self) -> None:
        while not self._stop.is_set():
            interval = self.world.heartbeat_seconds
            if interval <= 0:
                self._stop.wait(IDLE_POLL_SECONDS)
                continue
            self.beat_once()
            self._stop.wait(interval)

    # --- reporting -------------------------------------------------------------------------------

    def _event(self, sentence: str) -> None:
        self.events.append(sentence)
        del self.events[:-50]

    def to_json(self) -> dict[str, Any]:
        """What `GET /_hastack/world` shows as `dataPlane`: servers, roles, links, bindings, lag, heartbeat."""
        plane = self.plane
        servers = {name: {"service": "postgres" if name.startswith("postgres-") else "valkey",
                          "region": server.region, "role": plane.roles.get(name),
                          "direct": f"{server.endpoint.host}:{server.endpoint.port}", "pid": server.pid}
                   for name, server in list(plane.servers.items())}
        links = {name: {"port": link.port, "mode": str(link.mode), "delayMs": round(link.delay * 1000, 3)}
                 for name, link in list(plane.hub.links.items())}
        bindings = []
        for region in plane.regions:
            bindings += [{"service": "rds", "region": region, "identifier": db.db_instance_identifier,
                          "server": bound_server(db)}
                         for db in list(_rds(region).databases.values()) if bound_server(db)]
            bindings += [{"service": "elasticache", "region": region, "identifier": group.replication_group_id,
                          "server": bound_server(group)}
                         for group in list(_elasticache(region).replication_groups.values()) if bound_server(group)]
        return {"name": plane.config.name, "regions": list(plane.regions),
                "oneWayDelayMs": plane.config.one_way_delay_ms, "servers": servers, "links": links,
                "bindings": bindings,
                "replicaLag": {ident: {"at": at, "seconds": round(lag, 6)}
                               for ident, (at, lag) in list(self.published.items())},
                "heartbeat": {"seconds": self.world.heartbeat_seconds, "beats": dict(self.beats),
                              "failures": dict(self.beat_failures)},
                "events": list(self.events)}
