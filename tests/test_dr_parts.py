"""DR command parts that need no world: the cache step's exact requests (Stubber), the clock, the factory.

The outputs contract has its own tests: tests/test_outputs_contract.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hastack.dr import steps
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import SimClock
from hastack.dr.deployment import Deployment
from hastack.dr.journal import RunJournal
from hastack.dr.outputs import DrOutputs, parse_outputs
from hastack.dr.runner import Options, RunContext
from hastack.plan.render import stack_output_json


@pytest.fixture()
def outputs(prod_plan: Any) -> DrOutputs:
    return parse_outputs(copy.deepcopy(stack_output_json(prod_plan.outputs)), "prod")


class StubbedElastiCache(ClientFactory):
    def __init__(self, client: Any) -> None:
        super().__init__(2)
        self.stubbed = client

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        assert service == "elasticache" and region == "us-west-2", (service, region)
        return self.stubbed


def _group(gid: str, primary: str | None, status: str = "available") -> dict[str, Any]:
    members = [{"ReplicationGroupId": "hastack-prod-us-east-1", "ReplicationGroupRegion": "us-east-1",
                "Role": "PRIMARY" if primary == "us-east-1" else "SECONDARY", "Status": "associated"}]
    if primary is not None:
        members.append({"ReplicationGroupId": "hastack-prod-us-west-2", "ReplicationGroupRegion": "us-west-2",
                        "Role": "PRIMARY" if primary == "us-west-2" else "SECONDARY", "Status": "associated"})
    return {"GlobalReplicationGroups": [{"GlobalReplicationGroupId": gid, "Status": status, "Members": members}]}


def ctx_for(o: DrOutputs, aws: ClientFactory) -> RunContext:
    return RunContext(o, Deployment.of(o), aws, SimClock(), RunJournal(None, None, "test", read_only=True),
                      Options(poll_seconds=1), o.dr_region)


def test_cache_failover_sends_exactly_this_request(outputs: DrOutputs) -> None:
    gid = outputs.cache.global_datastore_id
    client = boto3.client("elasticache", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    describe = {"GlobalReplicationGroupId": gid, "ShowMemberInfo": True}
    with Stubber(client) as stub:
        stub.add_response("describe_global_replication_groups", _group(gid, "us-east-1"), describe)
        stub.add_response("describe_global_replication_groups", _group(gid, "us-east-1"), describe)
        stub.add_response("failover_global_replication_group",
                          {"GlobalReplicationGroup": {"GlobalReplicationGroupId": gid, "Status": "modifying"}},
                          {"GlobalReplicationGroupId": gid, "PrimaryRegion": "us-west-2",
                           "PrimaryReplicationGroupId": "hastack-prod-us-west-2"})
        stub.add_response("describe_global_replication_groups", _group(gid, "us-west-2"), describe)
        ctx = ctx_for(outputs, StubbedElastiCache(client))
        decision = steps.decide_cache(ctx, "us-west-2")
        said = steps.act_cache(ctx, "us-west-2")
        stub.assert_no_pending_responses()
    assert decision.verdict == "act"
    assert said == f"failed Global Datastore {gid!r} over: 'hastack-prod-us-west-2' in us-west-2 is primary after 0 s"


def test_refused_planned_failover_falls_back_to_disassociation(outputs: DrOutputs) -> None:
    gid = outputs.cache.global_datastore_id
    client = boto3.client("elasticache", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    describe = {"GlobalReplicationGroupId": gid, "ShowMemberInfo": True}
    with Stubber(client) as stub:
        stub.add_response("describe_global_replication_groups", _group(gid, "us-east-1"), describe)
        stub.add_client_error("failover_global_replication_group", "InvalidGlobalReplicationGroupState",
                              "the primary member is not available", http_status_code=400)
        stub.add_response("disassociate_global_replication_group",
                          {"GlobalReplicationGroup": {"GlobalReplicationGroupId": gid, "Status": "modifying"}},
                          {"GlobalReplicationGroupId": gid, "ReplicationGroupId": "hastack-prod-us-west-2",
                           "ReplicationGroupRegion": "us-west-2"})
        stub.add_response("describe_global_replication_groups", _group(gid, None), describe)
        ctx = ctx_for(outputs, StubbedElastiCache(client))
        said = steps.act_cache(ctx, "us-west-2")
        stub.assert_no_pending_responses()
    assert said.startswith("the planned failover was refused (InvalidGlobalReplicationGroupState: the primary member "
                           "is unavailable): disassociated 'hastack-prod-us-west-2' from Global Datastore")
    assert ctx.fact("cacheDisassociated")["group"] == "hastack-prod-us-west-2"


def test_global_datastore_already_on_dr_is_not_failed_over_again(outputs: DrOutputs) -> None:
    gid = outputs.cache.global_datastore_id
    client = boto3.client("elasticache", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("describe_global_replication_groups", _group(gid, "us-west-2"),
                          {"GlobalReplicationGroupId": gid, "ShowMemberInfo": True})
        decision = steps.decide_cache(ctx_for(outputs, StubbedElastiCache(client)), "us-west-2")
        stub.assert_no_pending_responses()  # no FailoverGlobalReplicationGroup call was made
    assert (decision.verdict, decision.sentence) == (
        "already", f"Global Datastore {gid!r} already has its primary 'hastack-prod-us-west-2' in us-west-2")


def test_sim_clock_runs_branches_in_parallel_and_nested() -> None:
    clock = SimClock()

    def branch(seconds: float) -> Any:
        def run() -> float:
            clock.sleep(seconds)
            return clock.now()
        return run

    def nested() -> tuple[float, list[float]]:
        clock.sleep(5)
        inner = clock.run_parallel([branch(10), branch(20)])
        return clock.now(), inner

    result = clock.run_parallel([branch(100), nested, branch(30)])
    assert result == [100.0, (25.0, [15.0, 25.0]), 30.0]
    assert clock.now() == 100.0
    json.dumps(result)


def test_a_helper_thread_never_holds_virtual_time_back() -> None:
    import threading

    clock = SimClock()
    helper = threading.Thread(target=lambda: clock.sleep(1))
    helper.start()
    clock.sleep(5)  # the helper's wake-up (1) comes first, then ours
    helper.join(timeout=5)
    assert not helper.is_alive() and clock.now() == 5.0
    clock.sleep(50)  # would wait forever if the ended helper still counted as a participant
    assert clock.now() == 55.0


def test_aws_endpoint_url_is_honoured_and_regions_are_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    factory = ClientFactory()
    rds = factory.client("rds", "us-west-2")
    assert rds.meta.endpoint_url == "http://127.0.0.1:5999" and rds.meta.region_name == "us-west-2"
    assert factory.client("rds", "us-west-2") is rds, "one client per (service, region, profile)"
    assert factory.client("rds", "us-west-2", probe=True) is not rds
    assert factory.endpoint_note() == "AWS endpoint overridden by AWS_ENDPOINT_URL=http://127.0.0.1:5999"
    with pytest.raises(ValueError, match="never uses a default region"):
        factory.client("rds", "")
