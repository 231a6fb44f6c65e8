"""End-to-end failovers on the real servers, with the writers running: what the drills will do.

`unplanned_failover`: the primary region goes dark (`hang` or `refuse`) under a steady write load;
the fence is the lease (revoked, then waited out: no writer in the dark region can still commit);
the DR replicas are promoted; the DR region's writers take over under a lease granted there; the
checker then counts what was lost against the promoted servers and reads the old primary directly
for split brain.

When the cut comes matters on a busy machine (a writer can pause for longer than the link's delay),
so it is chosen, not hoped for. `Cut.UNREPLICATED` (the default) cuts at the first instant at which
each writer has an acknowledged write its replica provably has not received: the write was sent
after the moment the replication link read the newest chunk it has delivered to the replica
(`LinkStats.delivered_upstream_read_at`), so its WAL (or its Valkey command) is still in the link or
still on the primary, and the cut drops it. That instant is one of a real outage under load, and
the scenario records how many such writes there were (`unreplicated_at_cut`): the checker must find
at least that many lost. `Cut.WHILE_WRITING` cuts just after a write was acknowledged, whatever the
replicas have (over bare loopback, where nothing is in the link for long, this is the only cut).

`planned_switchover`: the same, with the primary region up: after the fence, the DR replicas are
waited for until they have replayed everything the primary has (evidence created after the fence),
then promoted, and nothing acknowledged is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from hastack.local.dataplane import postgres_sql, valkey_server
from hastack.local.dataplane.checker import CheckResult, check_postgres, check_valkey, utc_now
from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.lease import LeaseTable
from hastack.local.dataplane.ledger import Ledger, Outcome
from hastack.local.dataplane.linkproxy import LinkMode, LinkProxy
from hastack.local.dataplane.plane import DataPlane
from hastack.local.dataplane.processes import wait_until
from hastack.local.dataplane.workload import LeasedWriter, PostgresSink, ValkeySink

#: Before a cut the old writers must have acknowledged at least this many writes each (a drill
#: without writes measures nothing; a busy machine slows the writers, so this is waited for).
MIN_ACKNOWLEDGED = 20


class Cut(StrEnum):
    """When an unplanned failover's outage begins."""

    UNREPLICATED = "unreplicated"  # once every writer has an acknowledged write its replica has not received
    WHILE_WRITING = "while-writing"  # just after a write was acknowledged, whatever the replicas have


class FailoverOutcome(BaseModel):
    """What a failover scenario measured; `summary` is its one-line report."""

    model_config = ConfigDict(frozen=True)

    kind: str
    promoted_region: str
    one_way_delay_ms: float
    #: Per service: acknowledged writes provably not on the replica at the cut (`Cut.UNREPLICATED`; else empty).
    unreplicated_at_cut: dict[str, int]
    lag_before_fence_s: float | None
    dr_writable_after_s: float
    write_rate: float
    postgres: CheckResult
    valkey: CheckResult

    @property
    def summary(self) -> str:
        lag = "no datapoint" if self.lag_before_fence_s is None else f"{self.lag_before_fence_s:.2f} s"
        return (f"{self.kind} with a {self.one_way_delay_ms:.0f} ms link: {self.promoted_region} writable "
                f"{self.dr_writable_after_s:.2f} s after it began; replica lag before the fence {lag}; "
                f"{self.postgres.summary}; {self.valkey.summary}")


@dataclass
class _Writers:
    ledger: Ledger
    cache_ledger: Ledger
    database: LeasedWriter
    cache: LeasedWriter


@contextmanager
def _writers_in(plane: DataPlane, region: str, table: LeaseTable, ledger: Ledger, cache_ledger: Ledger,
                rate: float, write_timeout: float) -> Iterator[_Writers]:
    """A database writer and a cache writer in `region`, writing to that region's servers under its lease."""
    lease = table.lease(region)
    database = LeasedWriter(f"writer-{region}", PostgresSink(), lambda: plane.endpoint("postgres", region, region),
                            lease, ledger, rate=rate, write_timeout=write_timeout).start()
    cache = LeasedWriter(f"cache-writer-{region}", ValkeySink(write_timeout),
                         lambda: plane.endpoint("valkey", region, region), lease, cache_ledger,
                         rate=rate, write_timeout=write_timeout).start()
    try:
        yield _Writers(ledger, cache_ledger, database, cache)
    finally:
        database.stop()
        cache.stop()


def _while_writing(ledger: Ledger, within: float = 0.02, timeout: float = 2.0) -> None:
    """Return just after a write was acknowledged (on a busy machine a writer can pause for a while)."""
    wait_until(lambda: (last := ledger.last()) is not None and last.outcome == Outcome.OK
               and time.time() - last.done_at < within, timeout, interval=0.002)


def _acknowledged(ledger: Ledger) -> int:
    return sum(entry.outcome == Outcome.OK for entry in ledger.entries())


