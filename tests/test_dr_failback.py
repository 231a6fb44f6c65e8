"""`hastack dr failback` against the local world: fence, switch back, wait out DNS, fresh evidence, then promote.

Each assertion reads the world: the call log (when the promotion and the lease changes reached
AWS), DNS answers through the world's resolver, the lease item, roles and identifiers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.failback import FAILBACK_TAG, Failback
from hastack.dr.runner import Options, StepRecord
from hastack.plan.render import stack_output_json
from tests.dr_runs import (
    DR,
    PRIMARY,
    TEST_BOUNDS,
    DnsWatcher,
    StepClock,
    answers,
    hostile_world,
    lease,
    lock_item,
    put_lag_history,
    scale_up,
    sentence,
    statuses,
    time_passes,
)
from tests.dr_world import World

ORIGINAL, DR_ID = "hastack-prod-us-east-1", "hastack-prod-us-west-2"


@pytest.fixture()
def failed_over(prod_plan: Any) -> Iterator[World]:
    """A world after a successful scale-up: the DR writer standalone, DNS and cache on DR, the lease DR's."""
    with hostile_world(stack_output_json(prod_plan.outputs)) as w:
        result = scale_up(w)
        assert result.ok, result.summary
        time_passes(w, 3600)
        yield w


def failback(world: World, observer: Any = None, **options: Any) -> Any:
    options.setdefault("poll_seconds", 0.2)
    return Failback(world.outputs, world.factory(call_timeout_seconds=TEST_BOUNDS["call_timeout_seconds"]),
                    options=Options(**options), deployment=world.dep, observer=observer).run()  # type: ignore


def heartbeat(world: World) -> None:
    """The heartbeat replicated to the new home replica: a fresh datapoint, replayed up to now."""
    put_lag_history(world, PRIMARY, ORIGINAL, [(0, 0.2)])


def caught_up(world: World) -> None:
    put_lag_history(world, PRIMARY, ORIGINAL, [(30, 0.5)])


def ids(world: World, region: str) -> list[str]:
    return sorted(i["DBInstanceIdentifier"] for i in world.client("rds", region).describe_db_instances()["DBInstances"])


def db(world: World, region: str, identifier: str) -> dict[str, Any]:
    return world.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def world_state(world: World) -> dict[str, Any]:
    return {"east": ids(world, PRIMARY), "west": ids(world, DR), "cache": world.cache_primary(),
            "lease": lease(world), "lock": lock_item(world), "dns": answers(world)}


def test_failback_in_order_fence_dns_wait_fresh_evidence_promote(failed_over: World) -> None:
    world = failed_over
    caught_up(world)
    start = world.state.calls.last_seq()  # type: ignore[attr-defined]
    clock = StepClock({"dns-drain": lambda: heartbeat(world)})
    with DnsWatcher(world) as dns:
        result = failback(world, observer=clock)
    assert result.ok, result.summary
    assert statuses(result)["promote-home"] == "done" and statuses(result)["cache-back"] == "done"
    calls = world.state.calls.since(start)  # type: ignore[attr-defined]

    def when(operation: str, region: str) -> float:
        found = [c.epoch for c in calls if c.operation == operation and c.region == region and c.outcome == "answered"]
        assert found, f"no {operation} in {region} reached AWS"
        return found[0]

    promoted = when("PromoteReadReplica", PRIMARY)
    assert clock.ended["dr-lease-expired"] < clock.ended["switch-back"] < clock.ended["dns-drain"]
    assert clock.ended["dns-drain"] < clock.ended["fresh-evidence"] < promoted, "promoted before the evidence"
    drained = clock.ended["dns-drain"] - clock.ended["dns-on-home"]
    assert drained >= TEST_BOUNDS["dns_ttl_seconds"] + TEST_BOUNDS["dns_propagation_seconds"] - 0.3
    home_first = dns.first(PRIMARY)
    assert home_first is not None and home_first > clock.ended["dr-lease-expired"], "switched before the fence"
    assert sentence(result, "dr-lease-expired").startswith("fenced us-west-2: lease epoch 4 revoked at ")
    assert sentence(result, "fresh-evidence").startswith(f"{ORIGINAL!r} replayed a commit made after the fence")
    # The end state, as the world has it.
    home = db(world, PRIMARY, ORIGINAL)
    assert home.get("ReadReplicaSourceDBInstanceIdentifier") is None and home["MultiAZ"] is True
    assert FAILBACK_TAG in {t["Key"] for t in home["TagList"]}
    assert [g["DBParameterGroupName"] for g in home["DBParameterGroups"]] == [f"{ORIGINAL}-params"], \
        "the home writer lost the old primary's parameter group"
    assert len([i for i in ids(world, PRIMARY) if i.startswith(f"{ORIGINAL}-pre-failover-")]) == 1
    assert [i for i in ids(world, DR) if i.startswith(f"{DR_ID}-post-failback-")] and DR_ID not in ids(world, DR)
    assert world.cache_primary() == PRIMARY and answers(world) == PRIMARY
    assert lease(world) == {"holder": PRIMARY, "epoch": 5} and lock_item(world) is None
    assert result.summary.startswith("us-east-1 is production again")

    before = world_state(world)
    again = failback(world)
    assert again.ok and not again.changed, statuses(again)
    assert again.summary.startswith("nothing to do: us-east-1 is already production again")
    assert world_state(world) == before


