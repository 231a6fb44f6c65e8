"""The stack outputs contract (hastack/outputs.py): the plan follows it, the DR command enforces it.

Malformed outputs files go through the real CLI (`hastack dr status` and `scale-up --dry-run`):
exit 2, one line per problem naming the key path, the bad value and what is allowed, no traceback.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hastack.cli import app
from hastack.dr.outputs import OutputsError, load_outputs, parse_outputs
from hastack.errors import EXIT_USER_ERROR, UserError
from hastack.outputs import StackOutputs, output_names, validate_outputs
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan, stack_output_json

runner = CliRunner()


@pytest.fixture()
def raw(prod_plan: Plan) -> dict[str, Any]:
    """A fresh, mutable copy of the prod plan's outputs as `pulumi stack output --json` prints them."""
    return copy.deepcopy(stack_output_json(prod_plan.outputs))


# ---------------------------------------------------------------------------------------------
# The plans follow the contract
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan_name", ["prod_plan", "staging_plan", "failed_over_plan"])
def test_every_plan_validates_and_round_trips_exactly(plan_name: str, request: pytest.FixtureRequest) -> None:
    outputs = stack_output_json(request.getfixturevalue(plan_name).outputs)
    model = StackOutputs.model_validate(outputs)
    dumped = model.model_dump(mode="json", by_alias=True)
    # Byte-equal JSON: a number stays an int where the plan has one (60, not 60.0).
    assert json.dumps(dumped, sort_keys=True) == json.dumps(outputs, sort_keys=True)
    assert StackOutputs.model_validate(dumped) == model
    assert list(outputs) == sorted(output_names())


def test_the_dr_view_of_the_prod_plan(raw: dict[str, Any]) -> None:
    o = parse_outputs(raw, "prod")
    assert o.stack == "prod"
    assert (o.primary_region, o.dr_region, o.active_region) == ("us-east-1", "us-west-2", "us-east-1")
    assert o.database.replica.region == "us-west-2" and o.database.prod_instance_class == "db.r6g.large"
    assert [g.prod_desired_size for g in o.dr_node_groups] == [2, 2, 2]
    assert set(o.ingress["us-west-2"].target_group_arns) == {s.name for s in o.services}
    assert (o.deployment.project, o.deployment.stack, o.deployment.id) == ("hastack", "prod", "hastack/prod")
    c = o.coordination
    assert (c.table_name, c.home_region, c.replica_regions, c.witness_region, c.consistency) == (
        "hastack-prod-dr-coordination", "us-west-2", ["us-east-1"], "us-east-2", "STRONG")
    assert (c.lease_key, c.lock_key, c.journal_key_prefix) == ("lease#hastack/prod", "dr-lock#hastack/prod",
                                                               "journal#hastack/prod#")
    t = o.dr_timeouts
    assert t.wait_timeout_seconds > t.fence_timeout_seconds > 0
    assert (t.lease_seconds, t.lease_renew_seconds, t.heartbeat_seconds, t.dns_ttl_seconds) == (15, 5, 5, 60)
    assert o.traffic_control.region == "us-west-2" and o.traffic_control.mode == "cloudwatch-alarm"
    assert o.replicas_of("predictor") == 3


def test_a_program_breaking_the_contract_fails_its_render(raw: dict[str, Any], tmp_path: Path) -> None:
    # In a fresh process: a render that failed inside an apply leaves pending applies in the event
    # loop, which would fail the next render of this worker.
    raw["drRegion"] = raw["primaryRegion"]
    (tmp_path / "outputs.json").write_text(json.dumps(raw))
    code = ("import json, sys\n"
            "from hastack.outputs import export_stack_outputs\n"
            "from hastack.plan.render import render\n"
            "values = json.load(open(sys.argv[1]))\n"
            "render('prod', program=lambda: export_stack_outputs(**values))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "outputs.json")], capture_output=True,
                          text=True, cwd=REPO_ROOT, check=False, timeout=120)
    assert done.returncode != 0
    assert "drRegion" in done.stderr and "should differ from primaryRegion (us-east-1)" in done.stderr


