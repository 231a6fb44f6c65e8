"""Drills on the shared runner, against moto (in-process `mock_aws`) and botocore's Stubber where moto lacks the API.

What must hold: a dry run decides every step and changes nothing; a real run reboots the writer
*with failover* (ForceFailover=True reaches the API) and waits through a waiter; the cache drill
calls TestFailover on the right shard and waits for the completion event; refusals name the reason;
a drill takes the DR lock like any run (it never overlaps a failover).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from typer.testing import CliRunner

from hastack.cli import app
from hastack.dr import drills
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Deployment
from hastack.dr.lock import DrLock
from hastack.dr.outputs import DrOutputs, parse_outputs
from hastack.dr.runner import Options
from hastack.plan.render import Plan
from tests.dr_runs import coordination_table

DB_REGION = "us-east-1"
#: What the prod plan's outputs name (database.primary.identifier, cache.primary.replicationGroupId).
DB_ID = "hastack-prod-us-east-1"
RG_ID = "hastack-prod-us-east-1"


@pytest.fixture()
def prod_outputs(prod_plan: Plan) -> dict[str, Any]:
    """The real prod plan's stack outputs (the full contract the DR loader checks)."""
    outputs = prod_plan.outputs
    assert outputs["database"]["primary"]["identifier"] == DB_ID
    assert outputs["cache"]["primary"]["replicationGroupId"] == RG_ID
    return outputs


