"""The drills' workload on the stack's real lease: writers stop when the lease is revoked, start when granted.

A served local world seeded from the prod plan holds the coordination table (an MRSC global table)
with the lease granted to the primary region; the data plane's real servers take the writes. The
test plays the DR command's part by hand (revoke through `LeaseStore`, wait the lease out, promote,
grant) and asserts what the databases and the lease item show: the primary's writer committed
nothing after the fence, the DR writer wrote only once granted, and the checker finds every
acknowledged write on the promoted database (a planned switch: nothing lost).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hastack.dr.deployment import Deployment
from hastack.dr.lease import LeaseStore
from hastack.dr.outputs import parse_outputs
from hastack.local.dataplane import DataPlane, postgres_sql
from hastack.local.dataplane.ledger import Outcome
from hastack.local.server import InProcessServer
from hastack.local.workload import Workload, WorldClients
from hastack.local.world.seed import seed_world
from hastack.plan.render import stack_output_json
from tests.dataplane_helpers import plane_config
from tests.world_helpers import client

PRIMARY, DR = "us-east-1", "us-west-2"
LEASE_SECONDS = 2.0


@pytest.fixture(scope="module")
def world(prod_plan: Any) -> Iterator[tuple[InProcessServer, Deployment, DataPlane]]:
    with InProcessServer() as server, DataPlane(plane_config("workload", one_way_delay_ms=70)) as plane:
        seeded = seed_world(stack_output_json(prod_plan.outputs), lambda s, r: client(server, s, r))
        yield server, Deployment.of(parse_outputs(seeded, "prod")), plane


def test_writers_keep_the_stacks_lease_fence_then_grant(world: tuple[InProcessServer, Deployment, DataPlane]) -> None:
    server, dep, plane = world
    aws = WorldClients(server.endpoint)
    store = LeaseStore(aws, dep.coordination, LEASE_SECONDS)
    with Workload(plane, aws, dep.coordination, LEASE_SECONDS, rate=100) as load:
        load.wait_acknowledged(PRIMARY, 20, timeout=20)
        dr_writer = load.regions[DR].database
        assert dr_writer.stats.ok == 0 and dr_writer.stats.lease_refusals > 0, "DR does not hold the lease"
        assert "held by us-east-1" in (load.regions[DR].lease.last_error or "")

        revoked = store.revoke(store.read(), "test", "fence")
        fence_at = revoked.changed_at + LEASE_SECONDS  # every lease granted before has expired by then
        time.sleep(LEASE_SECONDS + 0.5)
        primary_writer = load.regions[PRIMARY].database
        assert primary_writer.stats.lease_refusals > 0, "the primary's writer found its lease revoked"
        postgres_sql.wait_replayed(plane.direct("postgres", DR),
                                   postgres_sql.current_lsn(plane.direct("postgres", PRIMARY)), 10)
        plane.promote("postgres", DR)
        plane.promote("valkey", DR)
        store.grant(store.read(), DR, "test", "DR writes now")
        load.wait_acknowledged(DR, 20, timeout=20)
    entries = load.ledger.entries()
    late = [e for e in entries if e.target == f"postgres-{PRIMARY}" and e.sent_at > fence_at]
    assert not late, f"{len(late)} writes sent to the old primary after the fence"
    granted_at = min(e.sent_at for e in entries if e.target == f"postgres-{DR}" and e.outcome == Outcome.OK)
    assert granted_at > revoked.changed_at, "the DR writer wrote only after the grant"
    measured = load.check(DR, PRIMARY, datetime.fromtimestamp(fence_at, UTC), since=revoked.changed_at)
    assert measured.postgres.lost == 0 and measured.valkey.lost == 0, measured.postgres.summary
    assert measured.postgres.split_brain == 0 and not measured.anomalies, measured.postgres.summary
    rows = postgres_sql.row_ids(plane.direct("postgres", DR))
    ok = {e.id for e in entries if e.outcome == Outcome.OK}
    assert ok <= rows, "every acknowledged write is in the promoted database"
    assert measured.postgres.acknowledged == len(ok) > 40
    assert measured.dr_writable_after_s is not None and measured.write_rate > 0
