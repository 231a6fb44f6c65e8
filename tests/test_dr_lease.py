"""The writers' lease, both sides: the DR command revokes and grants; a writer keeps the contract.

Against moto's DynamoDB. The writer's side (`RegionLease`) is what any service image that writes
must do (docs/lease-contract.md): valid for `leaseSeconds` from *before* the renewing read, only
while the holder is its region and the epoch the one it adopted; any failure leaves it without a
lease at once. The fence's arithmetic follows: once revoked, no renewal succeeds, so every lease
granted before ends within `leaseSeconds` of the revocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Coordination
from hastack.dr.lease import LeaseError, LeaseStore, RegionLease
from tests.dr_runs import coordination_table, moto_only

PRIMARY, DR = "us-east-1", "us-west-2"
COORD = Coordination(
    table="hastack-prod-dr-coordination",
    region=DR,
    key="pk",
    deployment="hastack/prod",
    witness_region="us-east-2",
    lock_id="dr-lock#hastack/prod",
    lease_id="lease#hastack/prod",
    journal_prefix="journal#hastack/prod#",
)


@pytest.fixture()
def table() -> Iterator[None]:
    with moto_only():
        coordination_table(DR, COORD.table, COORD.key)
        yield


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def writer(clock: Any, region: str = DR) -> RegionLease:
    # The table lives in the DR region here (moto has no MRSC replicas): the writer reads through it.
    return RegionLease(ClientFactory(2), COORD, region, lease_seconds=15, safety_seconds=2, clock=clock)


def test_revoke_and_grant_are_conditional_on_the_epoch(table: None) -> None:
    store = LeaseStore(ClientFactory(2), COORD, 15)
    assert store.read() is None
    granted = store.grant(None, PRIMARY, "test", "initial")
    assert (granted.holder, granted.epoch) == (PRIMARY, 1)
    revoked = store.revoke(granted, "test", "fence")
    assert (revoked.holder, revoked.epoch, revoked.revoked) == ("", 2, True)
    with pytest.raises(LeaseError, match="changed while we changed it") as stale:
        store.grant(granted, DR, "other", "a second operator with an old read")
    assert stale.value.conflict
    assert store.read().epoch == 2  # type: ignore[union-attr]


def test_a_writer_writes_only_while_its_lease_holds(table: None) -> None:
    store = LeaseStore(ClientFactory(2), COORD, 15)
    store.grant(None, DR, "test", "the DR region writes")
    clock = FakeClock()
    lease = writer(clock)
    assert lease.renew() and lease.epoch == 1
    assert lease.remaining() == 13.0, "15 s from before the read, minus the safety margin"
    clock.t += 10
    assert lease.remaining() == 3.0
    store.revoke(store.read(), "dr", "fence")
    assert not lease.renew() and lease.remaining() == 0.0, "a refused renewal ends the lease at once"
    assert "revoked" in (lease.last_error or "")


def test_a_new_epoch_is_never_adopted_by_a_running_writer(table: None) -> None:
    store = LeaseStore(ClientFactory(2), COORD, 15)
    first = store.grant(None, DR, "test", "DR writes")
    lease = writer(FakeClock())
    assert lease.renew()
    store.grant(store.revoke(first, "dr", "fence"), DR, "dr", "DR writes again")  # failover and back: epoch 3
    assert not lease.renew(), "epoch 3 is not the epoch this writer started with: it must restart"
    assert writer(FakeClock()).renew(), "a restarted writer adopts the new epoch"


def test_another_regions_writer_never_holds_it(table: None) -> None:
    LeaseStore(ClientFactory(2), COORD, 15).grant(None, PRIMARY, "test", "the primary writes")
    assert not writer(FakeClock(), region=DR).renew()


def test_the_fence_holds_through_the_quorum(prod_plan: Any) -> None:
    """With the seeded coordination table an MRSC global table (DR home, primary replica, witness),
    as the world keeps its quorum: a DR-region outage does not stop the primary's writer; a primary
    cut off from both others loses its lease within leaseSeconds; the DR command's revoke goes
    through the DR region (DR + witness) and no writer renews after it."""
    from hastack.dr.deployment import Deployment
    from hastack.plan.render import stack_output_json
    from tests.dr_world import make_world

    with make_world(stack_output_json(prod_plan.outputs)) as world:
        coord = Deployment.of(world.outputs).coordination
        assert coord.quorum and coord.witness_region == "us-east-2"
        clock = FakeClock()
        primary_writer = RegionLease(world.factory(call_timeout_seconds=2), coord, PRIMARY, 15, clock=clock)
        assert primary_writer.renew(), primary_writer.last_error
        world.state.update({"downRegions": [DR]})
        clock.t += 5
        assert primary_writer.renew(), f"a DR-region outage stopped the primary: {primary_writer.last_error}"
        world.state.update({"downRegions": [], "partitionedRegions": [PRIMARY]})
        clock.t += 5
        assert not primary_writer.renew() and primary_writer.remaining() == 0.0
        assert "InternalServerError" in (primary_writer.last_error or ""), "no quorum from a cut-off primary"
        store = LeaseStore(world.factory(call_timeout_seconds=2), coord, 15)
        revoked = store.revoke(store.read(), "dr", "fence")  # through the DR region: DR + witness
        world.state.update({"partitionedRegions": []})
        assert not primary_writer.renew(), "a writer renewed after the revocation"
        assert revoked.revoked and world.lease() == {"holder": "", "epoch": revoked.epoch}
