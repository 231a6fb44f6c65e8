"""`hastack dr failback` end to end against moto: re-protect, then the planned zero-data-loss switchback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.failback import FAILBACK_TAG, Failback, FailbackPlan
from hastack.dr.orchestrator import ScaleUp
from hastack.plan.render import stack_output_json
from tests.dr_world import World, make_world, put_replica_lag

PRIMARY, DR = "us-east-1", "us-west-2"
ORIGINAL, DR_ID = "hastack-prod-us-east-1", "hastack-prod-us-west-2"


@pytest.fixture()
def failed_over(prod_plan: Any) -> Iterator[World]:
    """A world after a successful scale-up: the DR writer standalone, DNS and cache on DR."""
    with make_world(stack_output_json(prod_plan.outputs)) as w:
        result = ScaleUp(w.outputs, w.factory(), poll_seconds=1).run()
        assert result.ok, result.summary
        yield w


def failback(world: World, **kwargs: Any) -> Any:
    return Failback(FailbackPlan(world.outputs), world.factory(), poll_seconds=1, **kwargs).run()


def statuses(result: Any) -> dict[str, str]:
    return {r.name: r.status for r in result.records}


def ids(world: World, region: str) -> list[str]:
    return sorted(i["DBInstanceIdentifier"] for i in world.client("rds", region).describe_db_instances()["DBInstances"])


def db(world: World, region: str, identifier: str) -> dict[str, Any]:
    return world.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def world_state(world: World) -> dict[str, Any]:
    return {"east": ids(world, PRIMARY), "west": ids(world, DR), "switch": world.switch_inverted(),
            "cache": world.cache_primary(), "lock": world.lock_item()}


def test_failback_end_to_end_then_nothing_to_do(failed_over: World) -> None:
    world = failed_over
    put_replica_lag(world.client, PRIMARY, ORIGINAL, 0)
    result = failback(world)
    assert result.ok, result.summary
    assert all(v in ("done", "already") for v in statuses(result).values()), statuses(result)
    assert statuses(result)["promote-home"] == "done" and statuses(result)["cache-back"] == "done"
    # The original identifier is the standalone Multi-AZ writer again, created by failback (tagged).
    home = db(world, PRIMARY, ORIGINAL)
    assert home.get("ReadReplicaSourceDBInstanceIdentifier") is None
    assert home["MultiAZ"] is True and home["DBInstanceClass"] == world.outputs.database.prod_instance_class
    assert FAILBACK_TAG in {t["Key"] for t in home["TagList"]}
    # The old primary is renamed aside and kept; the fenced DR writer too.
    aside = [i for i in ids(world, PRIMARY) if i.startswith(f"{ORIGINAL}-pre-failover-")]
    assert len(aside) == 1 and len(ids(world, PRIMARY)) == 2
    assert [i for i in ids(world, DR) if i.startswith(f"{DR_ID}-post-failback-")] and DR_ID not in ids(world, DR)
    assert world.cache_primary() == PRIMARY and world.switch_inverted() is False
    assert world.lock_item() is None
    assert result.summary.startswith("us-east-1 is production again")
    assert result.lag_at_promotion == 0.0

    before = world_state(world)
    again = failback(world)
    assert again.ok and not again.changed, statuses(again)
    assert again.summary.startswith("nothing to do: us-east-1 is already production again")
    assert world_state(world) == before


def test_lag_over_zero_is_refused_before_anything_switches_unless_accepted(failed_over: World) -> None:
    world = failed_over
    put_replica_lag(world.client, PRIMARY, ORIGINAL, 5)
    refused = failback(world)
    assert not refused.ok
    assert statuses(refused)["caught-up"] == "refused"
    assert "ReplicaLag of 'hastack-prod-us-east-1' is 5 s" in refused.summary
    assert statuses(refused)["fence-back"] == "skipped"
    # Re-protected (kept for the next run), but nothing switched back.
    assert db(world, PRIMARY, ORIGINAL)["ReadReplicaSourceDBInstanceIdentifier"].endswith(f":db:{DR_ID}")
    assert world.switch_inverted() is True and world.cache_primary() == DR and world.lock_item() is None

    forced = failback(world, accept_data_loss=True)
    assert forced.ok, forced.summary
    assert statuses(forced)["rename-aside"] == "already" and statuses(forced)["reprotect"] == "already"
    assert forced.lag_at_promotion == 5.0
    assert db(world, PRIMARY, ORIGINAL).get("ReadReplicaSourceDBInstanceIdentifier") is None
    assert world.switch_inverted() is False and world.cache_primary() == PRIMARY


def test_dry_run_changes_nothing(failed_over: World) -> None:
    world = failed_over
    before = world_state(world)
    result = failback(world, dry_run=True)
    assert result.ok and not result.changed, result.summary
    assert world_state(world) == before
    assert {r.name for r in result.records} == {name for name, _, _ in FailbackPlan(world.outputs).rows()}
