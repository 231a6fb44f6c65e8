"""One module of AWS timings (`hastack/timings.py`), and every reader uses it.

The DR command's DNS step, the RTO simulation and the availability model must agree on how long AWS
takes. The pack is self-contained, so its figures travel through the derived policy config; these
tests check that what the model computes with is what the module says, that the model changes when
the figures do (it keeps no copy), and that it refuses to judge without them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hastack import timings
from hastack.dr import deployment, simulate
from hastack.plan.fmea import availability_model, pack_module, plan_graph
from hastack.plan.render import Plan
from hastack.policy.config import facts_for_stack
from hastack.policy.runner import PolicyPackProcess
from tests.policy_helpers import only, stack_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return facts_for_stack("prod")


def test_the_policy_config_carries_the_timings_module() -> None:
    carried = stack_config("prod")["availability-budget"]["awsTimings"]
    assert carried == json.loads(json.dumps(timings.availability_model_settings()))
    assert carried["rdsMultiAzFailover"] == {"seconds": timings.RDS_MULTI_AZ_FAILOVER.seconds,
                                             "source": timings.RDS_MULTI_AZ_FAILOVER.source, "assumption": False}


def test_the_model_computes_with_the_modules_figures(prod_plan: Plan, facts: dict[str, Any]) -> None:
    model = availability_model(prod_plan.to_json(), facts)
    by_name = {f.name.split(" (")[0]: f for f in model.failovers}
    rds, cache = by_name["RDS Multi-AZ failover"], by_name["ElastiCache failover"]
    assert (rds.seconds, rds.source) == (timings.RDS_MULTI_AZ_FAILOVER.seconds, timings.RDS_MULTI_AZ_FAILOVER.source)
    assert (cache.seconds, cache.source) == (timings.CACHE_MULTI_AZ_FAILOVER.seconds,
                                             timings.CACHE_MULTI_AZ_FAILOVER.source)
    dns = next(t for t in model.tiers if t.name == "DNS")
    assert timings.ROUTE53_DETECTION.source in dns.recovery and timings.DNS_SETTLE.source in dns.recovery
    cache_tier = next(t for t in model.tiers if t.name == "cache")
    assert timings.GLOBAL_DATASTORE_PROMOTION.source in cache_tier.recovery


def test_the_model_keeps_no_copy_of_the_figures(prod_plan: Plan, facts: dict[str, Any]) -> None:
    """Ten times slower RDS failovers in the config: ten times their downtime in the model."""
    slower = copy.deepcopy(facts)
    slower["awsTimings"]["rdsMultiAzFailover"]["seconds"] *= 10
    before = {f.name: f.downtime_seconds for f in availability_model(prod_plan.to_json(), facts).failovers}
    after = {f.name: f.downtime_seconds for f in availability_model(prod_plan.to_json(), slower).failovers}
    name = "RDS Multi-AZ failover (db-primary)"
    assert after[name] == pytest.approx(10 * before[name])
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}


def test_without_the_figures_the_model_refuses_to_guess(prod_plan: Plan, facts: dict[str, Any]) -> None:
    availability = pack_module("availability")
    partial = {**facts, "awsTimings": {k: v for k, v in facts["awsTimings"].items() if k != "nodeLaunch"}}
    with pytest.raises(availability.MissingTimingsError, match=r"awsTimings\.nodeLaunch"):
        availability.build_model(plan_graph(prod_plan.to_json()), partial)


def test_the_pack_without_timings_reports_it_cannot_judge(prod_plan: Plan) -> None:
    with PolicyPackProcess() as pack:
        config = only(pack, "availability-budget", stack_config("prod"))
        del config["availability-budget"]["awsTimings"]
        (violation,) = pack.check(prod_plan.to_json(), config).violations
    assert violation.policy == "availability-budget" and violation.enforcement_level == "mandatory"
    assert "cannot be judged" in violation.message and "hastack policy config" in violation.message


def test_the_simulation_and_the_dr_steps_use_the_module() -> None:
    d = simulate.Durations()
    assert dataclasses.asdict(d) == {
        "api_call_seconds": timings.API_CALL.seconds, "promote_replica_seconds": timings.REPLICA_PROMOTION.seconds,
        "multi_az_seconds": timings.MULTI_AZ_CONVERSION.seconds,
        "cache_failover_seconds": timings.GLOBAL_DATASTORE_PROMOTION.seconds,
        "node_launch_seconds": timings.NODE_LAUNCH.seconds, "image_pull_seconds": timings.IMAGE_PULL.seconds,
        "readiness_seconds": timings.POD_PROBE_PERIOD.seconds,
        "alb_check_seconds": timings.ALB_HEALTH_CHECK_INTERVAL.seconds,
        "alarm_evaluation_seconds": timings.ALARM_EVALUATION.seconds, "dns_settle_seconds": timings.DNS_SETTLE_SECONDS}
    # The DR command's DNS wait: dnsTtlSeconds + dnsPropagationSeconds, defaulting to the same figures.
    bounds = deployment.DEFAULT_BOUNDS
    assert bounds["dns_ttl_seconds"] + bounds["dns_propagation_seconds"] == timings.DNS_SETTLE_SECONDS


#: The AWS documentation pages the figures cite: a second copy of a figure would cite one again.
CITED_PAGES = ("Concepts.MultiAZ.Failover", "AutoFailover", "target-group-health-checks", "USER_ReadRepl.Promote",
               "API_ChangeResourceRecordSets", "resource-record-sets-values-failover", "Cluster Autoscaler")


@pytest.mark.parametrize("path", [*sorted((REPO / "policies").glob("*.py")), *sorted((REPO / "hastack").rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_no_other_module_keeps_a_timing_figure(path: Path) -> None:
    if path.name == "timings.py":
        return
    text = path.read_text()
    assert [page for page in CITED_PAGES if page in text] == []


def test_the_docs_state_the_modules_figures() -> None:
    dr = (REPO / "docs" / "dr.md").read_text()
    t = timings
    for row in (f"| {t.REPLICA_PROMOTION.seconds:g} |", f"| {t.GLOBAL_DATASTORE_PROMOTION.seconds:g} |",
                f"| {t.NODE_LAUNCH.seconds:g} + {t.IMAGE_PULL.seconds:g} + {t.POD_PROBE_PERIOD.seconds:g} + "
                f"{t.ALB_HEALTH_CHECK_INTERVAL.seconds:g} |",
                f"| {t.ROUTE53_PROPAGATION.seconds:g} + {t.ALIAS_TTL.seconds:g} |",
                f"| {t.MULTI_AZ_CONVERSION.seconds:g} |", f"| {t.API_CALL.seconds:g} |",
                f"| {t.ALARM_EVALUATION.seconds:g} |"):
        assert row in dr, row
    availability = (REPO / "docs" / "availability.md").read_text()
    for seconds in (t.RDS_MULTI_AZ_FAILOVER.seconds, t.CACHE_MULTI_AZ_FAILOVER.seconds):
        assert re.search(rf"\| {seconds:g} s \(", availability), seconds
    assert "hastack/timings.py" in dr and "hastack/timings.py" in availability
