"""`hastack dr scale-up | status | failback` through the real CLI, against moto seeded from the prod plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hastack.cli import app
from hastack.plan.render import stack_output_json
from tests.dr_world import World, make_world, put_replica_lag

runner = CliRunner()


@pytest.fixture()
def world(prod_plan: Any, tmp_path: Path) -> Iterator[World]:
    with make_world(stack_output_json(prod_plan.outputs)) as w:
        w.outputs_file = tmp_path / "outputs-prod.json"  # type: ignore[attr-defined]
        w.outputs_file.write_text(json.dumps(w.raw))  # type: ignore[attr-defined]
        yield w


def dr(world: World, *args: str) -> Any:
    return runner.invoke(app, ["dr", *args, "--stack", "prod", "--outputs", str(world.outputs_file)])  # type: ignore


def test_without_a_terminal_and_without_yes_nothing_changes(world: World) -> None:
    before = world.snapshot()
    result = dr(world, "scale-up")
    assert result.exit_code == 2
    assert ("refusing to change anything without confirmation: stdin is not a terminal; pass --yes to confirm"
            in result.output)
    assert world.snapshot() == before


def test_dry_run_json_and_its_exit_code(world: World) -> None:
    ready = dr(world, "scale-up", "--dry-run", "--json")
    assert ready.exit_code == 0, ready.output
    body = json.loads(ready.stdout)
    assert body["dryRun"] is True and body["ok"] is True and body["changed"] is False
    put_replica_lag(world.client, "us-west-2", world.outputs.database.replica.identifier, 300)
    not_ready = dr(world, "scale-up", "--dry-run", "--json")
    assert not_ready.exit_code == 1
    assert json.loads(not_ready.stdout)["summary"].startswith("dry run: NOT ready")
    assert world.switch_inverted() is False


def test_scale_up_report_rerun_status_and_failback(world: World, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    first = dr(world, "scale-up", "--yes", "--poll-seconds", "1", "--report", str(report))
    assert first.exit_code == 0, first.output
    assert "us-west-2 is now production" in first.output
    assert "RPO paid: replica lag at promotion 2.0s (budget 1m00.0s)" in first.output
    assert "pulumi config set hastack:activeRegion us-west-2 -s prod" in first.output
    body = json.loads(report.read_text())
    assert body["ok"] and body["rpoPaidSeconds"] == 2.0 and body["rtoSeconds"] > 0
    assert {s["name"] for s in body["steps"]} >= {"fence", "promote-db", "cache-failover", "scale-nodes", "dns-switch"}
    db = world.dr_db()
    assert db.get("ReadReplicaSourceDBInstanceIdentifier") is None and db["MultiAZ"] is True
    assert world.dr_sizes() == [(1, 2, 6)] * 3 and world.switch_inverted() is True

    again = dr(world, "scale-up", "--yes", "--poll-seconds", "1")
    assert again.exit_code == 0, again.output
    assert "nothing to do: us-west-2 is already production" in again.output

    status = dr(world, "status", "--json")
    assert status.exit_code == 0, status.output
    snap = json.loads(status.stdout)
    assert snap["trafficTo"] == "us-west-2" and snap["cachePrimaryRegion"] == "us-west-2"
    assert snap["databases"]["us-west-2"]["role"].startswith("primary (Multi-AZ")
    assert [g["desired"] for g in snap["nodeGroups"]["us-west-2"]] == [2, 2, 2]
    assert snap["lockHolder"] is None and snap["lastRun"]["finished"] is True

    original = "hastack-prod-us-east-1"
    put_replica_lag(world.client, "us-east-1", original, 0)
    back = dr(world, "failback", "--yes", "--poll-seconds", "1")
    assert back.exit_code == 0, back.output
    assert f"created replica '{original}' in us-east-1 of 'hastack-prod-us-west-2'" in back.output
    assert "us-east-1 is production again" in back.output
    assert "pulumi config set hastack:activeRegion us-east-1 -s prod" in back.output
    home = world.client("rds", "us-east-1").describe_db_instances(DBInstanceIdentifier=original)["DBInstances"]
    assert home[0].get("ReadReplicaSourceDBInstanceIdentifier") is None and home[0]["MultiAZ"] is True
    assert world.switch_inverted() is False and world.cache_primary() == "us-east-1"
    back_again = dr(world, "failback", "--yes", "--poll-seconds", "1")
    assert back_again.exit_code == 0, back_again.output
    assert "nothing to do: us-east-1 is already production again" in back_again.output


def test_failback_before_any_failover_is_refused(world: World) -> None:
    result = dr(world, "failback", "--yes", "--poll-seconds", "1")
    assert result.exit_code == 1
    assert "fail back only after a scale-up made it the writer" in result.output


def test_missing_outputs_file_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dr", "scale-up", "--stack", "prod", "--outputs", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "no such file" in result.output and "Traceback" not in result.output
