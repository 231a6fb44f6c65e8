"""`hastack policy check` end to end: plan file in, violation table and exit code out.

Each flip of the issue's "Done when" is applied to a copy of the rendered prod plan file; the real
command (pack process started and stopped per run, as in CI) must exit 1 and name the rule. The
policy config is derived from the stack file the plan was rendered from on every run: the
deliberately unsafe config under tests/configs/ is checked against itself, and a failover
(`activeRegion` set to the DR region) leaves `make policy` green.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hastack.cli import app
from hastack.plan.render import Plan
from tests.policy_helpers import DELETE, Mutation, drops, mutated, resource, set_prop, sets

REPO = Path(__file__).resolve().parent.parent
UNSAFE = REPO / "tests" / "configs" / "unsafe.yaml"
runner = CliRunner()


def check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["policy", "check", *args])
    return result.exit_code, result.output


def _one_nat(plan: dict[str, Any]) -> None:
    nat_a = resource(plan, "primary-net-nat-a")["id"]
    for rt in ("primary-net-private-b-rt", "primary-net-private-c-rt"):
        set_prop(plan, rt, "routes.0.natGatewayId", nat_a)


def _node_groups_in_one_az(plan: dict[str, Any]) -> None:
    subnet_a = resource(plan, "primary-net-private-a")["id"]
    for ng in ("primary-cluster-ng-b", "primary-cluster-ng-c"):
        set_prop(plan, ng, "subnetIds", [subnet_a])


def _ingress_from_anywhere(plan: dict[str, Any]) -> None:
    set_prop(plan, "primary-ingress-nodes-from-alb-predictor", "referencedSecurityGroupId", DELETE)
    set_prop(plan, "primary-ingress-nodes-from-alb-predictor", "cidrIpv4", "0.0.0.0/0")


FLIPS: list[tuple[str, Mutation, str]] = [
    ("multi-az-off", sets("db-primary", "multiAz", False), "rds-multi-az"),
    ("one-nat-for-all-azs", _one_nat, "nat-gateway-per-az"),
    ("node-groups-in-one-az", _node_groups_in_one_az, "eks-node-groups-span-azs"),
    ("replicas-1", sets("primary-workload-predictor-deployment", "spec.replicas", 1), "deployment-replicas"),
    ("pdb-removed", drops("primary-workload-predictor-pdb"), "deployment-pod-disruption-budget"),
    ("target-group-health-check-removed", sets("primary-ingress-predictor", "healthCheck", DELETE),
     "target-group-health-check"),
    ("encryption-off", sets("db-primary", "storageEncrypted", False), "encryption-at-rest"),
    ("ingress-from-0.0.0.0/0", _ingress_from_anywhere, "no-open-ingress"),
]


@pytest.fixture(scope="module")
def prod_file(prod_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "plan-prod.json"
    path.write_text(json.dumps(prod_plan.to_json()))
    return path


@pytest.mark.parametrize(("flip", "rule"), [f[1:] for f in FLIPS], ids=[f[0] for f in FLIPS])
def test_single_flip_fails_the_check_naming_the_rule(prod_plan: Plan, tmp_path: Path, flip: Mutation,
                                                     rule: str) -> None:
    path = tmp_path / "plan-prod.json"
    path.write_text(json.dumps(mutated(prod_plan.to_json(), flip)))
    code, out = check(str(path), "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["passed"] is False and rule in report["verdict"]
    assert rule in {v["policy"] for v in report["violations"] if v["enforcementLevel"] == "mandatory"}


def test_prod_plan_file_passes_with_a_table_and_verdict(prod_file: Path) -> None:
    code, out = check(str(prod_file))
    assert code == 0, out
    assert "policy violations" in out and "advisory" in out  # the advisory findings are listed
    assert out.strip().splitlines()[-1].startswith("PASS: stack 'prod'")


def test_json_report_lists_policy_resource_message_and_level(prod_file: Path) -> None:
    code, out = check(str(prod_file), "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] is True and report["policyConfig"] == "derived from Pulumi.prod.yaml"
    assert report["policyPack"] == "hastack-ha" and report["version"] == "1.0.0"
    for v in report["violations"]:
        assert set(v) >= {"policy", "resource", "message", "enforcementLevel", "urn"}


def test_unsafe_config_end_to_end(tmp_path: Path) -> None:
    """Render the unsafe stack file; the check derives its policy config from the same file by itself."""
    rendered = runner.invoke(app, ["plan", "--stack", "prod", "--config", str(UNSAFE), "--build-dir", str(tmp_path),
                                   "--quiet"])
    assert rendered.exit_code == 0, rendered.output
    assert (tmp_path / "fmea-prod.md").is_file()
    code, out = check(str(tmp_path / "plan-prod.json"), "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["policyConfig"] == "derived from tests/configs/unsafe.yaml"
    mandatory = [(v["policy"], v["message"]) for v in report["violations"] if v["enforcementLevel"] == "mandatory"]
    replicas = sorted(m for p, m in mandatory if p == "deployment-replicas")
    assert [m.split(" may run")[0] for m in replicas] == ["Deployment 'embedder' (us-east-1)",
                                                           "Deployment 'predictor' (us-east-1)"]
    (budget,) = [m for p, m in mandatory if p == "availability-budget"]
    assert "below the SLO of 99.999%" in budget and "No DR credit" not in budget
    assert {p for p, _ in mandatory} == {"deployment-replicas", "availability-budget"}


def make_commands(target: str, **variables: str) -> list[list[str]]:
    """The `hastack` arguments of each command `make <target>` runs (from `make -n`)."""
    assignments = [f"{k}={v}" for k, v in variables.items()]
    dry = subprocess.run(["make", "-n", "-s", target, *assignments], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return [shlex.split(line)[1:] for line in dry.stdout.splitlines() if line.split(" ", 1)[0].endswith("/bin/hastack")]


def test_a_failover_leaves_make_policy_green(tmp_path: Path) -> None:
    """`pulumi config set hastack:activeRegion <drRegion>` after `hastack dr scale-up`, then `make policy`.

    The stack file is a copy of Pulumi.prod.yaml with activeRegion flipped; `make policy`'s own
    commands run on it (plan rendered from that file, then the check with no config flag at all).
    """
    stack_file = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    stack_file["config"]["hastack:activeRegion"] = stack_file["config"]["hastack:drRegion"]
    failed_over = tmp_path / "Pulumi.prod.yaml"
    failed_over.write_text(yaml.safe_dump(stack_file, sort_keys=False))
    plan_command, check_command = make_commands("policy", STACK="prod")
    assert plan_command[-4:] == ["plan", "--stack", "prod", "--quiet"] and check_command[-3:-1] == ["policy", "check"]
    rendered = runner.invoke(app, [*plan_command, "--config", str(failed_over), "--build-dir", str(tmp_path)])
    assert rendered.exit_code == 0, rendered.output
    code, out = check(str(tmp_path / "plan-prod.json"), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["passed"] is True and report["policyConfig"] == f"derived from {failed_over}"
    # Until failback re-protects us-east-1 the serving region has no standby: still reported, not blocking.
    advisory = {v["policy"] for v in report["violations"] if v["enforcementLevel"] == "advisory"}
    assert {"cross-region-replica", "availability-budget"} <= advisory
    plan = json.loads((tmp_path / "plan-prod.json").read_text())
    assert plan["outputs"]["activeRegion"] == "us-west-2"


def test_user_errors_exit_2_without_traceback(prod_file: Path, tmp_path: Path) -> None:
    code, out = check(str(tmp_path / "missing.json"))
    assert code == 2 and "does not exist" in out and "Traceback" not in out
    staging = tmp_path / "staging.json"
    made = runner.invoke(app, ["policy", "config", "--stack", "staging", "--output", str(staging)])
    assert made.exit_code == 0, made.output
    code, out = check(str(prod_file), "--policy-config", str(staging))
    assert code == 2 and "does not match the plan of stack 'prod'" in out and "'eu-west-1'" in out
    code, out = check(str(prod_file), "--stack-config", str(REPO / "Pulumi.staging.yaml"))
    assert code == 2 and "does not match the plan of stack 'prod'" in out and "--stack-config" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rds-multi-az": {"enforcementLevel": "blocking"},
                               "deployment-replicas": {"prodMinReplicas": "three"}}))
    code, out = check(str(prod_file), "--policy-config", str(bad))
    assert code == 2 and "'blocking' is not a valid enforcement level" in out
    assert "deployment-replicas: prodMinReplicas: 'three' is not of type 'integer'" in out


def test_policy_config_can_raise_an_advisory_rule_to_mandatory(prod_file: Path, tmp_path: Path) -> None:
    config = json.loads(runner.invoke(app, ["policy", "config", "--stack", "prod"]).output)
    config["standby-data-tier-redundancy"] = {**config.get("standby-data-tier-redundancy", {}),
                                              "enforcementLevel": "mandatory"}
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(config))
    code, out = check(str(prod_file), "--policy-config", str(path), "--json")
    assert code == 1
    assert {v["policy"] for v in json.loads(out)["violations"] if v["enforcementLevel"] == "mandatory"} == {
        "standby-data-tier-redundancy"}