def _wait_acknowledged(ledgers: dict[str, Ledger], at_least: int, timeout: float) -> None:
    """Wait until every writer has acknowledged `at_least` writes (DataPlaneError after `timeout`)."""
    if not wait_until(lambda: all(_acknowledged(ledger) >= at_least for ledger in ledgers.values()), timeout):
        counts = ", ".join(f"{service} {_acknowledged(ledger)}" for service, ledger in ledgers.items())
        raise DataPlaneError(f"the writers acknowledged fewer than {at_least} writes each within {timeout:.0f} s "
                             f"({counts}): the machine is too busy to drill")


def _unreplicated(ledger: Ledger, link: LinkProxy) -> int:
    """Acknowledged writes sent after the newest chunk `link` delivered to the replica was read (not there)."""
    delivered = link.stats.delivered_upstream_read_at
    return sum(entry.outcome == Outcome.OK and entry.sent_at > delivered for entry in ledger.entries())


def _cut(plane: DataPlane, region: str, mode: LinkMode, cut: Cut, ledgers: dict[str, Ledger],
         timeout: float) -> tuple[dict[str, int], float]:
    """Begin the outage of `region` at the moment `cut` names.

    Returns the acknowledged writes proven unreplicated at the cut, per service (empty for
    `Cut.WHILE_WRITING`), and the monotonic time of the cut.
    """
    if cut == Cut.WHILE_WRITING:
        _while_writing(ledgers["postgres"])
        began = time.monotonic()
        plane.outage(region, mode)
        return {}, began
    links = {service: plane.replication_link(service, region) for service in ledgers}  # type: ignore[arg-type]
    proven: dict[str, int] = {}
    cut_at: list[float] = []

    def every_writer_has_an_unreplicated_write() -> bool:  # runs on the links' loop, right before the cut
        proven.update({service: _unreplicated(ledger, links[service]) for service, ledger in ledgers.items()})
        if all(proven.values()):
            cut_at.append(time.monotonic())
            return True
        return False

    try:
        plane.outage(region, mode, when=every_writer_has_an_unreplicated_write, within=timeout)
    except DataPlaneError as exc:
        raise DataPlaneError(f"{exc}: no moment at which every writer had an acknowledged write its replica "
                             f"had not received (last seen {proven}); is the link delayed?") from exc
    return dict(proven), cut_at[0]


def _fence(table: LeaseTable) -> None:
    """Revoke the lease and wait until every lease granted before has expired."""
    expired_at = table.revoke()
    time.sleep(max(0.0, expired_at - time.monotonic()))


def _valkey_caught_up(plane: DataPlane, primary: str, dr: str, timeout: float) -> None:
    offset = int(valkey_server.replication_info(plane.direct("valkey", primary))["master_repl_offset"])  # type: ignore[call-overload]
    if not wait_until(lambda: int(valkey_server.replication_info(plane.direct("valkey", dr))  # type: ignore[call-overload]
                                  .get("slave_repl_offset", -1)) >= offset, timeout):
        raise DataPlaneError(f"Valkey in {dr} had not caught up to offset {offset} within {timeout:.0f} s")


@dataclass(frozen=True)
class _Leg:
    kind: str
    source: str  # the region whose servers are primary before
    target: str  # the region promoted
    outage: LinkMode | None  # None: planned (the source stays up, the target catches up first)


def _run(plane: DataPlane, leg: _Leg, *, write_for: float, after_for: float, lease_seconds: float, rate: float,
         write_timeout: float, catch_up_timeout: float, cut: Cut = Cut.UNREPLICATED, cut_timeout: float = 10.0,
         earlier: tuple[Ledger, Ledger] | None = None) -> tuple[FailoverOutcome, tuple[Ledger, Ledger]]:
    source, target = leg.source, leg.target
    table = LeaseTable(lease_seconds, holder=source)
    first = 1 + max((entry.id for ledger in earlier or () for entry in ledger.entries()), default=0)
    ledger, cache_ledger = Ledger(first), Ledger(first)
    ledgers = {"postgres": ledger, "valkey": cache_ledger}
    unreplicated: dict[str, int] = {}
    with _writers_in(plane, source, table, ledger, cache_ledger, rate, write_timeout) as old:
        time.sleep(write_for)
        _wait_acknowledged(ledgers, MIN_ACKNOWLEDGED, cut_timeout)
        if leg.outage is None:
            _while_writing(ledger)
            began = time.monotonic()
        else:
            unreplicated, began = _cut(plane, source, leg.outage, cut, ledgers, cut_timeout)
        lag_before_fence = plane.replica_lag_seconds(target)
        _fence(table)
        fence_at = utc_now()
        if leg.outage is None:  # planned: evidence created after the fence must have reached the replicas
            postgres_sql.wait_replayed(plane.direct("postgres", target), postgres_sql.current_lsn(
                plane.direct("postgres", source)), catch_up_timeout)
            _valkey_caught_up(plane, source, target, catch_up_timeout)
        plane.promote("postgres", target)
        plane.promote("valkey", target)
        dr_writable_after = time.monotonic() - began
        table.grant(target)
        with _writers_in(plane, target, table, ledger, cache_ledger, rate, write_timeout) as new:
            time.sleep(after_for)
        ok = old.database.stats.ok + new.database.stats.ok
        writing = (began - old.database.stats.started) + (new.database.stats.stopped - new.database.stats.started)
    known = ({entry.id for entry in earlier[0].entries()}, {entry.id for entry in earlier[1].entries()}) \
        if earlier else (set(), set())
    outcome = FailoverOutcome(
        kind=leg.kind, promoted_region=target, one_way_delay_ms=plane.config.one_way_delay_ms,
        unreplicated_at_cut=unreplicated,
        lag_before_fence_s=None if lag_before_fence is None else round(lag_before_fence, 3),
        dr_writable_after_s=round(dr_writable_after, 3), write_rate=round(ok / writing, 1),
        postgres=check_postgres(ledger, plane.direct("postgres", target), plane.direct("postgres", source), fence_at,
                                known=known[0]),
        valkey=check_valkey(cache_ledger, plane.direct("valkey", target), plane.direct("valkey", source), fence_at,
                            known=known[1]))
    return outcome, (ledger, cache_ledger)