def test_the_contract_imports_without_the_pulumi_sdk() -> None:
    code = ("import sys; sys.modules['pulumi'] = None\n"
            "import hastack.outputs, hastack.dr.outputs\n"
            "print(len(hastack.outputs.output_names()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(StackOutputs.model_fields))


# ---------------------------------------------------------------------------------------------
# Malformed outputs: one line per problem
# ---------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `path` (dotted; list indexes as numbers) to `value`, or deleting it for DELETE."""
    def apply(raw: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = raw
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return apply


DELETE = object()

#: id -> (mutations, the exact problem lines). Each line: key path, bad value, what is allowed.
MALFORMED: dict[str, tuple[list[Callable[[dict[str, Any]], None]], list[str]]] = {
    "node group list is a number": (
        [_set("nodeGroups.us-west-2", 5)],
        ["nodeGroups.us-west-2 = 5: should be a list of {name, az, clusterName, minSize, desiredSize, maxSize}"]),
    "size is a word": (
        [_set("drNodeGroups.0.prodMinSize", "two")],
        ['drNodeGroups[0].prodMinSize = "two": should be an integer >= 0']),
    "database member is a string": (
        [_set("database.primary", "db")],
        ['database.primary = "db": should be an object {region, identifier, arn, endpoint, proxyEndpoint}']),
    "missing, wrong type and bool-for-int together": (
        [_set("coordination", DELETE), _set("database.replica.identifier", DELETE), _set("rpoBudgetSeconds", "sixty"),
         _set("services.0.replicas", True)],
        ['rpoBudgetSeconds = "sixty": should be a number > 0',
         "services[0].replicas = true: should be an integer >= 1",
         "database.replica.identifier: missing (a non-empty identifier without spaces)",
         "coordination: missing (an object {tableName, homeRegion, replicaRegions: [region], witnessRegion, "
         "consistency, keyAttribute, leaseKey, lockKey, journalKeyPrefix, leaseSeconds, leaseRenewSeconds})"]),
    "unknown key": (
        [lambda raw: raw.update(deploymnet=raw.pop("deployment"))],
        ["deployment: missing (an object {project, stack})",
         'deploymnet = {"project": "hastack", "stack": "prod"}: unknown key (did you mean '
         "'deployment'?)"]),
    "not a region": (
        [_set("drRegion", "mars-1")],
        ['drRegion = "mars-1": should be an AWS region such as us-east-1']),
    "markup-looking value is shown as is": (
        [_set("dns.hostedZoneId", "[/bold] x")],
        ['dns.hostedZoneId = "[/bold] x": should be a non-empty identifier without spaces']),
    "same region twice": (
        [_set("drRegion", "us-east-1")],
        ['drRegion = "us-east-1": should differ from primaryRegion (us-east-1): DR needs two regions']),
    "replica built elsewhere": (
        [_set("database.replica.region", "eu-west-1")],
        ['database.replica.region = "eu-west-1": should be the drRegion us-west-2 (members are named by the '
         "region they were built in)"]),
    "ingress lacks the DR region": (
        [_set("ingress.us-west-2", DELETE)],
        ['ingress = ["us-east-1"]: has no entry for the DR region us-west-2']),
    "sizes out of order": (
        [_set("drNodeGroups.1.prodDesiredSize", 9)],
        ["drNodeGroups[1].prodDesiredSize = 9: should be <= prodMaxSize (6)"]),
    "coordination table in the primary region": (
        [_set("coordination.homeRegion", "us-east-1")],
        ['coordination.homeRegion = "us-east-1": should be the DR region us-west-2: the DR command writes there '
         "while the primary is down"]),
    "witness outside the regions' MRSC set": (
        [_set("coordination.witnessRegion", "eu-west-1")],
        ['coordination.witnessRegion = "eu-west-1": should be a region of the MRSC set of us-east-1 and us-west-2: '
         "one of us-east-2"]),
    "single-region table with a replica": (
        [_set("coordination.consistency", "single-region"), _set("coordination.witnessRegion", None)],
        ['coordination.replicaRegions = ["us-east-1"]: should be empty for a single-region table']),
    "lock key of another deployment": (
        [_set("coordination.lockKey", "dr-lock#hastack/production")],
        ["coordination.lockKey = \"dr-lock#hastack/production\": should be 'dr-lock#hastack/prod' (from deployment)"]),
    "lease length disagrees with drTimeouts": (
        [_set("coordination.leaseSeconds", 30)],
        ["coordination.leaseSeconds = 30: should equal drTimeouts.leaseSeconds (15)"]),
    "lease renewed too rarely": (
        [_set("coordination.leaseRenewSeconds", 6), _set("drTimeouts.leaseRenewSeconds", 6)],
        ["coordination.leaseRenewSeconds = 6: should be <= leaseSeconds / 3 (5)"]),
    "switches flipped in the primary region": (
        [_set("trafficControl.region", "us-east-1")],
        ['trafficControl.region = "us-east-1": should be the DR region us-west-2: the switches are flipped in the '
         "region that is up"]),
    "mode says arc but only alarms are there": (
        [_set("trafficControl.mode", "arc")],
        ['trafficControl.cloudwatchAlarm = {"dimensions": {"Deployment": "hastack/prod"}, "drReady":...: should be '
         "null: mode is arc",
         "trafficControl.arc = null: should be set: mode is arc"]),
    "metrics of another deployment": (
        [_set("trafficControl.cloudwatchAlarm.dimensions", {"Deployment": "hastack/staging"})],
        ['trafficControl.cloudwatchAlarm.dimensions = {"Deployment": "hastack/staging"}: should be '
         "{Deployment: hastack/prod}"]),
}


def _malformed(raw: dict[str, Any], case: str) -> dict[str, Any]:
    for mutate in MALFORMED[case][0]:
        mutate(raw)
    return raw


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_problem_is_one_line(raw: dict[str, Any], case: str) -> None:
    with pytest.raises(OutputsError) as info:
        parse_outputs(_malformed(raw, case), "prod")
    head, *lines = str(info.value).splitlines()
    want = MALFORMED[case][1]
    count = f"{len(want)} problem{'s' if len(want) != 1 else ''}"
    assert head == (f"stack 'prod': the outputs do not follow the contract ({count}; "
                    "see the README's \"Stack outputs\"):")
    assert lines == [f"  - {line}" for line in want]
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("command", [["status"], ["scale-up", "--dry-run"]])
@pytest.mark.parametrize("case", ["node group list is a number", "size is a word", "database member is a string",
                                  "missing, wrong type and bool-for-int together",
                                  "markup-looking value is shown as is"])
def test_malformed_outputs_through_the_cli(raw: dict[str, Any], tmp_path: Path, command: list[str],
                                           case: str) -> None:
    path = tmp_path / "outputs-prod.json"
    path.write_text(json.dumps(_malformed(raw, case)))
    result = runner.invoke(app, ["dr", *command, "--stack", "prod", "--outputs", str(path)])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit, no crash
    lines = result.output.strip().splitlines()
    want = MALFORMED[case][1]
    assert lines[0].startswith("error: stack 'prod': the outputs do not follow the contract")
    assert lines[1:] == [f"  - {line}" for line in want]


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", ""])
def test_an_outputs_file_that_is_not_an_object(tmp_path: Path, content: str) -> None:
    path = tmp_path / "outputs-prod.json"
    path.write_text(content)
    result = runner.invoke(app, ["dr", "status", "--stack", "prod", "--outputs", str(path)])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ("should be a JSON object" if content.startswith("[") else "not valid JSON") in result.output


def test_outputs_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(OutputsError, match=r"--outputs .*nope.json: no such file \(run `make plan STACK=prod`"):
        load_outputs("prod", tmp_path / "nope.json")
    with pytest.raises(OutputsError, match="outputs should be a JSON object of output name -> value, got list"):
        validate_outputs([], "stack 'prod'")


def test_without_outputs_file_and_without_pulumi_cli_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(OutputsError, match="the pulumi CLI is not installed: pass --outputs FILE"):
        load_outputs("prod", None)
