"""The offline runner plays the engine faithfully: process lifecycle, requests, policy config.

What could break: an orphaned pack process after a failure, a config reconciled differently from
the engine (defaults, `all`, schema validation), secrets sent in the clear, shipped per-stack
a policy config derived from the stack file that misses what the stack says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from hastack.plan.render import Plan
from hastack.policy.config import derive_policy_config, facts_for_stack, mismatches
from hastack.policy.runner import (
    PolicyConfigError,
    PolicyInfo,
    PolicyPackProcess,
    PolicyRunnerError,
    _RequestBuilder,
    engine_resources,
    reconcile_config,
    stack_urn,
)
from hastack.timings import availability_model_settings
from tests.policy_helpers import start_pack


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    yield from start_pack()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_pack_process_is_stopped_after_use_and_after_an_error() -> None:
    with PolicyPackProcess() as p:
        pid = p.pid
        assert pid is not None and not _gone(pid)
        assert p.plugin_version == "1.21.0"
    assert _gone(pid)
    with pytest.raises(RuntimeError), PolicyPackProcess() as p:
        pid = p.pid
        raise RuntimeError("a failure while the pack runs")
    assert p.proc is not None and p.proc.returncode is not None and _gone(pid)


def test_a_pack_that_dies_at_startup_is_reported_with_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('broken pack: no policies')\n")
    runner = PolicyPackProcess(tmp_path, startup_timeout=20)
    with pytest.raises(PolicyRunnerError, match="did not print its port") as err:
        runner.start()
    assert "broken pack: no policies" in str(err.value)
    assert runner.proc is not None and runner.proc.returncode is not None


def test_not_a_pack_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyRunnerError, match="no PulumiPolicy.yaml"):
        PolicyPackProcess(tmp_path).start()


def test_analyzer_info_describes_the_pack(pack: PolicyPackProcess) -> None:
    info = pack.info()
    assert info.name == "hastack-ha" and info.supportsConfig
    assert pack.version() == "1.0.0"  # PulumiPolicy.yaml wins, as in the engine
    kinds = {p.name: p.kind for p in pack.policies()}
    assert kinds["rds-multi-az"] == "resource" and kinds["availability-budget"] == "stack"


def test_requests_carry_parent_dependencies_providers_and_secrets(prod_plan: Plan) -> None:
    plan = prod_plan.to_json()
    resources = engine_resources(plan)
    assert resources[0]["type"] == "pulumi:pulumi:Stack" and resources[0]["urn"] == stack_urn(plan)
    builder = _RequestBuilder(resources)
    cache = next(r for r in resources if r["name"] == "cache-primary")
    stack_view = builder.stack_resource(cache)
    assert stack_view.parent == cache["parent"] and list(stack_view.dependencies) == cache["dependencies"]
    assert stack_view.provider.type == "pulumi:providers:aws"
    assert json_format.MessageToDict(stack_view.provider.properties)["region"] == "us-east-1"
    assert list(stack_view.propertyDependencies["authToken"].urns)[0].endswith("RandomPassword::cache-auth-token")
    props = json_format.MessageToDict(stack_view.properties)
    assert props["id"] == cache["id"]  # bridged providers echo the id in their outputs
    assert props["authToken"] == {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                  "value": "[secret]"}
    deployment = next(r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment")
    assert builder.analyze_request(deployment).provider.type == "pulumi:providers:kubernetes"


POLICIES = [
    PolicyInfo("a-rule", "A", "mandatory", "high", "fix", "resource",
               {"minReplicas": {"type": "integer", "default": 2}, "regions": {"type": "array"}}, ()),
    PolicyInfo("b-rule", "B", "advisory", "low", "fix", "stack", {}, ()),
]


def test_reconcile_config_like_the_engine() -> None:
    assert reconcile_config(POLICIES, {}, None) == {
        "a-rule": {"enforcementLevel": "mandatory", "properties": {"minReplicas": 2}},
        "b-rule": {"enforcementLevel": "advisory", "properties": {}}}
    result = reconcile_config(POLICIES, {}, {"all": "advisory", "a-rule": {"minReplicas": 3, "regions": ["x"]},
                                            "b-rule": "disabled"})
    assert result["a-rule"] == {"enforcementLevel": "advisory", "properties": {"minReplicas": 3, "regions": ["x"]}}
    assert result["b-rule"]["enforcementLevel"] == "disabled"


@pytest.mark.parametrize(("given", "message"), [
    ({"a-rule": "strict"}, "a-rule: 'strict' is not a valid enforcement level"),
    ({"c-rule": "mandatory"}, "c-rule: no such policy in the pack"),
    ({"a-rule": {"minReplicas": "3"}}, "a-rule: minReplicas: '3' is not of type 'integer'"),
    ({"a-rule": 3}, "a-rule: 3 is not a valid value"),
])
def test_reconcile_config_rejects_what_the_engine_rejects(given: dict, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        reconcile_config(POLICIES, {}, given)


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_policy_config_is_derived_from_the_stack_file(pack: PolicyPackProcess, stack: str) -> None:
    """What `hastack policy check` derives on every run: each policy gets the stack facts its schema asks for."""
    derived = derive_policy_config(facts_for_stack(stack), pack.policies())
    assert derived["availability-budget"]["availabilityTarget"] == {"prod": 99.95, "staging": 99.9}[stack]
    assert derived["deployment-replicas"]["production"] is (stack == "prod")
    schemas = {p.name: set(p.config_schema) for p in pack.policies()}
    assert all(set(settings) <= schemas[name] for name, settings in derived.items())  # no enforcementLevel


def test_while_failed_over_the_rules_that_need_a_standby_are_advisory(pack: PolicyPackProcess) -> None:
    facts = {**facts_for_stack("prod"), "activeRegion": "us-west-2", "pilotLightRegions": ["us-east-1"]}
    derived = derive_policy_config(facts, pack.policies())
    levels = {name: s["enforcementLevel"] for name, s in derived.items() if "enforcementLevel" in s}
    assert levels == {"cross-region-replica": "advisory", "availability-budget": "advisory"}
    assert derived["availability-budget"]["activeRegion"] == "us-west-2"


def test_policy_config_must_match_the_plan(pack: PolicyPackProcess, prod_plan: Plan) -> None:
    outputs = prod_plan.outputs
    assert mismatches(derive_policy_config(facts_for_stack("prod"), pack.policies()), outputs) == []
    problems = mismatches(derive_policy_config(facts_for_stack("staging"), pack.policies()), outputs)
    assert any("primaryRegion is 'eu-west-1' but the plan's primaryRegion output is 'us-east-1'" in p
               for p in problems)


def test_check_reports_resources_and_stack_findings(pack: PolicyPackProcess, prod_plan: Plan) -> None:
    settings = {"availabilityTarget": 99.9999, "activeRegion": "us-east-1", "drRegion": "us-west-2",
                "awsTimings": availability_model_settings()}
    # Properties alone don't re-enable a policy that `all` disabled (engine semantics)...
    assert pack.check(prod_plan.to_json(), {"all": "disabled", "availability-budget": settings}).violations == []
    report = pack.check(prod_plan.to_json(), {"all": "disabled", "availability-budget": {
        **settings, "enforcementLevel": "mandatory"}})
    assert report.resources == len(prod_plan.resources)
    (v,) = report.violations
    assert v.urn == stack_urn(prod_plan.to_json()) and v.enforcement_level == "mandatory"
    assert "below the SLO of 99.9999%" in v.message
    assert json.loads(json.dumps(report.to_json()))["passed"] is False
