"""The drills' workload: the model server's prediction log in each region, fenced by the stack's real lease.

In each region a writer stands in for the model server's prediction log (a `LeasedWriter` into the
region's PostgreSQL, another into its Valkey) and a `CacheReader` reads acknowledged cache writes
back. Every one of them holds the *stack's* lease — `hastack.dr.lease.RegionLease`, a strongly
consistent read of the lease item in the world's coordination table through the writer's own
region, every call bounded — so the DR command's revoke-and-wait really stops the old region's
writers, and the DR region's writers start writing when the command grants the lease to it (until
then each renewal is refused and they do not write). Writes go to the servers of the writer's own
region, through the data plane's links (`plane.endpoint(service, region, client_region=region)`):
the writers of the region holding the lease are the ones writing.

After a failover `Workload.check` compares the ledgers with the promoted servers and reads the old
primaries directly for writes committed after the fence (`hastack.local.dataplane.checker`): lost
acknowledged writes and their span are the measured RPO.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from pydantic import BaseModel, ConfigDict

from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Coordination
from hastack.dr.lease import RegionLease
from hastack.local.dataplane.checker import CheckResult, check_postgres, check_valkey
from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.lease import Lease
from hastack.local.dataplane.ledger import Ledger, Outcome
from hastack.local.dataplane.linkproxy import LinkMode
from hastack.local.dataplane.plane import DataPlane, Service
from hastack.local.dataplane.processes import wait_until
from hastack.local.dataplane.workload import CacheReader, LeasedWriter, PostgresSink, ValkeySink, WriterStats
from hastack.local.moto_mocks import LOCAL_CREDENTIALS

#: Writes a second each writer aims for (the issue's "about 200 a second"; the report says what was reached).
DEFAULT_RATE = 200.0
#: Bound of every write and connection attempt (a write outliving it is indeterminate).
WRITE_TIMEOUT = 0.5
#: Bound of every lease renewal (one DynamoDB read; the DR command's critical client profile).
LEASE_CALL_TIMEOUT = 1.0


class WorldClients(ClientFactory):
    """The DR command's bounded client factory, every client pointed at the local world's endpoint.

    The writers run beside the DR command, in the same process, so they cannot rely on
    `AWS_ENDPOINT_URL` (the drill sets it only around the command's run): the endpoint is explicit.
    """

    def __init__(self, endpoint: str, call_timeout_seconds: float = LEASE_CALL_TIMEOUT,
                 on_client: Callable[[Any, str, str, bool], None] | None = None) -> None:
        super().__init__(call_timeout_seconds, session=boto3.session.Session(**LOCAL_CREDENTIALS), on_client=on_client)
        self.world_endpoint = endpoint

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        return super().client(service, region, probe=probe, endpoint_url=endpoint_url or self.world_endpoint)


class StackLease(Lease):
    """The data plane's `Lease` contract kept on the stack's lease (`RegionLease`): what the writers hold."""

    def __init__(self, region_lease: RegionLease) -> None:
        self.region_lease = region_lease

    def renew(self) -> bool:
        return self.region_lease.renew()

    def remaining(self) -> float:
        return self.region_lease.remaining()

    @property
    def last_error(self) -> str | None:
        return self.region_lease.last_error


@dataclass
class RegionWriters:
    """One region's model server, as far as data goes: a database writer, a cache writer, a cache reader."""

    region: str
    lease: StackLease
    database: LeasedWriter
    cache: LeasedWriter
    reader: CacheReader

    def start(self) -> None:
        for loop in (self.database, self.cache, self.reader):
            loop.start()

    def stop(self) -> None:
        for loop in (self.database, self.cache, self.reader):
            loop.stop()


class Measured(BaseModel):
    """What the checker measured against the promoted servers after one leg of a drill."""

    model_config = ConfigDict(frozen=True)

    promoted_region: str
    postgres: CheckResult
    valkey: CheckResult
    #: Acknowledged writes provably not on the replica at the cut, per service (empty: no proven cut).
    unreplicated_at_cut: dict[str, int]
    #: Acknowledged database writes a second of the old writer, over the time it wrote.
    write_rate: float
    #: Seconds from the cut (or the fence of a planned switch) to the first acknowledged write in the
    #: promoted region (None: none was acknowledged).
    dr_writable_after_s: float | None

    @property
    def lost(self) -> int:
        return self.postgres.lost

    @property
    def rpo_seconds(self) -> float:
        return self.postgres.rpo_seconds

    @property
    def anomalies(self) -> list[str]:
        return [f"{c.service}: {e}" for c in (self.postgres, self.valkey) for e in c.errors]


class Workload:
    """Writers in every region of `plane`, each on the stack's lease through its own region (module doc).

    `first_id` lets a later leg of a drill continue the ids of an earlier one (the checker tells rows
    of earlier legs, passed as `known`, from rows never attempted).
    """

    def __init__(self, plane: DataPlane, aws: ClientFactory, coordination: Coordination, lease_seconds: float, *,
                 rate: float = DEFAULT_RATE, write_timeout: float = WRITE_TIMEOUT, first_id: int = 1) -> None:
        self.plane, self.rate = plane, rate
        self.ledger, self.cache_ledger = Ledger(first_id), Ledger(first_id)
        self.regions: dict[str, RegionWriters] = {}
        for region in plane.regions:
            lease = StackLease(RegionLease(aws, coordination, region, lease_seconds))
            self.regions[region] = RegionWriters(
                region, lease,
                LeasedWriter(f"writer-{region}", PostgresSink(), self._endpoint("postgres", region), lease,
                             self.ledger, rate=rate, write_timeout=write_timeout),
                LeasedWriter(f"cache-writer-{region}", ValkeySink(write_timeout), self._endpoint("valkey", region),
                             lease, self.cache_ledger, rate=rate, write_timeout=write_timeout),
                CacheReader(f"reader-{region}", self._endpoint("valkey", region), lease, self.cache_ledger,
                            timeout=write_timeout))
        self.started_at: float | None = None  # wall clock

    def _endpoint(self, service: Service, region: str) -> Callable[[], Any]:
        return lambda: self.plane.endpoint(service, region, client_region=region)

    def start(self) -> Workload:
        self.started_at = time.time()
        for writers in self.regions.values():
            writers.start()
        return self

    def stop(self) -> None:
        for writers in self.regions.values():
            writers.stop()

    def __enter__(self) -> Workload:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the writers did -------------------------------------------------------------------

    def stats(self) -> dict[str, WriterStats]:
        return {w.name: w.stats for r in self.regions.values() for w in (r.database, r.cache)}

    def acknowledged(self, service: Service = "postgres", region: str | None = None) -> int:
        ledger = self.ledger if service == "postgres" else self.cache_ledger
        server = None if region is None else self.plane.server(service, region).name
        return sum(e.outcome == Outcome.OK and (server is None or e.target == server) for e in ledger.entries())

    def wait_acknowledged(self, region: str, at_least: int, timeout: float) -> None:
        """Until the database and cache writers of `region` have `at_least` acknowledged writes each."""
        if not wait_until(lambda: min(self.acknowledged(s, region) for s in ("postgres", "valkey")) >= at_least,
                          timeout):
            raise DataPlaneError(
                f"the writers in {region} acknowledged {self.acknowledged('postgres', region)} database and "
                f"{self.acknowledged('valkey', region)} cache writes within {timeout:.0f} s (wanted {at_least} each): "
                "is the lease granted to it, or the machine too busy to drill?")

    def write_rate(self, region: str, since: float | None = None, until: float | None = None) -> float:
        """Acknowledged database writes a second of `region`'s writer between `since` and `until` (wall clock).

        By default from its first write sent to its last acknowledged: a writer that paused (no lease,
        a hung link) catches up at most `MAX_BACKLOG` seconds of writes, so a short window reads high.
        """
        server = self.plane.server("postgres", region).name
        ok = [e for e in self.ledger.entries() if e.outcome == Outcome.OK and e.target == server]
        if not ok:
            return 0.0
        start = min(e.sent_at for e in ok) if since is None else since
        end = max(e.done_at for e in ok) if until is None else until
        counted = sum(start <= e.sent_at and e.done_at <= end for e in ok)
        return round(counted / (end - start), 1) if end > start else 0.0

    # --- the cut --------------------------------------------------------------------------------

    def cut_when_unreplicated(self, region: str, mode: LinkMode | str, within: float) -> tuple[dict[str, int], float]:
        """Make `region` unreachable at the first instant every writer has an unreplicated acknowledged write.

        Unreplicated provably: sent after the moment the replication link read the newest chunk it has
        delivered to the replica (`LinkStats.delivered_upstream_read_at`), so the cut drops it
        (docs/dataplane.md). Returns those counts per service and the wall time of the cut.
        """
        ledgers = {"postgres": self.ledger, "valkey": self.cache_ledger}
        links = {service: self.plane.replication_link(service, region) for service in ("postgres", "valkey")}
        servers = {service: self.plane.server(service, region).name for service in ("postgres", "valkey")}
        proven: dict[str, int] = {}
        cut_at: list[float] = []

        def every_writer_has_an_unreplicated_write() -> bool:  # on the links' loop, right before the cut
            for service, ledger in ledgers.items():
                delivered = links[service].stats.delivered_upstream_read_at
                proven[service] = sum(e.outcome == Outcome.OK and e.target == servers[service]
                                      and e.sent_at > delivered for e in ledger.entries())
            if all(proven.values()):
                cut_at.append(time.time())
                return True
            return False

        try:
            self.plane.outage(region, mode, when=every_writer_has_an_unreplicated_write, within=within)
        except DataPlaneError as exc:
            raise DataPlaneError(f"{exc}: no moment at which every writer had an acknowledged write its replica "
                                 f"had not received (last seen {proven})") from exc
        return dict(proven), cut_at[0]

    # --- the checker ----------------------------------------------------------------------------

    def check(self, promoted: str, old: str, fence_at: datetime | None, *, since: float,
              unreplicated_at_cut: dict[str, int] | None = None,
              known: tuple[set[int], set[int]] = (set(), set())) -> Measured:
        """The ledgers against the promoted servers of `promoted`; the old primaries of `old` read directly.

        `since` (wall clock) is the cut or the fence: the first acknowledged write in `promoted` after
        it says when that region became writable.
        """
        target = self.plane.server("postgres", promoted).name
        first_ok = min((e.done_at for e in self.ledger.entries()
                        if e.outcome == Outcome.OK and e.target == target and e.sent_at >= since), default=None)
        return Measured(
            promoted_region=promoted,
            postgres=check_postgres(self.ledger, self.plane.direct("postgres", promoted),
                                    self.plane.direct("postgres", old), fence_at, known=known[0]),
            valkey=check_valkey(self.cache_ledger, self.plane.direct("valkey", promoted),
                                self.plane.direct("valkey", old), fence_at, known=known[1]),
            unreplicated_at_cut=unreplicated_at_cut or {},
            write_rate=self.write_rate(old, since=self.started_at),
            dr_writable_after_s=None if first_ok is None else round(first_ok - since, 3))

    def ids(self) -> tuple[set[int], set[int]]:
        """Every id attempted, per ledger (an earlier leg's `known`)."""
        return {e.id for e in self.ledger.entries()}, {e.id for e in self.cache_ledger.entries()}

    def next_id(self) -> int:
        return 1 + max((e.id for ledger in (self.ledger, self.cache_ledger) for e in ledger.entries()), default=0)
