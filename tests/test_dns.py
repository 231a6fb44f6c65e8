"""DNS: ALB health checks, the primary and secondary gates, failover alias records, failed-over render."""

from __future__ import annotations

from typing import Any

import pytest

from components.dns import DnsTarget, FailoverDnsArgs
from hastack.plan import mock_values
from hastack.plan.render import Plan
from hastack.topology import Topology
from tests.arg_helpers import invalid_arguments
from tests.route53_model import ALARM, CHECK, RECORD, route53_answer
from tests.tier_helpers import one

FENCED, READY = "PrimaryFenced", "DrReady"


def region_of(config: dict[str, Any], role: str) -> str:
    return config["hastack:primaryRegion" if role == "primary" else "hastack:drRegion"]


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_https_health_check_per_region_on_its_alb(prod_plan: Plan, prod_config: dict[str, Any], role: str) -> None:
    region = region_of(prod_config, role)
    check = one(prod_plan, CHECK, f"dns-{role}-alb-check")
    i = check["inputs"]
    first = prod_config["hastack:services"][0]
    assert i["type"] == "HTTPS" and i["port"] == 443
    assert i["fqdn"] == prod_plan.outputs["ingress"][region]["albDnsName"]
    assert i["resourcePath"] == first.get("healthPaths", {}).get("ready", "/health/ready")
    assert i["requestInterval"] == 10 and i["failureThreshold"] == 3
    assert len(set(i["regions"])) >= 3
    assert prod_plan.outputs["dns"]["healthCheckIds"][region] == check["id"]


