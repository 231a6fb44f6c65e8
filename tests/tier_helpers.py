"""Lookups the data/traffic-tier tests share: one resource by logical name, SG rules by group, ARN parts."""

from __future__ import annotations

from typing import Any

from hastack.plan.render import Plan

SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"


def one(plan: Plan, typ: str, name: str) -> dict[str, Any]:
    """The resource of type `typ` with logical name `name` (exactly one must exist)."""
    found = [r for r in plan.of_type(typ) if r["name"] == name]
    assert len(found) == 1, f"expected one {typ} named {name!r}, found {[r['urn'] for r in found]}"
    return found[0]


def ingress_rules(plan: Plan, security_group_id: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(SG_INGRESS) if r["inputs"]["securityGroupId"] == security_group_id]


def egress_rules(plan: Plan, security_group_id: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(SG_EGRESS) if r["inputs"]["securityGroupId"] == security_group_id]


def node_security_group_id(plan: Plan, role: str) -> str:
    """The worker nodes' SG of the region built as `role` (the cluster component's `<role>-cluster-node-sg`)."""
    return one(plan, SECURITY_GROUP, f"{role}-cluster-node-sg")["id"]


def private_subnets(plan: Plan, region: str) -> dict[str, str]:
    """subnet id -> AZ of the private subnets in `region`."""
    return {r["id"]: r["inputs"]["availabilityZone"] for r in plan.of_type("aws:ec2/subnet:Subnet")
            if r["region"] == region and r["inputs"]["tags"].get("kubernetes.io/role/internal-elb") == "1"}


def public_subnets(plan: Plan, region: str) -> dict[str, str]:
    return {r["id"]: r["inputs"]["availabilityZone"] for r in plan.of_type("aws:ec2/subnet:Subnet")
            if r["region"] == region and r["inputs"]["tags"].get("kubernetes.io/role/elb") == "1"}


def arn_region(arn: str) -> str:
    """`arn:aws:rds:us-east-1:...` -> `us-east-1`."""
    return arn.split(":")[3]


def kms_key_by_arn(plan: Plan, arn: str) -> dict[str, Any]:
    keys = [k for k in plan.of_type("aws:kms/key:Key") if k["outputs"]["arn"] == arn]
    assert len(keys) == 1, f"{arn} is not a KMS key of the plan (a customer-managed key is required)"
    return keys[0]