def test_old_evidence_is_never_enough(failed_over: World) -> None:
    world = failed_over
    caught_up(world)  # lag 0.5 s, but from before the fence: it proves nothing about writes after it
    result = failback(world, dry_run=False, **{})
    assert not result.ok
    assert statuses(result)["fresh-evidence"] == "failed"
    assert "gave up waiting for a ReplicaLag datapoint" in sentence(result, "fresh-evidence")
    assert db(world, PRIMARY, ORIGINAL).get("ReadReplicaSourceDBInstanceIdentifier"), "promoted without evidence"


def test_not_caught_up_is_refused_before_anything_switches(failed_over: World) -> None:
    world = failed_over
    put_lag_history(world, PRIMARY, ORIGINAL, [(30, 40.0)])
    refused = failback(world)
    assert not refused.ok and statuses(refused)["caught-up"] == "refused"
    assert "ReplicaLag of 'hastack-prod-us-east-1' is 40 s" in sentence(refused, "caught-up")
    assert statuses(refused)["fence-dr"] == "skipped"
    assert lease(world)["holder"] == DR and answers(world) == DR, "something moved"  # type: ignore[index]


def test_dry_run_predicts_the_steps_the_real_run_takes(failed_over: World) -> None:
    world = failed_over
    caught_up(world)
    before = world_state(world)
    predicted = failback(world, dry_run=True)
    assert world_state(world) == before, "a dry run changed the world"
    clock = StepClock({"dns-drain": lambda: heartbeat(world)})
    real = failback(world, observer=clock)
    assert real.ok, real.summary
    for branch in ("main", "database", "cache", "compute"):  # parallel branches finish in any order
        assert [r.name for r in predicted.records if r.branch == branch] == \
            [r.name for r in real.records if r.branch == branch], branch
    assert len(predicted.records) == len(real.records)
    by_name = {r.name: r for r in real.records}
    for p in predicted.records:
        r = by_name[p.name]
        if p.name in ("lock", "unlock"):
            continue
        # A change the dry run plans, the real run makes; a wait it plans may find its condition met
        # (moto promotes at once); what it finds done stays done.
        expect = {"already"} if p.status == "already" else {"done", "already"} if r.read_only else {"done"}
        assert p.status in ("planned", "already") and r.status in expect, (p.name, p.status, p.sentence, r.status,
                                                                           r.sentence)


class SimulatedCrash(BaseException):
    pass


class CrashAfter(StepClock):
    def __init__(self, world: World, step: str) -> None:
        super().__init__({"dns-drain": lambda: heartbeat(world)})
        self.step = step

    def finished(self, record: StepRecord) -> None:
        super().finished(record)
        if record.name == self.step:
            raise SimulatedCrash(self.step)


FAILBACK_STEPS = ["fb-readiness", "rename-aside", "reprotect", "restore-db-access", "cache-reprotect", "caught-up",
                  "fence-dr", "dr-lease-expired", "home-gate", "switch-back", "dns-on-home", "dns-drain",
                  "fresh-evidence", "promote-home", "cache-back", "grant-home", "dr-not-ready", "retire-dr-writer"]


def test_a_crash_after_every_failback_step_then_rerun_converges(failed_over: World) -> None:
    """One run per step, each crashing right after that step did its work; the next run takes over."""
    world = failed_over
    caught_up(world)
    for step in FAILBACK_STEPS:
        with pytest.raises(SimulatedCrash):
            failback(world, observer=CrashAfter(world, step))
        assert lock_item(world) is not None, f"the run crashed after {step} left no lock"
    result = failback(world, observer=StepClock({"dns-drain": lambda: heartbeat(world)}))
    assert result.ok and not result.changed, statuses(result)
    assert sentence(result, "lock").startswith("took over the DR lock left by an earlier run on this host")
    assert world.cache_primary() == PRIMARY and answers(world) == PRIMARY
    assert lease(world) == {"holder": PRIMARY, "epoch": 5} and lock_item(world) is None, "fenced or granted twice"
    assert db(world, PRIMARY, ORIGINAL).get("ReadReplicaSourceDBInstanceIdentifier") is None
    assert len([i for i in ids(world, PRIMARY) if i.startswith(f"{ORIGINAL}-pre-failover-")]) == 1


def test_failback_before_any_failover_is_refused(prod_plan: Any) -> None:
    with hostile_world(stack_output_json(prod_plan.outputs)) as world:
        result = failback(world)
        assert not result.ok
        assert "fail back only after a scale-up made it the writer" in sentence(result, "fb-readiness")