def test_route53_goes_through_the_primary_regions_provider(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    for typ in (CHECK, RECORD):
        for r in prod_plan.of_type(typ):
            assert r["region"] == prod_config["hastack:primaryRegion"], r["urn"]


def test_primary_gate_needs_primary_alb_and_not_fenced(prod_plan: Plan) -> None:
    gate = one(prod_plan, CHECK, "dns-primary-gate")
    assert gate["inputs"]["type"] == "CALCULATED" and gate["inputs"]["childHealthThreshold"] == 2
    assert gate["inputs"]["childHealthchecks"] == [one(prod_plan, CHECK, "dns-primary-alb-check")["id"],
                                                   one(prod_plan, CHECK, "traffic-primary-switch")["id"]]
    assert prod_plan.outputs["trafficControl"]["healthCheckIds"]["primaryGate"] == gate["id"]


def test_secondary_gate_needs_dr_alb_and_dr_ready(prod_plan: Plan) -> None:
    gate = one(prod_plan, CHECK, "dns-secondary-gate")
    assert gate["inputs"]["type"] == "CALCULATED" and gate["inputs"]["childHealthThreshold"] == 2
    assert gate["inputs"]["childHealthchecks"] == [one(prod_plan, CHECK, "dns-dr-alb-check")["id"],
                                                   one(prod_plan, CHECK, "traffic-dr-ready")["id"]]
    assert prod_plan.outputs["trafficControl"]["healthCheckIds"]["secondaryGate"] == gate["id"]


def test_failover_alias_records(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    zone_id = mock_values.invoke_result("aws:route53/getZone:getZone", {"name": prod_config["hastack:dns"]["zoneName"]},
                                        "us-east-1")["zoneId"]
    ingress = prod_plan.outputs["ingress"]
    expected = {"PRIMARY": ("primary", one(prod_plan, CHECK, "dns-primary-gate")["id"]),
                "SECONDARY": ("dr", one(prod_plan, CHECK, "dns-secondary-gate")["id"])}
    for kind, (role, check_id) in expected.items():
        record = one(prod_plan, RECORD, f"dns-{kind.lower()}")["inputs"]
        target = ingress[region_of(prod_config, role)]
        assert record["zoneId"] == zone_id == prod_plan.outputs["dns"]["hostedZoneId"]
        assert record["name"] == prod_config["hastack:dns"]["recordName"] and record["type"] == "A"
        assert record["failoverRoutingPolicies"] == [{"type": kind}]
        assert record["healthCheckId"] == check_id
        assert record["aliases"] == [{"name": target["albDnsName"], "zoneId": target["albZoneId"],
                                      "evaluateTargetHealth": True}]
        assert "ttl" not in record and "records" not in record


def test_dns_outputs_follow_the_contract(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    out = prod_plan.outputs["dns"]
    assert set(out) == {"hostedZoneId", "recordName", "healthCheckIds", "resolvers"}
    assert set(out["healthCheckIds"]) == {prod_config["hastack:primaryRegion"], prod_config["hastack:drRegion"]}
    assert out["recordName"] == prod_config["hastack:dns"]["recordName"]
    assert out["resolvers"] == [], "default: the system resolver"


#: (primary ALB healthy, DR ALB healthy, last PrimaryFenced, last DrReady) -> the region answered.
#: None = never published. The story of an outage and a failover, step by step.
ROUTING = [
    ("normal: both ALBs up, nothing ever published", True, True, None, None, "primary"),
    ("outage: primary ALB down, pilot-light DR ALB healthy, DR not declared ready", False, True, None, None,
     "primary"),
    ("outage: both down (DR not scaled yet)", False, False, None, None, "primary"),
    ("fenced but DR not ready: both records unhealthy, last resort", False, True, 1, 0, "primary"),
    ("DR declared ready while the primary is down", False, True, None, 1, "dr"),
    ("cutover: fenced and ready, primary ALB answering again", True, True, 1, 1, "dr"),
    ("ready but DR ALB down and primary down", False, False, 1, 1, "primary"),
    ("failback: PrimaryFenced back to 0, DrReady still 1", True, True, 0, 1, "primary"),
    ("after failback: DrReady back to 0", True, True, 0, 0, "primary"),
]


@pytest.mark.parametrize(("story", "primary_up", "dr_up", "fenced", "ready", "answer"), ROUTING,
                         ids=[r[0] for r in ROUTING])
def test_routing_follows_health_and_the_switches(prod_plan: Plan, failed_over_plan: Plan,
                                                 prod_config: dict[str, Any], story: str, primary_up: bool,
                                                 dr_up: bool, fenced: int | None, ready: int | None,
                                                 answer: str) -> None:
    regions = {"primary": region_of(prod_config, "primary"), "dr": region_of(prod_config, "dr")}
    health = {regions["primary"]: primary_up, regions["dr"]: dr_up}
    for plan in (prod_plan, failed_over_plan):  # the switches' state lives in AWS, not in the program
        assert route53_answer(plan, health, {FENCED: fenced, READY: ready}) == regions[answer], story


def test_failed_over_render_leaves_route53_and_the_switches_untouched(failed_over_plan: Plan,
                                                                      prod_plan: Plan) -> None:
    before, after = _route53_and_switches(prod_plan), _route53_and_switches(failed_over_plan)
    assert len(before) >= 9 and before == after
    assert failed_over_plan.outputs["dns"] == prod_plan.outputs["dns"]
    assert failed_over_plan.outputs["trafficControl"] == prod_plan.outputs["trafficControl"]


def _route53_and_switches(plan: Plan) -> dict[str, Any]:
    return {r["urn"]: r["inputs"] for r in plan.resources
            if r["type"].startswith(("aws:route53/", "aws:route53recoverycontrol/"))
            or (r["type"] == ALARM and r["inputs"].get("namespace") == "hastack/TrafficControl")}


SERVING_EAST = Topology("us-east-1", "us-west-2", "us-east-1")


def _target(region: str) -> DnsTarget:
    return DnsTarget(region=region, alb_dns_name="x", alb_zone_id="Z", health_path="/ready")


def test_args_report_every_bad_argument_at_once() -> None:
    FailoverDnsArgs("example.com", "api.example.com", _target("us-east-1"), _target("us-west-2"),
                    None, SERVING_EAST, "p", "r")  # type: ignore[arg-type]
    problems = invalid_arguments(lambda: FailoverDnsArgs(
        "example.com", "api.example.org", _target("us-west-2"), _target("us-west-2"),
        None, SERVING_EAST, "p", "r",  # type: ignore[arg-type]
        checker_regions=("us-east-1", "eu-west-1", "us-east-1")))
    assert problems == [
        ("checker_regions", "['us-east-1', 'eu-west-1', 'us-east-1'] is invalid: at least 3 distinct regions "
                            "(Route 53 needs 3 checker regions)"),
        ("record_name", "'api.example.org' is invalid: a name inside zone 'example.com'"),
        ("primary.region", "'us-west-2' is invalid: the topology's primary region (us-east-1)"),
    ]