def unplanned_failover(plane: DataPlane, outage: LinkMode | str = LinkMode.HANG, *, write_for: float = 1.5,
                       after_for: float = 0.5, lease_seconds: float = 1.5, rate: float = 200.0,
                       write_timeout: float = 0.5, cut: Cut | str = Cut.UNREPLICATED,
                       cut_timeout: float = 10.0) -> FailoverOutcome:
    """The primary region goes dark under load; fence by lease, promote the DR region, check the data.

    The writers write for at least `write_for` seconds and `MIN_ACKNOWLEDGED` acknowledged writes each;
    then the outage begins at the moment `cut` names (module docstring), waited for at most
    `cut_timeout` seconds (DataPlaneError after it, with nothing cut).
    """
    mode = LinkMode(outage)
    if mode == LinkMode.UP:
        raise DataPlaneError("an unplanned failover needs an outage mode: refuse or hang")
    primary, dr = plane.regions
    return _run(plane, _Leg(f"unplanned failover ({mode})", primary, dr, mode), write_for=write_for,
                after_for=after_for, lease_seconds=lease_seconds, rate=rate, write_timeout=write_timeout,
                catch_up_timeout=0, cut=Cut(cut), cut_timeout=cut_timeout)[0]


def planned_switchover(plane: DataPlane, *, write_for: float = 1.5, after_for: float = 0.5,
                       lease_seconds: float = 1.5, rate: float = 200.0, write_timeout: float = 0.5,
                       catch_up_timeout: float = 10.0) -> FailoverOutcome:
    """Both regions up: fence by lease, wait until the DR replicas have everything, promote, check."""
    primary, dr = plane.regions
    return _run(plane, _Leg("planned switchover", primary, dr, None), write_for=write_for, after_for=after_for,
                lease_seconds=lease_seconds, rate=rate, write_timeout=write_timeout,
                catch_up_timeout=catch_up_timeout)[0]


def failover_and_failback(plane: DataPlane, outage: LinkMode | str = LinkMode.HANG, *, write_for: float = 1.0,
                          after_for: float = 0.5, lease_seconds: float = 1.5, rate: float = 200.0,
                          write_timeout: float = 0.5, catch_up_timeout: float = 10.0,
                          ) -> tuple[FailoverOutcome, list[str], FailoverOutcome]:
    """An unplanned failover, then the way back: heal, rejoin the old primaries as replicas, switch back.

    Writers run in every phase (each under the lease of the region it writes to). At the end the DR
    servers rejoin as replicas, so the world is as it started. Returns the failover's outcome, the
    rejoin sentences, and the failback's outcome, whose checks cover the writes of the failback itself
    (writes lost in the failover are the failover's loss, not the failback's).
    """
    mode = LinkMode(outage)
    primary, dr = plane.regions
    failover, ledgers = _run(plane, _Leg(f"unplanned failover ({mode})", primary, dr, mode), write_for=write_for,
                             after_for=after_for, lease_seconds=lease_seconds, rate=rate,
                             write_timeout=write_timeout, catch_up_timeout=0)
    plane.heal(primary)
    rejoined = [plane.rejoin_as_replica("postgres", primary), plane.rejoin_as_replica("valkey", primary)]
    failback, _ = _run(plane, _Leg("failback (planned)", dr, primary, None), write_for=write_for,
                       after_for=after_for, lease_seconds=lease_seconds, rate=rate, write_timeout=write_timeout,
                       catch_up_timeout=catch_up_timeout, earlier=ledgers)
    rejoined += [plane.rejoin_as_replica("postgres", dr), plane.rejoin_as_replica("valkey", dr)]
    return failover, rejoined, failback
