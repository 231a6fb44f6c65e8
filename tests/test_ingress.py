"""Ingress: ALB per region over 3 public subnets, HTTPS only, instance targets on NodePorts, tight SGs."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.ingress import TLS_POLICY, IngressArgs, IngressService
from hastack.config import ConfigError, parse_config
from hastack.local import aws_resources
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import egress_rules, ingress_rules, node_security_group_id, one, public_subnets

ALB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
RULE = "aws:lb/listenerRule:ListenerRule"
ATTACHMENT = "aws:autoscaling/attachment:Attachment"
ROLES = ("primary", "dr")


def region_of(config: dict[str, Any], role: str) -> str:
    return config["hastack:primaryRegion" if role == "primary" else "hastack:drRegion"]


def alb(plan: Plan, role: str) -> dict[str, Any]:
    return one(plan, ALB, f"{role}-ingress-alb")


def service_ready_paths(config: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s.get("healthPaths", {}).get("ready", "/health/ready") for s in config["hastack:services"]}


@pytest.mark.parametrize("role", ROLES)
def test_internet_facing_alb_over_three_public_subnets(prod_plan: Plan, prod_config: dict[str, Any],
                                                       role: str) -> None:
    lb = alb(prod_plan, role)
    i = lb["inputs"]
    region = region_of(prod_config, role)
    subnets = public_subnets(prod_plan, region)
    assert lb["region"] == region
    assert i["internal"] is False and i["loadBalancerType"] == "application"
    assert sorted(i["subnets"]) == sorted(subnets) and len(set(subnets.values())) == 3
    assert i["enableCrossZoneLoadBalancing"] is True
    assert i["enableZonalShift"] is True, "the AZ-loss runbook starts a zonal shift without enabling it first"
    assert i["enableDeletionProtection"] is True
    assert i["dropInvalidHeaderFields"] is True
    assert len(lb["outputs"]["name"]) <= 32
    assert lb["outputs"]["arn"].endswith(lb["outputs"]["arnSuffix"])


@pytest.mark.parametrize("role", ROLES)
def test_https_listener_with_config_certificate_and_http_redirect(prod_plan: Plan, prod_config: dict[str, Any],
                                                                   role: str) -> None:
    arn = alb(prod_plan, role)["outputs"]["arn"]
    listeners = {r["inputs"]["port"]: r for r in prod_plan.of_type(LISTENER) if r["inputs"]["loadBalancerArn"] == arn}
    assert sorted(listeners) == [80, 443]
    https = listeners[443]["inputs"]
    assert https["protocol"] == "HTTPS" and https["sslPolicy"] == TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"] == prod_config["hastack:ingress"]["certificateArns"][region_of(prod_config, role)]
    [redirect] = listeners[80]["inputs"]["defaultActions"]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}


@pytest.mark.parametrize("role", ROLES)
def test_target_group_per_service_on_its_node_port_with_readiness_health_check(prod_plan: Plan,
                                                                                prod_config: dict[str, Any],
                                                                                role: str) -> None:
    node_ports = {s["name"]: s["nodePort"] for s in prod_plan.outputs["services"]}
    ready = service_ready_paths(prod_config)
    assert set(node_ports) == set(ready)
    for svc, port in node_ports.items():
        tg = one(prod_plan, TARGET_GROUP, f"{role}-ingress-{svc}")
        i = tg["inputs"]
        assert tg["region"] == region_of(prod_config, role)
        assert (i["targetType"], i["port"], i["protocol"]) == ("instance", port, "HTTP")
        hc = i["healthCheck"]
        assert hc["path"] == ready[svc] and hc["port"] == "traffic-port" and hc["matcher"] == "200"
        assert (hc["interval"], hc["timeout"], hc["healthyThreshold"], hc["unhealthyThreshold"]) == (10, 5, 2, 3)
        assert hc["timeout"] < hc["interval"]
        assert len(tg["outputs"]["name"]) <= 32


@pytest.mark.parametrize("role", ROLES)
def test_every_node_group_asg_is_attached_to_every_target_group(prod_plan: Plan, role: str) -> None:
    groups = [ng for ng in prod_plan.of_type("aws:eks/nodeGroup:NodeGroup") if ng["name"].startswith(f"{role}-")]
    asgs = {ng["outputs"]["resources"][0]["autoscalingGroups"][0]["name"] for ng in groups}
    assert len(asgs) == 3
    for svc in prod_plan.outputs["services"]:
        tg = one(prod_plan, TARGET_GROUP, f"{role}-ingress-{svc['name']}")
        attached = {a["inputs"]["autoscalingGroupName"] for a in prod_plan.of_type(ATTACHMENT)
                    if a["inputs"]["lbTargetGroupArn"] == tg["outputs"]["arn"]}
        assert attached == asgs, svc["name"]


@pytest.mark.parametrize("role", ROLES)
def test_listener_rule_per_service_on_host_and_path(prod_plan: Plan, prod_config: dict[str, Any], role: str) -> None:
    https = one(prod_plan, LISTENER, f"{role}-ingress-https")
    rules = [r for r in prod_plan.of_type(RULE) if r["inputs"]["listenerArn"] == https["outputs"]["arn"]]
    assert len({r["inputs"]["priority"] for r in rules}) == len(rules) == len(prod_config["hastack:services"])
    for svc in prod_config["hastack:services"]:
        rule = one(prod_plan, RULE, f"{role}-ingress-{svc['name']}-rule")["inputs"]
        conditions = {k: v["values"] for c in rule["conditions"] for k, v in c.items()}
        assert conditions == {"hostHeader": [prod_config["hastack:dns"]["recordName"]],
                              "pathPattern": [f"/{svc['name']}/*"]}
        tg = one(prod_plan, TARGET_GROUP, f"{role}-ingress-{svc['name']}")
        assert rule["actions"] == [{"type": "forward", "targetGroupArn": tg["outputs"]["arn"]}]
    # The first service is the default action: Route 53 checks its readiness path on the bare host.
    first = prod_config["hastack:services"][0]["name"]
    [default] = https["inputs"]["defaultActions"]
    assert default["targetGroupArn"] == one(prod_plan, TARGET_GROUP, f"{role}-ingress-{first}")["outputs"]["arn"]


@pytest.mark.parametrize("role", ROLES)
def test_alb_takes_80_443_from_the_internet_and_reaches_only_node_ports(prod_plan: Plan, role: str) -> None:
    [sg_id] = alb(prod_plan, role)["inputs"]["securityGroups"]
    opened = {(r["inputs"]["fromPort"], r["inputs"]["toPort"], r["inputs"].get("cidrIpv4") or r["inputs"]["cidrIpv6"])
              for r in ingress_rules(prod_plan, sg_id)}
    assert opened == {(p, p, c) for p in (80, 443) for c in ("0.0.0.0/0", "::/0")}
    node_ports = {s["nodePort"] for s in prod_plan.outputs["services"]}
    nodes = node_security_group_id(prod_plan, role)
    out = egress_rules(prod_plan, sg_id)
    assert {(r["inputs"]["fromPort"], r["inputs"]["referencedSecurityGroupId"]) for r in out} == {
        (p, nodes) for p in node_ports}


@pytest.mark.parametrize("role", ROLES)
def test_nodes_take_only_the_alb_on_the_node_ports(prod_plan: Plan, role: str) -> None:
    [alb_sg] = alb(prod_plan, role)["inputs"]["securityGroups"]
    nodes = node_security_group_id(prod_plan, role)
    rules = ingress_rules(prod_plan, nodes)
    from_alb = [r["inputs"] for r in rules if r["inputs"].get("referencedSecurityGroupId") == alb_sg]
    assert sorted((i["fromPort"], i["toPort"]) for i in from_alb) == sorted(
        (s["nodePort"], s["nodePort"]) for s in prod_plan.outputs["services"])
    assert all(i["ipProtocol"] == "tcp" for i in from_alb)
    assert not [r["urn"] for r in rules if "cidrIpv4" in r["inputs"] or "cidrIpv6" in r["inputs"]], \
        "no CIDR may reach the nodes directly"


def test_ingress_outputs_follow_the_contract(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    out = prod_plan.outputs["ingress"]
    assert set(out) == {prod_config["hastack:primaryRegion"], prod_config["hastack:drRegion"]}
    for role in ROLES:
        lb = alb(prod_plan, role)
        region = region_of(prod_config, role)
        assert out[region] == {
            "albArn": lb["outputs"]["arn"], "albDnsName": lb["outputs"]["dnsName"],
            "albZoneId": lb["outputs"]["zoneId"],
            "targetGroupArns": {s["name"]: one(prod_plan, TARGET_GROUP, f"{role}-ingress-{s['name']}")["outputs"]["arn"]
                                for s in prod_config["hastack:services"]},
        }
        assert out[region]["albArn"].startswith(f"arn:aws:elasticloadbalancing:{region}:")
        assert out[region]["albDnsName"].endswith(f".{region}.elb.amazonaws.com")


def test_staging_names_fit_the_32_character_limit(staging_plan: Plan) -> None:
    for typ in (ALB, TARGET_GROUP):
        for r in staging_plan.of_type(typ):
            assert len(r["outputs"]["name"]) <= 32, r["outputs"]["name"]


def _args(**overrides: Any) -> IngressArgs:
    base: dict[str, Any] = dict(
        role="primary", vpc_id="vpc-1", public_subnet_ids=["p1", "p2", "p3"],
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x", host_name="api.example.com",
        services=[IngressService("a", 30000, "/ready"), IngressService("b", 30001, "/ready")],
        node_security_group_id="sg-1", autoscaling_group_names=["asg-a"], name_prefix="hastack-test")
    base.update(overrides)
    return IngressArgs(**base)


def test_args_report_duplicate_or_out_of_range_node_ports_and_a_single_subnet_at_once() -> None:
    _args()
    problems = invalid_arguments(lambda: _args(
        public_subnet_ids=["p1"], autoscaling_group_names=[],
        services=[IngressService("a", 30000, "/r"), IngressService("a", 30000, "r"), IngressService("c", 8080, "/r")]))
    assert problems == [
        ("public_subnet_ids", "['p1'] is invalid: subnets in at least two AZs (an ALB needs two; give it one per AZ)"),
        ("autoscaling_group_names", "[] is invalid: the node groups' Auto Scaling groups (the targets attach to them)"),
        ("services[1].name", "'a' is invalid: a name no other service has (one target group each)"),
        ("services[1].node_port", "30000 is invalid: a node port no other service has"),
        ("services[1].health_path", "'r' is invalid: an absolute HTTP path"),
        ("services[2].node_port", "8080 is invalid: a Kubernetes node port, 30000-32767"),
    ]


def test_access_logs_are_off_unless_a_bucket_is_configured(prod_plan: Plan, prod_config: dict[str, Any],
                                                           render_config: Any) -> None:
    assert all("accessLogs" not in lb["inputs"] for lb in prod_plan.of_type(ALB))
    primary = prod_config["hastack:primaryRegion"]
    prod_config["hastack:ingress"]["accessLogBuckets"] = {primary: "acme-alb-logs-use1"}
    plan = render_config(prod_config)
    assert alb(plan, "primary")["inputs"]["accessLogs"] == {"enabled": True, "bucket": "acme-alb-logs-use1",
                                                           "prefix": "hastack-prod-primary"}
    assert "accessLogs" not in alb(plan, "dr")["inputs"]


@pytest.mark.parametrize(("buckets", "message"), [
    ({"eu-north-1": "logs"}, "hastack:ingress.accessLogBuckets.eu-north-1 = 'logs' is invalid: keys must be the"),
    ({"us-east-1": "Bad_Bucket"}, "hastack:ingress.accessLogBuckets.us-east-1 = 'Bad_Bucket' is invalid: an S3"),
])
def test_access_log_bucket_config_is_validated(prod_config: dict[str, Any], buckets: dict[str, str],
                                               message: str) -> None:
    raw = {k.split(":", 1)[1]: v for k, v in prod_config.items() if k.startswith("hastack:")}
    raw["ingress"]["accessLogBuckets"] = buckets
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert any(e.startswith(message) for e in err.value.errors), err.value.errors


class _Clients:
    """The `AwsClients` shape `aws_resources.Ctx` needs: one boto3 client per service and region."""

    def get(self, service: str, region: str) -> Any:
        return boto3.client(service, region_name=region)


def test_local_aws_load_balancer_gets_the_planned_attributes(prod_plan: Plan) -> None:
    """`hastack local up` hands the ALB's attributes (zonal shift included) to moto, not just the plan."""
    lb = alb(prod_plan, "primary")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZone=f"us-east-1{az}")
                   ["Subnet"]["SubnetId"] for i, az in enumerate("abc")]
        inputs = {**lb["inputs"], "subnets": subnets, "securityGroups": None}
        arn, _ = aws_resources.load_balancer(aws_resources.Ctx(_Clients(), "us-east-1", lb["name"], inputs, {}))
        attributes = {a["Key"]: a["Value"] for a in boto3.client("elbv2", region_name="us-east-1")
                      .describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attributes["zonal_shift.config.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "true"
