"""`hastack dr scale-up` against the local world (in-process), seeded from the real offline plan.

What is asserted comes from the world: AWS state (the lease item, roles, sizes, the cache), what
the record resolves to through the world's resolver, and the world's call log. The sentences are
the contract too (Patroni style): each test also asserts what a step says it did or why it refused.
Hang mode over real sockets is in tests/test_dr_hostile.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.outputs import parse_outputs
from hastack.dr.runner import StepRecord
from hastack.dr.scale_up import ScaleUp
from hastack.plan.render import stack_output_json
from tests.dr_runs import (
    DR,
    PRIMARY,
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
)
from tests.dr_world import World

RID = "hastack-prod-us-west-2"


@pytest.fixture()
def world(prod_plan: Any) -> Iterator[World]:
    with hostile_world(stack_output_json(prod_plan.outputs)) as w:
        yield w


def assert_production(world: World) -> None:
    """What 'the DR region serves' means, read from the world."""
    db = world.dr_db()
    assert db.get("ReadReplicaSourceDBInstanceIdentifier") is None, "DR DB still a replica"
    assert db["MultiAZ"] is True and db["DBInstanceClass"] == world.outputs.database.prod_instance_class
    assert world.dr_sizes() == [(1, 2, 6)] * 3
    assert lease(world) is not None and lease(world)["holder"] == DR  # type: ignore[index]
    assert answers(world) == DR, "the record does not resolve to the DR ALB"
    assert lock_item(world) is None, "the lock must be released"


def test_the_world_starts_pilot_light_on_the_primary(world: World) -> None:
    assert world.dr_db()["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:hastack-prod-us-east-1")
    assert world.dr_sizes() == [(0, 0, 6)] * 3
    assert answers(world) == PRIMARY
    assert lease(world) == {"holder": PRIMARY, "epoch": 1}


def test_happy_path_in_order_then_rerun_changes_nothing(world: World) -> None:
    clock = StepClock()
    with DnsWatcher(world) as dns:
        result = scale_up(world, observer=clock)
    assert result.ok, result.summary
    assert statuses(result) == {
        "lock": "done", "readiness": "done", "revoke-lease": "done", "lease-expired": "done",
        "isolate-old-db": "done", "promote-db": "done", "db-serving": "already", "db-to-prod": "done",
        "cache-failover": "done", "scale-nodes": "done", "compute-ready": "already", "health-gate": "done",
        "grant-lease": "done", "dr-ready": "done", "primary-off": "done", "dns-on-dr": "already",
        "db-multi-az": "already", "unlock": "done"}
    assert sentence(result, "revoke-lease").startswith("revoked us-east-1's lease: epoch 1 -> 2 at ")
    fence = sentence(result, "lease-expired")
    assert fence.startswith("fenced us-east-1: lease epoch 2 revoked at ") and "(leaseSeconds 1.5)" in fence
    assert result.report["fence"] == fence
    assert sentence(result, "promote-db").startswith(f"promoted {RID!r} in us-west-2; estimated data loss ")
    assert sentence(result, "grant-lease") == "granted the lease to us-west-2: epoch 2 -> 3 (its writers may write)"
    assert sentence(result, "dns-on-dr").startswith(f"{world.outputs.dns.record_name} answers the us-west-2 ALB: ")
    assert_production(world)
    # Order, as clients and AWS saw it: fenced before promoted, promoted before any client was sent there.
    assert clock.ended["lease-expired"] < clock.ended["promote-db"] < clock.ended["grant-lease"]
    first_dr = dns.first(DR)
    assert first_dr is not None and first_dr > clock.ended["health-gate"], "DNS answered DR before the gate"
    assert result.rto_seconds is not None and result.outage_start_label == "run start"
    record = result.record("dns-on-dr")
    assert record is not None and result.rto_seconds == pytest.approx(record.end)

    again = scale_up(world)
    assert again.ok and not again.changed, statuses(again)
    assert again.summary.startswith("nothing to do: us-west-2 is already production")
    assert sentence(again, "promote-db") == f"{RID!r} is already a standalone primary in us-west-2"
    assert sentence(again, "revoke-lease").startswith("the lease is already granted to us-west-2")
    assert_production(world)


def test_every_step_says_which_plane_and_region_it_needs(world: World) -> None:
    result = scale_up(world, dry_run=True)
    needs = {r.name: set(r.needs) for r in result.records}
    before_cutover = ["readiness", "revoke-lease", "lease-expired", "promote-db", "db-serving", "db-to-prod",
                      "cache-failover", "scale-nodes", "compute-ready", "health-gate", "grant-lease", "dr-ready",
                      "primary-off"]
    for name in before_cutover:
        assert needs[name], f"{name} declares no need"
        assert all(n.endswith("@us-west-2") for n in needs[name]), (name, needs[name])
    assert needs["isolate-old-db"] == {"control:rds@us-east-1", "control:ec2@us-east-1", "data:dynamodb@us-west-2"}
    assert result.record("isolate-old-db").best_effort  # type: ignore[union-attr]
    assert needs["dns-on-dr"] == {"data:route53-dns@global"}
    assert needs["dr-ready"] == {"data:cloudwatch@us-west-2", "control:cloudwatch@us-west-2"}
    assert not any("route53@" in n for ns in needs.values() for n in ns), "no Route 53 control-plane step"


def test_no_route53_control_plane_request_even_with_route53_answering(world: World) -> None:
    start = world.state.calls.last_seq()  # type: ignore[attr-defined]
    clock = StepClock()
    result = scale_up(world, observer=clock)
    assert result.ok, result.summary
    calls = world.state.calls.since(start)  # type: ignore[attr-defined]
    assert calls, "the world logged the run's requests"
    assert [c for c in calls if c.service == "route53"] == [], "a Route 53 API request was made"
    served = clock.ended["dns-on-dr"]
    primary = [c for c in calls if c.region == PRIMARY and c.epoch < served]
    assert {c.service for c in primary} <= {"rds", "ec2"}, "only the best-effort isolation may call the primary"
    assert any(c.service == "dns" for c in calls), "DNS was verified by resolving the record"


def test_a_throttling_burst_costs_retries_not_the_run(world: World) -> None:
    start = world.state.calls.last_seq()  # type: ignore[attr-defined]

    def burst() -> None:  # right after the lock: readiness's first reads meet it
        world.state.update({"addThrottles": [{"service": "rds", "seconds": 1.0, "region": DR},  # type: ignore
                                             {"service": "cloudwatch", "seconds": 1.0, "region": DR}]})

    result = scale_up(world, observer=StepClock({"lock": burst}))
    assert result.ok, result.summary
    throttled = [c for c in world.state.calls.since(start) if c.outcome == "throttled"]  # type: ignore
    assert throttled, "the burst reached the run"
    assert_production(world)


def test_dry_run_decides_every_step_and_changes_nothing(world: World) -> None:
    before = world.snapshot()
    start = world.state.calls.last_seq()  # type: ignore[attr-defined]
    result = scale_up(world, dry_run=True)
    assert world.snapshot() == before and lease(world) == {"holder": PRIMARY, "epoch": 1}
    assert result.ok and not result.changed, result.summary
    assert all(r.status in ("planned", "already") for r in result.records), statuses(result)
    assert sentence(result, "revoke-lease").startswith("would revoke us-east-1's lease (lease held by us-east-1, "
                                                       "epoch 1 -> epoch 2)")
    writes = {"UpdateItem", "PutItem", "DeleteItem", "PromoteReadReplica", "ModifyDBInstance", "PutMetricData",
              "UpdateNodegroupConfig", "FailoverGlobalReplicationGroup", "RevokeSecurityGroupIngress"}
    assert [c.operation for c in world.state.calls.since(start) if c.operation in writes] == []  # type: ignore
    assert result.summary.startswith("dry run: ready")


@pytest.mark.parametrize(("history", "why"), [
    ([], "no ReplicaLag datapoint"),
    ([(60, -1)], "is -1 at"),
    ([(540, 2)], "s old (from"),
], ids=["missing", "minus-one", "stale"])
def test_unknown_lag_is_refused_before_anything_changes(prod_plan: Any, history: list[tuple[float, float]],
                                                        why: str) -> None:
    raw = stack_output_json(prod_plan.outputs)
    with hostile_world(raw) as world:
        world.client("cloudwatch", DR)  # the seed's datapoint is "now": start from a history of our own
        _clear_lag(world)
        put_lag_history(world, DR, RID, history)
        before = world.snapshot()
        result = scale_up(world)
        assert not result.ok and statuses(result)["readiness"] == "refused"
        assert why in sentence(result, "readiness")
        assert "re-run with --accept-data-loss to promote anyway" in sentence(result, "readiness")
        assert statuses(result)["revoke-lease"] == "skipped" and statuses(result)["unlock"] == "done"
        assert world.snapshot() == before and lease(world) == {"holder": PRIMARY, "epoch": 1}, "not even fenced"
        accepted = scale_up(world, accept_data_loss=True)
        assert accepted.ok, accepted.summary
        assert "(--accept-data-loss)" in sentence(accepted, "promote-db")
        assert_production(world)


def _clear_lag(world: World) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends["123456789012"][DR]
    backend.metric_data = [m for m in backend.metric_data if m.name != "ReplicaLag"]


def test_lag_rising_past_the_budget_after_readiness_is_refused_at_promotion(world: World) -> None:
    _clear_lag(world)
    put_lag_history(world, DR, RID, [(120, 2), (60, 2)])

    def replica_falls_behind() -> None:  # between readiness and promotion: the replica stalls, the primary writes
        _clear_lag(world)
        put_lag_history(world, DR, RID, [(180, 2), (120, 50), (60, 100), (0, 150)])

    result = scale_up(world, observer=StepClock({"readiness": replica_falls_behind}))
    assert statuses(result)["readiness"] == "done" and statuses(result)["promote-db"] == "refused"
    assert sentence(result, "promote-db").startswith(f"not promoting {RID!r}: estimated data loss ")
    assert "over the 60 s RPO budget" in sentence(result, "promote-db")
    db = world.dr_db()
    assert db.get("ReadReplicaSourceDBInstanceIdentifier"), "promoted despite the gate"
    assert answers(world) == PRIMARY, "clients were sent to DR"
    assert result.summary.endswith("clients were not sent to us-west-2 (DrReady never set: traffic stays where it "
                                   "was)")


def test_an_earlier_incidents_journal_does_not_skip_the_gate(world: World) -> None:
    c = world.dep.coordination  # type: ignore[attr-defined]
    ddb = world.client("dynamodb", c.region)
    ddb.put_item(TableName=c.table, Item={  # an ended run that had issued the promotion
        c.key: {"S": c.journal_id("oldrun")}, "ownerRunId": {"S": "oldrun"}, "command": {"S": "dr scale-up"},
        "startedAt": {"S": "2026-01-01T03:00:00+00:00"}, "ended": {"BOOL": True},
        "journal": {"S": '{"facts": {"promoteIssuedAt": "2026-01-01T03:05:00+00:00"}, "steps": {}}'}})
    ddb.put_item(TableName=c.table, Item={  # and its lock, left behind and expired
        c.key: {"S": c.lock_id}, "owner": {"S": "alice"}, "host": {"S": "laptop"}, "pid": {"N": "1"},
        "since": {"S": "2026-01-01T03:00:00+00:00"}, "runId": {"S": "oldrun"}, "command": {"S": "dr scale-up"},
        "expiresAt": {"N": str(time.time() - 3600)}})
    _clear_lag(world)
    put_lag_history(world, DR, RID, [(540, 2)])  # stale evidence: the gate must refuse
    result = scale_up(world)
    assert result.journal_note == "run oldrun had ended: its facts are not used"
    assert statuses(result)["readiness"] == "refused"
    assert world.dr_db().get("ReadReplicaSourceDBInstanceIdentifier"), "promoted on an old fact"


def test_two_runs_with_different_stack_spellings_exactly_one_promotes(world: World) -> None:
    raw = world.raw
    spellings = [parse_outputs(raw, "prod"), parse_outputs(raw, "production")]
    results: list[Any] = [None, None]
    promotions = []
    # Nothing hangs here: a bound generous enough that two runs contending for one in-process moto on a
    # loaded 2-core machine never turn the loser's refused lock into a timed-out ("failed") one.
    factory = world.factory(call_timeout_seconds=15.0)

    def on_promote(**_: Any) -> None:
        promotions.append(time.time())

    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        barrier.wait()
        dep = dataclasses.replace(world.dep, stack=spellings[i].stack)  # type: ignore[attr-defined]
        results[i] = ScaleUp(spellings[i], factory, deployment=dep, options=_opts()).run()

    factory.client("rds", DR).meta.events.register("before-call.rds.PromoteReadReplica", on_promote)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(promotions) == 1, "exactly one run promotes"
    winner, loser = sorted(results, key=lambda r: r.ok, reverse=True)
    assert winner.ok and not loser.ok
    assert statuses(loser)["lock"] == "refused" and sentence(loser, "lock").startswith("DR lock")
    assert all(s == "skipped" for n, s in statuses(loser).items() if n != "lock")
    assert_production(world)


def _opts() -> Any:
    from hastack.dr.runner import Options
    return Options(poll_seconds=0.2)


def test_cutover_only_after_the_gate_the_record_never_answered_dr_when_the_cache_failed(world: World) -> None:
    o = world.outputs
    # ElastiCache throttles the failover for longer than the call's bound: the cache step fails.
    world.state.update({"addThrottles": [{"service": "elasticache", "seconds": 120,  # type: ignore[attr-defined]
                                          "operations": ["FailoverGlobalReplicationGroup"]}]})
    with DnsWatcher(world) as dns:
        result = scale_up(world)
    assert not result.ok
    assert statuses(result)["cache-failover"] == "failed" and "Throttling" in sentence(result, "cache-failover")
    assert statuses(result)["compute-ready"] in ("done", "already"), "the DR ALB turned healthy meanwhile"
    assert statuses(result)["dr-ready"] == "skipped" and statuses(result)["dns-on-dr"] == "skipped"
    assert len(dns.seen) > 10 and all(got != DR for _, got in dns.seen), "the record answered DR"
    from hastack.local.world.route53 import Route53View
    view = Route53View(world.state)  # type: ignore[attr-defined]
    assert view.load_balancer_health(o.ingress[DR].alb_dns_name).healthy, "the DR ALB was healthy"
    assert answers(world) == PRIMARY
    assert result.summary.endswith("clients were not sent to us-west-2 (DrReady never set: traffic stays where it "
                                   "was)")


def test_unplanned_cache_failover_while_the_primary_is_dark(world: World) -> None:
    o = world.outputs
    world.state.update({"downRegions": [PRIMARY], "outageMode": "refuse"})  # type: ignore[attr-defined]
    result = scale_up(world)
    assert result.ok, result.summary
    said = sentence(result, "cache-failover")
    assert said.startswith("the planned failover was refused (InvalidGlobalReplicationGroupState")
    assert f"disassociated {o.cache.secondary.replication_group_id!r}" in said
    world.state.update({"downRegions": []})  # type: ignore[attr-defined]
    gd = world.client("elasticache", DR).describe_global_replication_groups(
        GlobalReplicationGroupId=o.cache.global_datastore_id, ShowMemberInfo=True)["GlobalReplicationGroups"][0]
    assert [m["ReplicationGroupRegion"] for m in gd["Members"]] == [PRIMARY], "DR still a member"
    group = world.client("elasticache", DR).describe_replication_groups(
        ReplicationGroupId=o.cache.secondary.replication_group_id)["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert_production(world)


def test_no_fence_possible_needs_the_flag(world: World) -> None:
    c = world.dep.coordination  # type: ignore[attr-defined]
    gone = dataclasses.replace(world.dep, coordination=dataclasses.replace(c, table="gone-with-its-region"))  # type: ignore
    refused = scale_up(world, dep=gone)
    assert statuses(refused)["lock"] == "refused"
    assert sentence(refused, "lock").endswith("neither the lock nor a fence is possible; re-run when the table "
                                              "answers, or --accept-split-brain to go on without either")
    assert world.dr_db().get("ReadReplicaSourceDBInstanceIdentifier"), "promoted without a fence"
    accepted = scale_up(world, dep=gone, accept_split_brain=True)
    assert accepted.ok, accepted.summary
    assert sentence(accepted, "lock").startswith("went on WITHOUT THE DR LOCK: ")
    assert sentence(accepted, "revoke-lease").startswith("went on WITHOUT A FENCE: ")
    assert accepted.report["fence"].startswith("NO FENCE: ")
    assert world.dr_db().get("ReadReplicaSourceDBInstanceIdentifier") is None and answers(world) == DR


class SimulatedCrash(BaseException):
    """The process dying right after a step (BaseException: nothing in the run may catch it)."""


class CrashAfter:
    def __init__(self, step: str) -> None:
        self.step = step

    def started(self, name: str, branch: str, at: float) -> None:
        return None

    def finished(self, record: StepRecord) -> None:
        if record.name == self.step:
            raise SimulatedCrash(self.step)


CRASH_POINTS = ["readiness", "revoke-lease", "lease-expired", "promote-db", "cache-failover", "scale-nodes",
                "health-gate", "grant-lease", "dr-ready", "primary-off", "dns-on-dr"]


def test_a_crash_after_every_step_then_rerun_converges(world: World) -> None:
    """One run per step, each crashing right after that step did its work; the next run takes over."""
    for step in CRASH_POINTS:
        with pytest.raises(SimulatedCrash):
            scale_up(world, observer=CrashAfter(step))
        assert lock_item(world) is not None, f"the run crashed after {step} left no lock"
    result = scale_up(world)
    assert result.ok and not result.changed, statuses(result)
    assert sentence(result, "lock").startswith("took over the DR lock left by an earlier run on this host")
    assert result.journal_note is not None and result.journal_note.startswith("resuming run ")
    assert lease(world) == {"holder": DR, "epoch": 3}, "fenced or granted twice"
    assert_production(world)


def test_outage_start_measures_the_rto_from_the_outage(world: World) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    result = scale_up(world, outage_start=started)
    assert result.ok, result.summary
    cut = result.record("dns-on-dr")
    assert cut is not None and result.rto_seconds == pytest.approx(cut.end + 90, abs=1.5)
    assert result.outage_start_label.startswith("outage start ")
