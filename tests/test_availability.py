"""The availability model (policies/availability.py) and the FMEA `make plan` writes.

The math (k-of-n, shared lanes) is checked against hand-computed values; the model of the rendered
prod plan against what the architecture promises (tiers, DR credit, the SLO); single flips against
the drop they must cause; and the documentation against the model's own table.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hastack.plan.fmea import availability_model, pack_module, write_fmea
from hastack.plan.render import Plan
from hastack.policy.config import facts_for_stack
from tests.policy_helpers import drops, mutated, resource, set_prop, sets

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def av() -> ModuleType:
    return pack_module("availability")


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return facts_for_stack("prod")


def test_k_of_n(av: ModuleType) -> None:
    assert av.k_of_n(2, 3, 0.9) == pytest.approx(3 * 0.81 * 0.1 + 0.729)  # 0.972
    assert av.k_of_n(1, 1, 0.995) == pytest.approx(0.995)
    assert av.k_of_n(1, 2, 0.9) == pytest.approx(0.99)
    assert av.k_of_n(4, 3, 0.9) == 0.0 and av.k_of_n(0, 3, 0.1) == 1.0


def test_lanes_with_own_units_are_binomial_and_a_shared_unit_is_one_point(av: ModuleType) -> None:
    a = {"nat-a": 0.995, "nat-b": 0.995, "nat-c": 0.995}
    own = av.lanes_available([{"nat-a"}, {"nat-b"}, {"nat-c"}], a, 2)
    assert own == pytest.approx(av.k_of_n(2, 3, 0.995))
    shared = av.lanes_available([{"nat-a"}, {"nat-a"}, {"nat-a"}], a, 2)
    assert shared == pytest.approx(0.995)


def test_prod_model_meets_its_slo_with_the_dr_region(av: ModuleType, prod_plan: Plan, facts: dict[str, Any]) -> None:
    model = availability_model(prod_plan.to_json(), facts)
    tiers = {t.name: t for t in model.tiers}
    assert {"DNS", "ALB", "EKS control plane", "nodes per AZ", "NAT per AZ", "database", "cache",
            "pods: predictor", "pods: embedder"} == set(tiers)
    assert (tiers["nodes per AZ"].units, tiers["nodes per AZ"].required) == (3, 2)
    assert (tiers["NAT per AZ"].units, tiers["NAT per AZ"].required) == (3, 2)
    assert tiers["database"].availability == pytest.approx(0.9995)
    assert model.region == "us-east-1" and model.standby == "us-west-2" and model.dr_usable
    # A regional outage costs Route 53's detection (the gate's ALB check, 10 s x 3) plus the RTO (30 min),
    # against the tier's 4 h MTTR.
    assert model.detection_seconds == 30
    assert model.detection == "dns-primary-gate: 1 of 2 children failed (dns-primary-alb-check: 10 s x 3)"
    assert tiers["database"].dr_factor == pytest.approx((30 + 0.5) / 240)
    assert model.composite * 100 >= facts["availabilityTarget"]
    assert [f.name for f in model.failovers] == ["AZ lane lost: ALB detection", "RDS Multi-AZ failover (db-primary)",
                                                 "ElastiCache failover (cache-primary)"]
    assert model.failovers[0].seconds == 30  # the plan's target groups: 10 s x 3


def _one_nat(plan: dict[str, Any]) -> None:
    nat_a = resource(plan, "primary-net-nat-a")["id"]
    for rt in ("primary-net-private-b-rt", "primary-net-private-c-rt"):
        set_prop(plan, rt, "routes.0.natGatewayId", nat_a)


@pytest.mark.parametrize(("flip", "weakest"), [
    (sets("db-primary", "multiAz", False), "database"),
    (_one_nat, "NAT per AZ"),
    (sets("primary-workload-predictor-deployment", "spec.replicas", 1), "pods: predictor"),
    (sets("primary-cluster-ng-b", "scalingConfig.minSize", 0), "nodes per AZ"),
], ids=["single-az-db", "one-nat", "replicas-1", "az-without-nodes"])
def test_a_single_flip_breaks_the_budget(prod_plan: Plan, facts: dict[str, Any], flip: Any, weakest: str) -> None:
    model = availability_model(mutated(prod_plan.to_json(), flip), facts)
    assert model.composite * 100 < facts["availabilityTarget"]
    assert model.weakest.name == weakest


def test_without_a_secondary_record_there_is_no_dr_credit(prod_plan: Plan, facts: dict[str, Any]) -> None:
    model = availability_model(mutated(prod_plan.to_json(), drops("dns-secondary")), facts)
    assert not model.dr_usable and "SECONDARY in us-west-2" in model.dr_missing[0]
    assert all(t.dr_factor == 1.0 for t in model.tiers)
    assert model.composite * 100 < facts["availabilityTarget"]


def test_fmea_is_written_into_the_plan_output(av: ModuleType, prod_plan: Plan, facts: dict[str, Any],
                                             tmp_path: Path) -> None:
    plan = prod_plan.to_json()
    (tmp_path / "plan-prod.json").write_text(json.dumps(plan))
    paths = write_fmea(plan, facts, tmp_path)
    md = paths["fmea"].read_text()
    assert md.startswith("# FMEA: hastack/prod")
    assert "| component | failure | impact | mitigation | recovery time | availability | downtime/yr |" in md
    assert "| database: db-primary (Multi-AZ) |" in md and "region us-east-1" in md
    written = json.loads((tmp_path / "plan-prod.json").read_text())["availability"]
    assert written["meetsTarget"] is True and written["targetPercent"] == 99.95
    for row in written["fmea"]:
        assert {"component", "failure", "impact", "mitigation", "recovery"} <= set(row) and all(row.values())


def test_docs_cite_the_models_figures(av: ModuleType) -> None:
    doc = (REPO / "docs" / "availability.md").read_text()
    for figure in av.UNIT_AVAILABILITY.values():
        percent = f"{figure.value * 100:.2f}".rstrip("0").rstrip(".")
        assert re.search(rf"\| {re.escape(percent)} % \|", doc), percent
    for url in re.findall(r"https://aws\.amazon\.com/[a-z0-9/]+", av.__doc__ or ""):
        assert url in doc


def test_failed_over_plan_serves_from_the_dr_region_without_dr_credit(failed_over_plan: Plan,
                                                                     facts: dict[str, Any]) -> None:
    """After a failover the DR region serves; until failback re-protects, no region backs it up."""
    settings = {**facts, "activeRegion": "us-west-2", "pilotLightRegions": ["us-east-1"]}
    model = availability_model(failed_over_plan.to_json(), settings)
    tiers = {t.name: t for t in model.tiers}
    assert model.region == "us-west-2" and model.standby == "us-east-1"
    assert "cache-dr" in tiers["cache"].component and tiers["cache"].availability > 0.999
    assert "db-dr" in tiers["database"].component
    assert not model.dr_usable and any("replica of db-dr in us-east-1" in m for m in model.dr_missing)


def test_a_slower_health_check_costs_availability(prod_plan: Plan, facts: dict[str, Any]) -> None:
    """The PRIMARY record's detection time enters the budget: 300 s of detection costs more than 30 s."""
    plan = copy.deepcopy(prod_plan.to_json())  # the session's plan is shared: change a copy
    fast = availability_model(plan, facts)
    for r in plan["resources"]:
        if r["name"] == "dns-primary-alb-check":
            for props in (r["inputs"], r["outputs"]):
                props["requestInterval"], props["failureThreshold"] = 30, 10
    slow = availability_model(plan, facts)
    assert slow.detection_seconds == 300 and fast.detection_seconds == 30
    assert {t.name: t.dr_factor for t in slow.tiers}["database"] == pytest.approx((30 + 5) / 240)
    assert slow.composite < fast.composite
