"""`hastack policy check` end to end: plan file in, violation table and exit code out.

Each flip of the issue's "Done when" is applied to a copy of the rendered prod plan file; the real
command (pack process started and stopped per run, as in CI) must exit 1 and name the rule. The
deliberately unsafe config under tests/configs/ is rendered and checked with its own policy config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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
    assert code == 0 and report["passed"] is True and report["policyConfig"].endswith("policies/config/prod.json")
    assert report["policyPack"] == "hastack-ha" and report["version"] == "1.0.0"
    for v in report["violations"]:
        assert set(v) >= {"policy", "resource", "message", "enforcementLevel", "urn"}


def test_unsafe_config_end_to_end(tmp_path: Path) -> None:
    """Render the unsafe stack file, check it with the policy config derived from the same file."""
    rendered = runner.invoke(app, ["plan", "--stack", "prod", "--config", str(UNSAFE), "--build-dir", str(tmp_path),
                                   "--quiet"])
    assert rendered.exit_code == 0, rendered.output
    assert (tmp_path / "fmea-prod.md").is_file()
    code, out = check(str(tmp_path / "plan-prod.json"), "--stack-config", str(UNSAFE), "--json")
    assert code == 1, out
    report = json.loads(out)
    mandatory = [(v["policy"], v["message"]) for v in report["violations"] if v["enforcementLevel"] == "mandatory"]
    replicas = sorted(m for p, m in mandatory if p == "deployment-replicas")
    assert [m.split(" may run")[0] for m in replicas] == ["Deployment 'embedder' (us-east-1)",
                                                           "Deployment 'predictor' (us-east-1)"]
    (budget,) = [m for p, m in mandatory if p == "availability-budget"]
    assert "below the SLO of 99.999%" in budget and "No DR credit" not in budget
    assert {p for p, _ in mandatory} == {"deployment-replicas", "availability-budget"}


def test_user_errors_exit_2_without_traceback(prod_file: Path, tmp_path: Path) -> None:
    code, out = check(str(tmp_path / "missing.json"))
    assert code == 2 and "does not exist" in out and "Traceback" not in out
    code, out = check(str(prod_file), "--policy-config", str(REPO / "policies" / "config" / "staging.json"))
    assert code == 2 and "does not match the plan of stack 'prod'" in out and "'eu-west-1'" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rds-multi-az": {"enforcementLevel": "blocking"},
                               "deployment-replicas": {"prodMinReplicas": "three"}}))
    code, out = check(str(prod_file), "--policy-config", str(bad))
    assert code == 2 and "'blocking' is not a valid enforcement level" in out
    assert "deployment-replicas: prodMinReplicas: 'three' is not of type 'integer'" in out


def test_policy_config_can_raise_an_advisory_rule_to_mandatory(prod_file: Path, tmp_path: Path) -> None:
    config = json.loads((REPO / "policies" / "config" / "prod.json").read_text())
    config["standby-data-tier-redundancy"] = {**config.get("standby-data-tier-redundancy", {}),
                                              "enforcementLevel": "mandatory"}
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(config))
    code, out = check(str(prod_file), "--policy-config", str(path), "--json")
    assert code == 1
    assert {v["policy"] for v in json.loads(out)["violations"] if v["enforcementLevel"] == "mandatory"} == {
        "standby-data-tier-redundancy"}
