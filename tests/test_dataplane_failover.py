"""Failover on the real servers with writers running, checked Jepsen-style against the promoted data.

What could break: a regional cut that loses nothing because the WAL link is not really delayed (the
measured RPO would always read 0), a cut that loses writes over bare loopback, a clean switchover that
loses acknowledged writes, a fenced writer still committing (split brain), a checker that misses a row
written around the fence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from hastack.local.dataplane import DataPlane, postgres_sql
from hastack.local.dataplane.checker import check_postgres
from hastack.local.dataplane.ledger import Ledger
from hastack.local.dataplane.scenarios import failover_and_failback, planned_switchover, unplanned_failover
from tests.dataplane_helpers import plane_config


@pytest.fixture()
def plane(request: pytest.FixtureRequest) -> Iterator[DataPlane]:
    delay = getattr(request, "param", 70.0)
    data_plane = DataPlane(plane_config("failover", one_way_delay_ms=delay)).start()
    yield data_plane
    data_plane.stop()


def test_a_hanging_regional_outage_loses_acknowledged_writes_over_the_70_ms_link(plane: DataPlane) -> None:
    """The cut comes at an instant at which the links prove acknowledged writes unreplicated (a busy
    machine can pause a writer for longer than the delay, so the instant is chosen, not hoped for);
    the checker, reading the promoted servers, must find at least those writes lost."""
    outcome = unplanned_failover(plane, "hang")
    for result in (outcome.postgres, outcome.valkey):
        proven = outcome.unreplicated_at_cut[result.service]
        assert result.acknowledged >= 20  # writes flowed
        assert result.lost >= proven >= 1, outcome.summary  # acknowledged on the old primary, never replicated
        assert 0 < result.rpo_seconds < 1.0, outcome.summary  # a loss has a span, even a single write's
        assert result.errors == [], result.summary
        assert result.split_brain == 0  # the lease held: nothing committed on the old primary after the fence
    assert outcome.postgres.summary.startswith(
        f"postgres postgres-us-west-2: lost {outcome.postgres.lost} of {outcome.postgres.acknowledged} "
        f"acknowledged writes (measured RPO {outcome.postgres.rpo_text})")
    # The lost writes are still on the old primary, read directly around the dead links.
    primary, dr = plane.regions
    on_old = postgres_sql.row_ids(plane.direct("postgres", primary))
    assert set(outcome.postgres.lost_sample) <= on_old
    assert plane.role("postgres", dr) == "primary" and not postgres_sql.in_recovery(plane.direct("postgres", dr))


def test_a_writer_that_ignores_the_fence_is_reported_as_split_brain(plane: DataPlane) -> None:
    outcome = unplanned_failover(plane, "refuse", write_for=0.5, after_for=0.2)
    assert outcome.postgres.split_brain == 0
    primary, dr = plane.regions
    with postgres_sql.connection(plane.direct("postgres", primary)) as conn:  # a writer without a lease
        conn.execute(f"INSERT INTO {postgres_sql.PREDICTIONS_TABLE} (id, writer) VALUES (999999, 'rogue')")  # type: ignore[arg-type]
    fence_at = outcome.postgres.fence_at
    assert fence_at is not None
    result = check_postgres(Ledger(), plane.direct("postgres", dr), plane.direct("postgres", primary),
                            fence_at - timedelta(milliseconds=1))
    assert result.split_brain is not None and 999999 in result.split_brain_sample
    assert result.never_attempted == len(postgres_sql.row_ids(plane.direct("postgres", dr)))  # an empty ledger
    assert "split brain" in result.summary


@pytest.mark.parametrize("plane", [0.0], indirect=True)
def test_over_bare_loopback_a_hanging_outage_loses_only_what_the_replica_itself_was_behind(plane: DataPlane) -> None:
    """On an idle machine nothing is lost (benchmarks/bench_dataplane.py shows it); on a loaded one
    PostgreSQL's WAL sender or receiver can run late, and the replica's own lag then covers the loss:
    nothing was lost on the link, unlike the 70 ms link, where the loss is structural."""
    outcome = unplanned_failover(plane, "hang", cut="while-writing")  # nothing stays in a bare link to wait for
    assert outcome.unreplicated_at_cut == {}
    assert outcome.postgres.acknowledged >= 20
    assert outcome.postgres.errors == []
    if outcome.postgres.lost:
        lag = outcome.lag_before_fence_s
        assert lag is not None and outcome.postgres.rpo_seconds <= lag, outcome.summary


def test_a_clean_caught_up_switchover_loses_nothing_over_the_70_ms_link(plane: DataPlane) -> None:
    outcome = planned_switchover(plane)
    for result in (outcome.postgres, outcome.valkey):
        assert result.acknowledged >= 20  # writes flowed
        assert result.lost == 0, result.summary
        assert result.errors == [] and result.split_brain == 0
    assert outcome.postgres.summary.startswith(
        f"postgres postgres-us-west-2: lost 0 of {outcome.postgres.acknowledged} acknowledged writes;")


def test_failback_with_writers_throughout_loses_nothing_and_restores_the_topology(plane: DataPlane) -> None:
    failover, rejoined, failback = failover_and_failback(plane, "hang")
    primary, dr = plane.regions
    assert failover.postgres.lost >= failover.unreplicated_at_cut["postgres"] >= 1  # the outage's loss, paid once
    assert failover.postgres.errors == []
    assert rejoined == [
        f"postgres-{primary} rejoined as a replica, rebuilt from a base backup of postgres-{dr}, "
        f"through the link wal:{primary}->postgres-{dr}",
        f"valkey-{primary} rejoined as a replica, following valkey-{dr} (REPLICAOF), "
        f"through the link replication:{primary}->valkey-{dr}",
        f"postgres-{dr} rejoined as a replica, rebuilt from a base backup of postgres-{primary}, "
        f"through the link wal:{dr}->postgres-{primary}",
        f"valkey-{dr} rejoined as a replica, following valkey-{primary} (REPLICAOF), "
        f"through the link replication:{dr}->valkey-{primary}"]
    for result in (failback.postgres, failback.valkey):
        assert result.promoted.endswith(primary)
        assert result.acknowledged >= 20
        assert result.lost == 0, result.summary
        assert result.errors == [] and result.split_brain == 0
    # The writes the failover lost are gone for good: the old timeline was discarded by the rebuild.
    final = postgres_sql.row_ids(plane.direct("postgres", primary))
    assert not set(failover.postgres.lost_sample) & final
    assert {name: plane.roles[name] for name in sorted(plane.roles)} == {
        f"postgres-{primary}": "primary", f"postgres-{dr}": "replica",
        f"valkey-{primary}": "primary", f"valkey-{dr}": "replica"}
    assert postgres_sql.wal_receiver_status(plane.direct("postgres", dr)) == "streaming"
