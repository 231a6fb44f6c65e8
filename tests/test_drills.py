"""Drills against moto (in-process `mock_aws`) and botocore's Stubber where moto lacks the API.

What must hold: a dry run records every step and changes nothing; a real run reboots the writer
*with failover* (ForceFailover=True reaches the API) and waits through a waiter; the cache drill
calls TestFailover on the right shard and waits for the completion event; refusals name the reason.
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
from hastack.dr.aws import factory_for
from hastack.dr.outputs import parse_outputs
from hastack.plan.render import Plan

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
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": DB_REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture()
def outputs_file(tmp_path: Path, prod_outputs: dict[str, Any]) -> Path:
    path = tmp_path / "outputs-prod.json"
    path.write_text(json.dumps(prod_outputs))
    return path


@pytest.fixture()
def targets(prod_outputs: dict[str, Any]) -> drills.DrillTargets:
    return drills.DrillTargets.from_outputs(parse_outputs(prod_outputs, "prod"))


def make_db(multi_az: bool = True) -> None:
    boto3.client("rds", region_name=DB_REGION).create_db_instance(
        DBInstanceIdentifier=DB_ID, DBInstanceClass="db.r6g.large", Engine="postgres", EngineVersion="16.4",
        AllocatedStorage=100, MasterUsername="hastack", MasterUserPassword="not-a-real-one-123",
        MultiAZ=multi_az)


class RecordingClients:
    """The drill's client factory, recording every API call's parameters (moto still answers)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str) -> Any:
        if (service, region) not in self.clients:
            client = factory_for(20, 600).client(service, region)
            client.meta.events.register("provide-client-params.*.*", self._record)
            self.clients[(service, region)] = client
        return self.clients[(service, region)]

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


# --------------------------------------------------------------------------------------------- db


def test_db_dry_run_records_every_step_and_changes_nothing(aws_env: None, targets: drills.DrillTargets) -> None:
    make_db()
    clients = RecordingClients()
    journal = drills.run_db_failover(targets, clients, dry_run=True, timeout_seconds=120)
    assert journal.outcome == "dry run"
    assert [s.status for s in journal.steps] == ["ok", "skipped (dry run)", "skipped (dry run)",
                                                 "skipped (dry run)"]
    assert all(s.started_at and s.ended_at for s in journal.steps)
    assert clients.names() == ["DescribeDBInstances"], "a dry run only reads"
    assert "ForceFailover=True" in journal.steps[1].detail


def test_db_real_run_reboots_with_failover_and_waits(aws_env: None, targets: drills.DrillTargets) -> None:
    make_db()
    clients = RecordingClients()
    journal = drills.run_db_failover(targets, clients, dry_run=False, timeout_seconds=120, poll_seconds=1)
    assert journal.outcome == "passed", journal.to_json()
    reboots = [params for name, params in clients.calls if name == "RebootDBInstance"]
    assert reboots == [{"DBInstanceIdentifier": DB_ID, "ForceFailover": True}]
    # the waiter polled DescribeDBInstances after the reboot
    assert clients.names().index("RebootDBInstance") < len(clients.names()) - 1
    assert "secondsUntilAvailable" in journal.measurements


def test_db_drill_refuses_a_single_az_instance(aws_env: None, targets: drills.DrillTargets) -> None:
    make_db(multi_az=False)
    clients = RecordingClients()
    journal = drills.run_db_failover(targets, clients, dry_run=False, timeout_seconds=120)
    assert journal.outcome == "failed"
    assert "is not Multi-AZ" in journal.steps[0].detail
    assert "RebootDBInstance" not in clients.names()


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
    assert data["drill"] == "db-failover" and data["dry_run"] is True
    assert data["outcome"] == "dry run"
    assert len(data["steps"]) == 4
    status = boto3.client("rds", region_name=DB_REGION).describe_db_instances(DBInstanceIdentifier=DB_ID)
    assert status["DBInstances"][0]["DBInstanceStatus"] == "available"


def test_cli_db_failed_drill_exits_1(aws_env: None, outputs_file: Path) -> None:
    result = CliRunner().invoke(app, ["drill", "db-failover", "-s", "prod", "--outputs", str(outputs_file), "--yes"])
    assert result.exit_code == 1
    assert f"{DB_ID!r} not found" in result.output or "DBInstanceNotFound" in result.output


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


class StubbedClients:
    """moto has no TestFailover: an ElastiCache client driven by botocore's Stubber."""

    def __init__(self) -> None:
        self.client = boto3.client("elasticache", region_name=DB_REGION, aws_access_key_id="x",
                                   aws_secret_access_key="x")
        self.stub = Stubber(self.client)

    def __call__(self, service: str, region: str) -> Any:
        assert (service, region) == ("elasticache", DB_REGION)
        return self.client


def test_cache_real_run_calls_test_failover_and_waits_for_completion(targets: drills.DrillTargets) -> None:
    clients = StubbedClients()
    s = clients.stub
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
        journal = drills.run_cache_failover(targets, clients, dry_run=False, timeout_seconds=60, poll_seconds=1)
    s.assert_no_pending_responses()
    assert journal.outcome == "passed", journal.to_json()
    assert journal.target["nodeGroupId"] == "0001"
    assert f"primary now {RG_ID}-002" in journal.steps[-1].detail
    assert {"secondsUntilFailoverCompleted", "secondsUntilAvailable"} <= set(journal.measurements)


def test_cache_dry_run_only_reads(targets: drills.DrillTargets) -> None:
    clients = StubbedClients()
    clients.stub.add_response("describe_replication_groups", group(f"{RG_ID}-001"), {"ReplicationGroupId": RG_ID})
    with clients.stub:  # any other call would fail: the Stubber has no response queued for it
        journal = drills.run_cache_failover(targets, clients, dry_run=True, timeout_seconds=60)
    assert journal.outcome == "dry run"
    assert [s.status for s in journal.steps][1:] == ["skipped (dry run)"] * 3


@pytest.mark.parametrize(("doc", "reason"), [
    (group(f"{RG_ID}-001", status="modifying"), "'modifying', not 'available'"),
    (group(f"{RG_ID}-001", failover="disabled"), "automatic failover 'disabled'"),
])
def test_cache_drill_refuses(doc: dict[str, Any], reason: str, targets: drills.DrillTargets) -> None:
    clients = StubbedClients()
    clients.stub.add_response("describe_replication_groups", doc, {"ReplicationGroupId": RG_ID})
    with clients.stub:
        journal = drills.run_cache_failover(targets, clients, dry_run=False, timeout_seconds=60)
    assert journal.outcome == "failed"
    assert reason in journal.steps[0].detail


def test_unknown_shard_is_named(targets: drills.DrillTargets) -> None:
    clients = StubbedClients()
    clients.stub.add_response("describe_replication_groups", group(f"{RG_ID}-001"), {"ReplicationGroupId": RG_ID})
    with clients.stub:
        journal = drills.run_cache_failover(targets, clients, dry_run=True, timeout_seconds=60, node_group_id="0009")
    assert journal.outcome == "failed"
    assert "has 0 member(s)" in journal.steps[0].detail
