"""`hastack dr scale-up | status | failback` through the real CLI, against the local world seeded from the prod plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hastack.cli import app
from hastack.plan.render import stack_output_json
from tests.dr_runs import DR, PRIMARY, ReplicaHeartbeat, answers, hostile_world, lease, put_lag_history, time_passes
from tests.dr_world import World

runner = CliRunner()
SHORT = {"leaseSeconds": 1.5, "leaseRenewSeconds": 0.5, "callTimeoutSeconds": 2, "waitTimeoutSeconds": 60,
         "dnsTtlSeconds": 0.5, "dnsPropagationSeconds": 0.5, "statusTimeoutSeconds": 10}


@pytest.fixture()
def world(prod_plan: Any, tmp_path: Path) -> Iterator[World]:
    with hostile_world(stack_output_json(prod_plan.outputs)) as w:
        raw = dict(w.raw)
        raw["drTimeouts"] = {**raw["drTimeouts"], **SHORT}
        raw["coordination"] = {**raw["coordination"], "leaseSeconds": SHORT["leaseSeconds"],
                               "leaseRenewSeconds": SHORT["leaseRenewSeconds"]}
        host, port = w.resolver()
        raw["dns"] = {**raw["dns"], "resolvers": [f"{host}:{port}"]}
        w.outputs_file = tmp_path / "outputs-prod.json"  # type: ignore[attr-defined]
        w.outputs_file.write_text(json.dumps(raw))  # type: ignore[attr-defined]
        yield w


def dr(world: World, *args: str, stack: str = "prod") -> Any:
    return runner.invoke(app, ["dr", *args, "--stack", stack, "--outputs", str(world.outputs_file)])  # type: ignore


def test_without_a_terminal_and_without_yes_nothing_changes(world: World) -> None:
    before = world.snapshot()
    result = dr(world, "scale-up")
    assert result.exit_code == 2
    assert ("refusing to change anything without confirmation: stdin is not a terminal; pass --yes to confirm"
            in result.output)
    assert world.snapshot() == before


def test_dry_run_json_is_one_document_and_its_exit_code(world: World) -> None:
    ready = dr(world, "scale-up", "--dry-run", "--json")
    assert ready.exit_code == 0, ready.stderr
    body = json.loads(ready.stdout)  # exactly one JSON document on stdout
    assert body["dryRun"] is True and body["ok"] is True and body["changed"] is False
    assert [s["name"] for s in body["steps"]][:4] == ["lock", "readiness", "revoke-lease", "lease-expired"]
    put_lag_history(world, DR, world.outputs.database.replica.identifier, [(0, -1)])
    not_ready = dr(world, "scale-up", "--dry-run", "--json")
    assert not_ready.exit_code == 1
    assert json.loads(not_ready.stdout)["summary"].startswith("dry run: NOT ready")
    assert lease(world) == {"holder": PRIMARY, "epoch": 1}


def test_scale_up_report_rerun_status_and_failback(world: World, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    first = dr(world, "scale-up", "--yes", "--poll-seconds", "0.2", "--report", str(report))
    assert first.exit_code == 0, first.output
    assert "us-west-2 is now production" in first.output
    assert "fence: fenced us-east-1: lease epoch 2 revoked at " in first.output
    assert "RTO: " in first.output and "from run start to DNS answering the DR region" in first.output
    assert "RPO (estimate): estimated data loss " in first.output
    assert "pulumi config set hastack:activeRegion us-west-2 -s prod" in first.output
    body = json.loads(report.read_text())
    assert body["ok"] and body["rtoSeconds"] > 0 and body["deployment"] == "hastack/prod"
    assert answers(world) == DR and lease(world) == {"holder": DR, "epoch": 3}

    again = dr(world, "scale-up", "--yes", "--poll-seconds", "0.2")
    assert again.exit_code == 0, again.output
    assert "nothing to do: us-west-2 is already production" in again.output

    status = dr(world, "status", "--json")
    assert status.exit_code == 0, status.output
    snap = json.loads(status.stdout)
    assert snap["dns"]["answers"] == DR and snap["cachePrimaryRegion"] == DR
    assert snap["lease"]["holder"] == DR and snap["lease"]["epoch"] == 3
    assert snap["switches"] == {"dr-ready": True, "primary-fenced": True}
    assert snap["databases"][DR]["role"].startswith("primary (Multi-AZ")
    assert [g["desired"] for g in snap["nodeGroups"][DR]] == [2, 2, 2]
    assert snap["lockHolder"] is None and snap["lastRun"]["ended"] is True and snap["lastRun"]["ok"] is True
    assert snap["readCount"] == snap["readTotal"]

    time_passes(world, 3600)
    original = world.outputs.database.primary.identifier
    with ReplicaHeartbeat(world, PRIMARY, original):  # the heartbeat reaches the new home replica
        back = dr(world, "failback", "--yes", "--poll-seconds", "0.2")
    assert back.exit_code == 0, back.output
    assert f"created replica '{original}' in us-east-1 of 'hastack-prod-us-west-2'" in back.output
    assert "us-east-1 is production again" in back.output
    assert "pulumi config set hastack:activeRegion us-east-1 -s prod" in back.output
    assert answers(world) == PRIMARY and lease(world) == {"holder": PRIMARY, "epoch": 5}
    back_again = dr(world, "failback", "--yes", "--poll-seconds", "0.2")
    assert back_again.exit_code == 0, back_again.output
    assert "nothing to do: us-east-1 is already production again" in back_again.output


def test_failback_before_any_failover_is_refused(world: World) -> None:
    result = dr(world, "failback", "--yes", "--poll-seconds", "0.2")
    assert result.exit_code == 1
    assert "fail back only after a scale-up made it the writer" in result.output


def test_a_stack_that_is_not_the_outputs_stack_is_a_user_error(world: World) -> None:
    result = dr(world, "scale-up", "--yes", stack="production")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--stack 'production' disagrees with the outputs: they belong to stack 'prod'" in result.output
    assert lease(world) == {"holder": PRIMARY, "epoch": 1}


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", "--outage-start 'yesterday': not a time; use ISO 8601 such as 2026-11-28T03:12:00Z"),
    ("2026-11-28T03:12:00", "--outage-start '2026-11-28T03:12:00': give a time zone (e.g. a trailing Z for UTC)"),
    ("2999-01-01T00:00:00Z", "--outage-start '2999-01-01T00:00:00Z' is in the future"),
])
def test_a_bad_outage_start_is_a_user_error(world: World, value: str, message: str) -> None:
    result = dr(world, "scale-up", "--yes", "--outage-start", value)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_missing_outputs_file_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dr", "scale-up", "--stack", "prod", "--outputs", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "no such file" in result.output and "Traceback" not in result.output