@pytest.fixture()
def outputs(prod_outputs: dict[str, Any]) -> DrOutputs:
    return parse_outputs(prod_outputs, "prod")


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, outputs: DrOutputs) -> Iterator[None]:
    """moto, with the coordination table the drills lock in."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": DB_REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    c = Deployment.of(outputs).coordination
    with mock_aws():
        coordination_table(c.region, c.table, c.key)
        yield


@pytest.fixture()
def outputs_file(tmp_path: Path, prod_outputs: dict[str, Any]) -> Path:
    path = tmp_path / "outputs-prod.json"
    path.write_text(json.dumps(prod_outputs))
    return path


def make_db(multi_az: bool = True) -> None:
    boto3.client("rds", region_name=DB_REGION).create_db_instance(
        DBInstanceIdentifier=DB_ID, DBInstanceClass="db.r6g.large", Engine="postgres", EngineVersion="16.4",
        AllocatedStorage=100, MasterUsername="hastack", MasterUserPassword="not-a-real-one-123",
        MultiAZ=multi_az)


class Recording(ClientFactory):
    """The runner's client factory, recording every API call's parameters (moto still answers)."""

    def __init__(self) -> None:
        super().__init__(5, on_client=self._attach)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _attach(self, client: Any, service: str, region: str, probe: bool) -> None:
        client.meta.events.register("provide-client-params.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self, service_ops: set[str] | None = None) -> list[str]:
        return [n for n, _ in self.calls if service_ops is None or n in service_ops]


RDS_OPS = {"DescribeDBInstances", "RebootDBInstance"}


def db_drill(outputs: DrOutputs, aws: ClientFactory, dry_run: bool) -> Any:
    return drills.run_drill("db-failover", drills.db_failover_plan(outputs), outputs, aws,
                            Options(dry_run=dry_run, poll_seconds=1), wait_timeout_seconds=120)


def statuses(result: Any) -> list[tuple[str, str]]:
    return [(r.name, r.status) for r in result.records]


# --------------------------------------------------------------------------------------------- db


def test_db_dry_run_decides_every_step_and_changes_nothing(aws_env: None, outputs: DrOutputs) -> None:
    make_db()
    aws = Recording()
    result = db_drill(outputs, aws, dry_run=True)
    assert result.ok and drills.outcome(result) == "dry run"
    assert statuses(result) == [("lock", "planned"), ("check-writer", "planned"), ("reboot-with-failover", "planned"),
                                ("writer-available", "planned"), ("az-moved", "planned"), ("unlock", "planned")]
    assert aws.names(RDS_OPS) == ["DescribeDBInstances"], "a dry run only reads"
    assert "ForceFailover=True" in result.record("reboot-with-failover").sentence  # type: ignore[union-attr]


def test_db_real_run_reboots_with_failover_and_waits(aws_env: None, outputs: DrOutputs) -> None:
    make_db()
    aws = Recording()
    result = db_drill(outputs, aws, dry_run=False)
    assert result.ok and drills.outcome(result) == "passed", result.summary
    reboots = [params for name, params in aws.calls if name == "RebootDBInstance"]
    assert reboots == [{"DBInstanceIdentifier": DB_ID, "ForceFailover": True}]
    names = aws.names(RDS_OPS)
    assert names.index("RebootDBInstance") < len(names) - 1, "the waiter polled after the reboot"
    assert "secondsUntilAvailable" in drills.measurements(result)
    assert statuses(result)[0] == ("lock", "done") and statuses(result)[-1] == ("unlock", "done")


def test_db_drill_refuses_a_single_az_instance(aws_env: None, outputs: DrOutputs) -> None:
    make_db(multi_az=False)
    aws = Recording()
    result = db_drill(outputs, aws, dry_run=False)
    assert drills.outcome(result) == "failed"
    assert "is not Multi-AZ" in result.record("check-writer").sentence  # type: ignore[union-attr]
    assert "RebootDBInstance" not in aws.names()


def test_a_drill_never_overlaps_a_failover(aws_env: None, outputs: DrOutputs) -> None:
    make_db()
    held = DrLock(ClientFactory(5), Deployment.of(outputs).coordination, "dr scale-up", 60)
    held.acquire()
    held.start_renewing()
    try:
        aws = Recording()
        result = db_drill(outputs, aws, dry_run=False)
    finally:
        held.release()
    assert drills.outcome(result) == "failed"
    assert result.record("lock").sentence.startswith("DR lock held by ")  # type: ignore[union-attr]
    assert "RebootDBInstance" not in aws.names()


def test_db_failover_refusals() -> None:
    ok = {"DBInstanceIdentifier": "db", "MultiAZ": True, "DBInstanceStatus": "available"}
    assert drills.db_failover_refusal(ok) is None
    assert "'modifying'" in str(drills.db_failover_refusal({**ok, "DBInstanceStatus": "modifying"}))
    assert "read replica" in str(drills.db_failover_refusal({**ok, "ReadReplicaSourceDBInstanceIdentifier": "x"}))


def test_cli_db_dry_run_writes_report(aws_env: None, outputs_file: Path, tmp_path: Path) -> None:
    make_db()
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["drill", "db-failover", "--stack", "prod", "--outputs", str(outputs_file),
                                      "--dry-run", "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["drill"] == "db-failover" and data["dryRun"] is True
    assert data["outcome"] == "dry run"
    assert [s["name"] for s in data["steps"]] == ["lock", "check-writer", "reboot-with-failover", "writer-available",
                                                  "az-moved", "unlock"]
    status = boto3.client("rds", region_name=DB_REGION).describe_db_instances(DBInstanceIdentifier=DB_ID)
    assert status["DBInstances"][0]["DBInstanceStatus"] == "available"


def test_cli_db_failed_drill_exits_1(aws_env: None, outputs_file: Path) -> None:
    result = CliRunner().invoke(app, ["drill", "db-failover", "-s", "prod", "--outputs", str(outputs_file), "--yes"])
    assert result.exit_code == 1
    assert "DBInstanceNotFound" in result.output


def test_cli_user_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["drill", "db-failover", "--stack", "prod", "--outputs",
                                       str(tmp_path / "nope.json"), "--dry-run"])
    assert missing.exit_code == 2 and "no such file" in missing.output and "Traceback" not in missing.output
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"database": {}}))
    bad = CliRunner().invoke(app, ["drill", "db-failover", "--stack", "prod", "--outputs", str(partial),
                                   "--dry-run"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "  - database.primary: missing (an object {region, identifier, arn, endpoint, proxyEndpoint})" \
        in bad.output.splitlines()


def test_cli_refuses_to_act_without_a_terminal_or_yes(aws_env: None, outputs_file: Path) -> None:
    make_db()
    result = CliRunner().invoke(app, ["drill", "db-failover", "--stack", "prod", "--outputs", str(outputs_file)])
    assert result.exit_code == 2 and "pass --yes" in result.output


def test_cli_asks_before_acting(aws_env: None, outputs_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_db()
    monkeypatch.setattr(drills, "_stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(app, ["drill", "db-failover", "--stack", "prod", "--outputs", str(outputs_file)],
                                input="n\n")
    assert result.exit_code == 2 and "nothing was changed" in result.output


# ------------------------------------------------------------------------------------------ cache


def group(primary: str, status: str = "available", failover: str = "enabled") -> dict[str, Any]:
    members = [{"CacheClusterId": f"{RG_ID}-001", "CacheNodeId": "0001", "PreferredAvailabilityZone": "us-east-1a",
                "CurrentRole": "primary" if primary.endswith("001") else "replica"},
               {"CacheClusterId": f"{RG_ID}-002", "CacheNodeId": "0001", "PreferredAvailabilityZone": "us-east-1b",
                "CurrentRole": "primary" if primary.endswith("002") else "replica"}]
    return {"ReplicationGroups": [{"ReplicationGroupId": RG_ID, "Status": status, "AutomaticFailover": failover,
                                   "NodeGroups": [{"NodeGroupId": "0001", "Status": status,
                                                   "NodeGroupMembers": members}]}]}


class StubbedCache(ClientFactory):
    """moto has no TestFailover: ElastiCache through botocore's Stubber; the coordination table in moto."""

    def __init__(self) -> None:
        super().__init__(5)
        self.ec = boto3.client("elasticache", region_name=DB_REGION, aws_access_key_id="x", aws_secret_access_key="x")
        self.stub = Stubber(self.ec)

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        if service == "elasticache":
            assert region == DB_REGION
            return self.ec
        return super().client(service, region, probe=probe, endpoint_url=endpoint_url)


