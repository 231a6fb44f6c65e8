"""The next `pulumi up` after `hastack dr scale-up` must not undo the failover.

Renders the real program with `hastack:activeRegion` = the DR region (what the DR command tells the
operator to set) and checks what the reconciling `pulumi up` would declare: the promoted DR
database standalone (no replicateSourceDb) and Multi-AZ at the prod class, the DR node groups at
prod size with desiredSize left to the DR command/autoscaler (ignore_changes), Route 53 and the
traffic switches exactly as before (their state lives in the DR region, where the DR command set
it), and the old primary instance kept untouched (protect + retain).
The pilot-light render is checked alongside, so the test fails if the two stop differing.
"""

from __future__ import annotations

from typing import Any

import pytest

from hastack.plan.render import Plan
from tests.route53_model import route53_answer

PRIMARY, DR = "us-east-1", "us-west-2"


@pytest.fixture(scope="module")
def failed_over(failed_over_plan: Plan) -> Plan:
    """prod rendered with `hastack:activeRegion` = the DR region (the session's shared render)."""
    return failed_over_plan


def _one(plan: Plan, typ: str, region: str, **match: Any) -> dict[str, Any]:
    found = [r for r in plan.of_type(typ) if r["region"] == region
             and all(r["inputs"].get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one {typ} in {region} matching {match}, got {[r['urn'] for r in found]}"
    return found[0]


def _db(plan: Plan, region: str) -> dict[str, Any]:
    return _one(plan, "aws:rds/instance:Instance", region)


def test_failed_over_exports_the_dr_region_as_active(failed_over: Plan, prod_plan: Plan) -> None:
    assert prod_plan.outputs["activeRegion"] == PRIMARY
    assert failed_over.outputs["activeRegion"] == DR


def test_promoted_dr_database_is_a_standalone_multi_az_writer(failed_over: Plan, prod_plan: Plan,
                                                               prod_config: dict[str, Any]) -> None:
    before, after = _db(prod_plan, DR)["inputs"], _db(failed_over, DR)["inputs"]
    assert before.get("replicateSourceDb"), "pilot-light: the DR instance is a cross-region replica"
    assert not after.get("replicateSourceDb"), after.get("replicateSourceDb")
    assert after["multiAz"] is True
    assert after["instanceClass"] == prod_config["hastack:database"]["instanceClass"]
    assert after["identifier"] == before["identifier"], "same instance: promotion, not replacement"


def test_old_primary_is_kept_as_evidence_and_left_to_reprotect(failed_over: Plan, prod_plan: Plan) -> None:
    old = _db(failed_over, PRIMARY)
    assert old["protect"] is True and old["retainOnDelete"] is True
    assert old["inputs"]["identifier"] == _db(prod_plan, PRIMARY)["inputs"]["identifier"]
    assert not old["inputs"].get("replicateSourceDb")


def test_dr_node_groups_at_prod_size_and_desired_size_not_fought(failed_over: Plan, prod_plan: Plan,
                                                                  prod_config: dict[str, Any]) -> None:
    prod_size = prod_config["hastack:nodes"]["primary"]
    dr_groups = [r for r in failed_over.of_type("aws:eks/nodeGroup:NodeGroup") if r["region"] == DR]
    assert len(dr_groups) == 3
    for group in dr_groups:
        scaling = group["inputs"]["scalingConfig"]
        assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == (
            prod_size["minSize"], prod_size["desiredSize"], prod_size["maxSize"]), group["urn"]
        assert "scalingConfig.desiredSize" in group["ignoreChanges"], group["urn"]
    pilot = [r for r in prod_plan.of_type("aws:eks/nodeGroup:NodeGroup") if r["region"] == DR]
    assert {r["inputs"]["scalingConfig"]["desiredSize"] for r in pilot} == {
        prod_config["hastack:nodes"]["dr"]["desiredSize"]}


def test_dns_stays_on_the_dr_region(failed_over: Plan, prod_plan: Plan) -> None:
    """The program holds no switch state: the switches the DR command set in the DR region keep DNS there."""
    route53 = {r["urn"]: r["inputs"] for r in failed_over.resources if r["type"].startswith("aws:route53/")}
    assert route53 and route53 == {r["urn"]: r["inputs"] for r in prod_plan.resources
                                   if r["type"].startswith("aws:route53/")}
    healthy = {PRIMARY: True, DR: True}
    assert route53_answer(failed_over, healthy, {"PrimaryFenced": 1, "DrReady": 1}) == DR
    assert route53_answer(failed_over, healthy, {"PrimaryFenced": 0, "DrReady": 1}) == PRIMARY, "failback"
