"""DNS: ALB health checks, the switch and primary gate, failover alias records, failed-over render."""

from __future__ import annotations

from typing import Any

import pytest

from components.dns import DnsTarget, FailoverDnsArgs
from hastack.plan import mock_values
from hastack.plan.render import Plan
from hastack.topology import Topology
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import one

CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"


def region_of(config: dict[str, Any], role: str) -> str:
    return config["hastack:primaryRegion" if role == "primary" else "hastack:drRegion"]


def route53_answer(plan: Plan, alb_healthy: dict[str, bool]) -> str:
    """Which ALB DNS name Route 53 answers, from the plan's checks and records (Route 53's failover rules).

    An endpoint check is healthy as given; a disabled check is healthy; `invertHealthcheck` flips a
    status; a CALCULATED check is healthy when at least `childHealthThreshold` children are. PRIMARY is
    answered when its check is healthy, else SECONDARY when its check is healthy, else PRIMARY.
    """
    checks = {c["id"]: c for c in plan.of_type(CHECK)}
    check_fqdn = {c["id"]: c["inputs"]["fqdn"] for c in checks.values() if c["inputs"]["type"] == "HTTPS"}
    albs = {o["albDnsName"]: region for region, o in plan.outputs["ingress"].items()}

    def healthy(check_id: str) -> bool:
        i = checks[check_id]["inputs"]
        if i.get("disabled"):
            status = True
        elif i["type"] == "CALCULATED":
            status = sum(healthy(c) for c in i.get("childHealthchecks", [])) >= i["childHealthThreshold"]
        else:
            status = alb_healthy[albs[check_fqdn[check_id]]]
        return status != bool(i.get("invertHealthcheck"))

    records = {r["inputs"]["failoverRoutingPolicies"][0]["type"]: r["inputs"] for r in plan.of_type(RECORD)}
    for kind in ("PRIMARY", "SECONDARY"):
        if healthy(records[kind]["healthCheckId"]):
            return albs[records[kind]["aliases"][0]["name"]]
    return albs[records["PRIMARY"]["aliases"][0]["name"]]


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


def test_switch_is_an_always_healthy_calculated_check(prod_plan: Plan) -> None:
    switch = one(prod_plan, CHECK, "dns-switch")
    i = switch["inputs"]
    assert i["type"] == "CALCULATED" and i["disabled"] is True and i["invertHealthcheck"] is False
    assert i["childHealthThreshold"] == 0 and not i.get("childHealthchecks")
    assert prod_plan.outputs["dns"]["switchHealthCheckId"] == switch["id"]


def test_primary_gate_needs_primary_alb_and_switch(prod_plan: Plan) -> None:
    gate = one(prod_plan, CHECK, "dns-primary-gate")["inputs"]
    assert gate["type"] == "CALCULATED" and gate["childHealthThreshold"] == 2
    assert gate["childHealthchecks"] == [one(prod_plan, CHECK, "dns-primary-alb-check")["id"],
                                         one(prod_plan, CHECK, "dns-switch")["id"]]


def test_failover_alias_records(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    zone_id = mock_values.invoke_result("aws:route53/getZone:getZone", {"name": prod_config["hastack:dns"]["zoneName"]},
                                        "us-east-1")["zoneId"]
    ingress = prod_plan.outputs["ingress"]
    expected = {"PRIMARY": ("primary", one(prod_plan, CHECK, "dns-primary-gate")["id"]),
                "SECONDARY": ("dr", one(prod_plan, CHECK, "dns-dr-alb-check")["id"])}
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
    assert set(out) == {"hostedZoneId", "recordName", "healthCheckIds", "switchHealthCheckId"}
    assert set(out["healthCheckIds"]) == {prod_config["hastack:primaryRegion"], prod_config["hastack:drRegion"]}
    assert out["recordName"] == prod_config["hastack:dns"]["recordName"]


def test_routing_follows_health_and_the_switch(prod_plan: Plan, failed_over_plan: Plan,
                                               prod_config: dict[str, Any]) -> None:
    primary, dr = prod_config["hastack:primaryRegion"], prod_config["hastack:drRegion"]
    assert route53_answer(prod_plan, {primary: True, dr: True}) == primary
    assert route53_answer(prod_plan, {primary: False, dr: True}) == dr
    assert route53_answer(prod_plan, {primary: False, dr: False}) == primary
    # After the failover the switch stays flipped: DR serves even with the primary green again.
    assert route53_answer(failed_over_plan, {primary: True, dr: True}) == dr


def test_failed_over_declares_the_switch_inverted_and_changes_nothing_else(failed_over_plan: Plan,
                                                                           prod_plan: Plan) -> None:
    assert one(failed_over_plan, CHECK, "dns-switch")["inputs"]["invertHealthcheck"] is True
    for name in ("dns-primary", "dns-secondary"):
        assert one(failed_over_plan, RECORD, name)["inputs"] == one(prod_plan, RECORD, name)["inputs"], name
    for name in ("dns-primary-alb-check", "dns-dr-alb-check", "dns-primary-gate"):
        assert one(failed_over_plan, CHECK, name)["inputs"] == one(prod_plan, CHECK, name)["inputs"], name
    assert failed_over_plan.outputs["dns"] == prod_plan.outputs["dns"]


SERVING_EAST = Topology("us-east-1", "us-west-2", "us-east-1")


def _target(region: str) -> DnsTarget:
    return DnsTarget(region=region, alb_dns_name="x", alb_zone_id="Z", health_path="/ready")


def test_args_report_every_bad_argument_at_once() -> None:
    FailoverDnsArgs("example.com", "api.example.com", _target("us-east-1"), _target("us-west-2"),
                    None, SERVING_EAST)  # type: ignore[arg-type]
    problems = invalid_arguments(lambda: FailoverDnsArgs(
        "example.com", "api.example.org", _target("us-west-2"), _target("us-west-2"),
        None, SERVING_EAST, checker_regions=("us-east-1", "eu-west-1", "us-east-1")))  # type: ignore[arg-type]
    assert problems == [
        ("checker_regions", "['us-east-1', 'eu-west-1', 'us-east-1'] is invalid: at least 3 distinct regions "
                            "(Route 53 needs 3 checker regions)"),
        ("record_name", "'api.example.org' is invalid: a name inside zone 'example.com'"),
        ("primary.region", "'us-west-2' is invalid: the topology's primary region (us-east-1)"),
    ]