def cache_drill(outputs: DrOutputs, aws: ClientFactory, dry_run: bool, node_group: str | None = None) -> Any:
    return drills.run_drill("cache-failover", drills.cache_failover_plan(outputs, node_group), outputs, aws,
                            Options(dry_run=dry_run, poll_seconds=1), wait_timeout_seconds=60)


def test_cache_real_run_calls_test_failover_and_waits_for_completion(aws_env: None, outputs: DrOutputs) -> None:
    aws = StubbedCache()
    s = aws.stub
    s.add_response("describe_replication_groups", group(f"{RG_ID}-001"), {"ReplicationGroupId": RG_ID})
    s.add_response("test_failover", {"ReplicationGroup": {"ReplicationGroupId": RG_ID}},
                   {"ReplicationGroupId": RG_ID, "NodeGroupId": "0001"})
    events = {"SourceType": "replication-group", "SourceIdentifier": RG_ID, "StartTime": ANY}
    s.add_response("describe_events", {"Events": [{"Message": "Test Failover API called for node group 0001",
                                                   "Date": datetime.now(UTC)}]}, events)
    s.add_response("describe_events", {"Events": [{"Message": f"Failover from primary node {RG_ID}-001 to replica "
                                                   f"node {RG_ID}-002 completed", "Date": datetime.now(UTC)}]}, events)
    s.add_response("describe_replication_groups", group(f"{RG_ID}-002"), {"ReplicationGroupId": RG_ID})
    s.add_response("describe_replication_groups", group(f"{RG_ID}-002"), {"ReplicationGroupId": RG_ID})
    with s:
        result = cache_drill(outputs, aws, dry_run=False)
    s.assert_no_pending_responses()
    assert drills.outcome(result) == "passed", result.summary
    assert result.report["nodeGroupId"] == "0001"
    assert f"primary now {RG_ID}-002" in result.record("group-available").sentence  # type: ignore[union-attr]
    assert {"secondsUntilFailoverCompleted", "secondsUntilAvailable"} <= set(drills.measurements(result))


def test_cache_dry_run_only_reads(aws_env: None, outputs: DrOutputs) -> None:
    aws = StubbedCache()
    aws.stub.add_response("describe_replication_groups", group(f"{RG_ID}-001"), {"ReplicationGroupId": RG_ID})
    with aws.stub:  # any other ElastiCache call would fail: the Stubber has no response queued for it
        result = cache_drill(outputs, aws, dry_run=True)
    assert drills.outcome(result) == "dry run"
    assert [st for _, st in statuses(result)][2:-1] == ["planned"] * 3


@pytest.mark.parametrize(("doc", "reason"), [
    (group(f"{RG_ID}-001", status="modifying"), "'modifying', not 'available'"),
    (group(f"{RG_ID}-001", failover="disabled"), "automatic failover 'disabled'"),
])
def test_cache_drill_refuses(aws_env: None, outputs: DrOutputs, doc: dict[str, Any], reason: str) -> None:
    aws = StubbedCache()
    aws.stub.add_response("describe_replication_groups", doc, {"ReplicationGroupId": RG_ID})
    with aws.stub:
        result = cache_drill(outputs, aws, dry_run=False)
    assert drills.outcome(result) == "failed"
    assert reason in result.record("check-group").sentence  # type: ignore[union-attr]


def test_unknown_shard_is_named(aws_env: None, outputs: DrOutputs) -> None:
    aws = StubbedCache()
    aws.stub.add_response("describe_replication_groups", group(f"{RG_ID}-001"), {"ReplicationGroupId": RG_ID})
    with aws.stub:
        result = cache_drill(outputs, aws, dry_run=True, node_group="0009")
    assert drills.outcome(result) == "dry run: would fail"
    assert "has 0 member(s)" in result.record("check-group").sentence  # type: ignore[union-attr]
