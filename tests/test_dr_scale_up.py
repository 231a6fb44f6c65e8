"""`hastack dr scale-up` end to end against moto (both regions), seeded from the real offline plan.

The sentences are the contract (Patroni style): each test asserts what a step says it did or why
it refused, and what the world looks like afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from hastack.dr import steps
from hastack.dr.aws import ClientFactory, ClientPolicy, fast_policy
from hastack.dr.orchestrator import ScaleUp, StepRecord, plan_rows
from hastack.dr.report import as_json
from hastack.plan.render import stack_output_json
from tests.dr_world import World, make_world, put_replica_lag

PRIMARY = "us-east-1"
DR = "us-west-2"


@pytest.fixture()
def world(prod_plan: Any) -> Iterator[World]:
    with make_world(stack_output_json(prod_plan.outputs)) as w:
        yield w


def run(world: World, factory: ClientFactory | None = None, **kwargs: Any) -> Any:
    return ScaleUp(world.outputs, factory or world.factory(), poll_seconds=1, **kwargs).run()


def statuses(result: Any) -> dict[str, str]:
    return {r.name: r.status for r in result.records}


def sentence(result: Any, name: str) -> str:
    rec = result.record(name)
    assert rec is not None, f"step {name} was not recorded: {[r.name for r in result.records]}"
    return rec.sentence


def assert_production(world: World) -> None:
    db = world.dr_db()
    assert db.get("ReadReplicaSourceDBInstanceIdentifier") is None, "DR DB still a replica"
    assert db["MultiAZ"] is True and db["DBInstanceClass"] == world.outputs.database.prod_instance_class
    assert world.dr_sizes() == [(1, 2, 6)] * 3
    assert world.switch_inverted() is True
    assert world.cache_primary() == DR
    assert world.lock_item() is None, "the lock must be released"


def test_the_world_is_seeded_from_the_plan_names(world: World) -> None:
    plan_names = [g["name"] for g in world.raw["drNodeGroups"]]
    assert plan_names and all(n.startswith("dr-cluster-ng-") for n in plan_names)
    assert world.outputs.database.replica.identifier == "hastack-prod-us-west-2"
    assert world.dr_db()["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:hastack-prod-us-east-1")
    assert world.dr_sizes() == [(0, 0, 6)] * 3
    assert world.switch_inverted() is False and world.cache_primary() == PRIMARY


def test_happy_path_then_rerun_changes_nothing(world: World) -> None:
    result = run(world)
    assert result.ok, result.summary
    assert statuses(result) == {
        "lock": "done", "readiness": "done", "fence": "done", "promote-db": "done", "db-serving": "already",
        "db-to-prod": "done", "cache-failover": "done", "scale-nodes": "done", "compute-ready": "already",
        "health-gate": "done", "dns-switch": "already", "db-multi-az": "already", "unlock": "done"}
    assert sentence(result, "promote-db") == (
        "promoted 'hastack-prod-us-west-2' in us-west-2; replica lag at promotion 2 s (RPO budget 60 s)")
    assert sentence(result, "fence").startswith("fenced us-east-1: Route 53 switch ")
    assert "0/0/6->1/2/6" in sentence(result, "scale-nodes")
    assert result.summary.startswith("us-west-2 is now production")
    assert_production(world)
    report = as_json(result)
    assert report["rpoPaidSeconds"] == 2.0 and report["rtoSeconds"] is not None
    assert [s["name"] for s in report["steps"]] and all(s["durationSeconds"] >= 0 for s in report["steps"])
    json.dumps(report)  # serializable as is

    again = run(world)
    assert again.ok and not again.changed
    assert again.summary.startswith("nothing to do: us-west-2 is already production")
    assert sentence(again, "promote-db") == "'hastack-prod-us-west-2' is already a standalone primary in us-west-2"
    assert sentence(again, "scale-nodes") == "all 3 DR node groups are already at prod size"
    assert_production(world)


def test_dry_run_changes_nothing_and_records_every_step(world: World) -> None:
    before = world.snapshot()
    result = run(world, dry_run=True)
    assert world.snapshot() == before
    assert result.ok and not result.changed
    names = [r.name for r in result.records]
    assert sorted(names) == sorted(n for n, _, _ in plan_rows())
    assert sentence(result, "promote-db") == "would promote 'hastack-prod-us-west-2' in us-west-2 (ReplicaLag 2 s)"
    assert sentence(result, "lock") == "would take the DR lock (it is free)"
    assert result.summary.startswith("dry run: ready")


def test_dry_run_is_not_ready_when_lag_is_over_budget(world: World) -> None:
    put_replica_lag(world.client, DR, world.outputs.database.replica.identifier, 300)
    result = run(world, dry_run=True)
    assert not result.ok
    assert result.summary.startswith("dry run: NOT ready")
    assert world.switch_inverted() is False


def test_lag_over_budget_is_refused_before_anything_changes(world: World) -> None:
    put_replica_lag(world.client, DR, world.outputs.database.replica.identifier, 300)
    before = world.snapshot()
    result = run(world)
    assert not result.ok
    assert statuses(result)["readiness"] == "refused"
    assert ("replica lag 300 s of 'hastack-prod-us-west-2' is over the 60 s RPO budget: promoting now loses up to "
            "300 s of writes; re-run with --accept-data-loss to accept that") in sentence(result, "readiness")
    assert statuses(result)["fence"] == "skipped" and statuses(result)["unlock"] == "done"
    assert world.snapshot() == before  # not even fenced


def test_lag_over_budget_accepted_with_the_flag(world: World) -> None:
    put_replica_lag(world.client, DR, world.outputs.database.replica.identifier, 300)
    result = run(world, accept_data_loss=True)
    assert result.ok, result.summary
    assert result.lag_at_promotion == 300.0
    assert "replica lag at promotion 300 s" in sentence(result, "promote-db")
    assert_production(world)


def _hold_lock(world: World, owner: str, host: str, expires_in: float) -> None:
    o = world.outputs
    world.client("dynamodb", o.coordination.home_region).put_item(TableName=o.coordination.table_name, Item={
        o.coordination.key_attribute: {"S": f"dr-lock#{o.stack}"}, "owner": {"S": owner}, "host": {"S": host},
        "pid": {"N": "4242"},
        "since": {"S": "2026-01-01T03:00:00+00:00"}, "runId": {"S": "otherrun"}, "command": {"S": "dr scale-up"},
        "expiresAt": {"N": str(int(dt.datetime.now(dt.UTC).timestamp() + expires_in))}})


def test_lock_held_by_someone_else_is_refused_naming_them(world: World) -> None:
    _hold_lock(world, "alice", "laptop-alice", 3600)
    before = world.snapshot()
    result = run(world)
    assert not result.ok and statuses(result) == {"lock": "refused"}
    assert sentence(result, "lock") == (
        "DR lock held: alice@laptop-alice (pid 4242, `dr scale-up`) since 2026-01-01T03:00:00+00:00. If that run "
        "is dead, re-run with --break-lock; otherwise let it finish")
    assert world.snapshot() == before


def test_stale_lock_needs_break_lock_and_says_since_when(world: World) -> None:
    _hold_lock(world, "bob", "laptop-bob", -60)
    refused = run(world)
    assert sentence(refused, "lock").startswith("DR lock stale (expired ")
    assert "bob@laptop-bob (pid 4242, `dr scale-up`) since 2026-01-01T03:00:00+00:00" in sentence(refused, "lock")
    broken = run(world, break_lock=True)
    assert broken.ok, broken.summary
    assert sentence(broken, "lock").startswith("broke the DR lock held by bob@laptop-bob")
    assert_production(world)


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


CRASH_POINTS = ["lock", "readiness", "fence", "promote-db", "db-serving", "db-to-prod", "cache-failover",
                "scale-nodes", "compute-ready", "health-gate", "dns-switch", "db-multi-az"]


@pytest.mark.parametrize("step", CRASH_POINTS)
def test_crash_after_a_step_then_rerun_converges(world: World, step: str) -> None:
    with pytest.raises(SimulatedCrash):
        run(world, observer=CrashAfter(step))
    assert world.lock_item() is not None, "a crashed run leaves its lock behind"
    result = run(world)
    assert result.ok, result.summary
    assert sentence(result, "lock").startswith("took over the DR lock left by an earlier run on this host")
    assert_production(world)
    finished_before = CRASH_POINTS[:CRASH_POINTS.index(step) + 1]
    if "promote-db" in finished_before:
        assert statuses(result)["promote-db"] == "already"
        assert result.lag_at_promotion == 2.0, "the RPO paid survives the crash (journal)"
    if "scale-nodes" in finished_before:
        assert statuses(result)["scale-nodes"] == "already"
    if "fence" in finished_before:
        assert statuses(result)["fence"] == "already"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnreachableFast(ClientFactory):
    """The fast (primary-region) profile points at a closed port on 127.0.0.1: connection refused."""

    def __init__(self, base: ClientFactory, port: int) -> None:
        super().__init__(fast=fast_policy(20))
        self.base, self.url = base, f"http://127.0.0.1:{port}"

    def client(self, service: str, region: str, *, fast: bool = False) -> Any:
        if not fast:
            return self.base.client(service, region)
        return self._session.client(service, config=self.fast.config(region), endpoint_url=self.url)


def test_primary_unreachable_fence_times_out_is_recorded_and_the_run_goes_on(world: World) -> None:
    factory = UnreachableFast(world.factory(), _closed_port())
    result = run(world, factory=factory)
    assert result.ok, result.summary
    fence = result.record("fence")
    assert fence is not None and fence.status == "timed-out"
    assert fence.sentence.startswith("could not fence us-east-1: Route 53 did not answer within ")
    assert "going on — the DNS step flips the switch again" in fence.sentence
    assert fence.duration <= world.outputs.dr_timeouts.fence_timeout_seconds
    assert sentence(result, "dns-switch").startswith("switched DNS: switch ")
    assert_production(world)


def test_fast_profile_fits_in_the_fence_timeout() -> None:
    for timeout in (5, 20, 60):
        p = fast_policy(timeout)
        assert p.max_attempts * (p.connect_timeout + p.read_timeout) <= timeout
    assert ClientPolicy().config("us-west-2").retries == {"mode": "standard", "max_attempts": 8}


def _inject_errors(errors: list[tuple[str, int]]) -> tuple[Any, list[int]]:
    """A before-send handler answering the first calls with these (code, HTTP status) errors."""
    calls: list[int] = []

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self.body

    def handler(**_: Any) -> AWSResponse | None:
        calls.append(1)
        if len(calls) > len(errors):
            return None
        code, status = errors[len(calls) - 1]
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message>"
                f"</Error><RequestId>x</RequestId></ErrorResponse>").encode()
        return AWSResponse("https://rds.us-west-2.amazonaws.com/", status, {}, Raw(body))

    return handler, calls


def test_throttling_and_5xx_are_retried_by_botocore(world: World) -> None:
    handler, calls = _inject_errors([("Throttling", 400), ("InternalFailure", 500)])

    def on_client(client: Any, service: str, region: str, fast: bool) -> None:
        if service == "rds":
            client.meta.events.register("before-send.rds.PromoteReadReplica", handler)

    result = run(world, factory=world.factory(on_client=on_client))
    assert result.ok, result.summary
    assert len(calls) == 3, "a throttle and a 500 injected, then the real call"
    assert sentence(result, "promote-db").startswith("promoted 'hastack-prod-us-west-2' in us-west-2")


def test_promotion_refusal_table() -> None:
    replica = {"DBInstanceStatus": "available", "ReadReplicaSourceDBInstanceIdentifier": "arn:src"}
    cases = [
        (None, 1.0, False, "the DR replica 'db' does not exist in us-west-2"),
        ({**replica, "DBInstanceStatus": "backing-up"}, 1.0, False,
         "the DR replica 'db' is 'backing-up', not 'available' (RDS cannot promote a replica that is backing up "
         "or modifying)"),
        ({**replica, "StatusInfos": [{"StatusType": "read replication", "Status": "error"}]}, 1.0, False,
         "replication of 'db' is 'error', not 'replicating'"),
        (replica, None, False, "no CloudWatch ReplicaLag datapoint for 'db' in the last 10 minutes, so the data "
                               "loss cannot be bounded by the 60 s RPO budget; re-run with --accept-data-loss to "
                               "promote anyway"),
        (replica, 61.0, True, None),
        (replica, 60.0, False, None),
        ({"DBInstanceStatus": "available"}, None, False, None),  # already standalone: nothing to refuse
    ]
    for inst, lag, accept, expected in cases:
        assert steps.promotion_refusal(inst, "db", DR, lag, 60, accept) == expected, (inst, lag, accept)
