"""Network: three AZs with no shared egress path, and every DR resource through the DR provider."""

from __future__ import annotations

import ipaddress

import pytest
from plan_helpers import by_id, descendants, in_role, is_private_subnet, region_component, subnet_az

from components.network import NetworkArgs, subnet_cidrs
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments


def test_primary_has_public_and_private_subnets_in_3_distinct_azs(prod_plan: Plan) -> None:
    subnets = in_role(prod_plan, "primary", "aws:ec2/subnet:Subnet")
    private = [s for s in subnets if is_private_subnet(s)]
    public = [s for s in subnets if not is_private_subnet(s)]
    for kind, group in (("private", private), ("public", public)):
        azs = {s["inputs"]["availabilityZone"] for s in group}
        assert len(group) == 3 and len(azs) == 3, f"{kind} subnets: {sorted(azs)}"
        assert all(az.startswith("us-east-1") for az in azs)
    assert all(s["region"] == "us-east-1" for s in subnets)


def test_primary_has_one_nat_gateway_per_az(prod_plan: Plan) -> None:
    azs_by_subnet = subnet_az(prod_plan)
    nats = in_role(prod_plan, "primary", "aws:ec2/natGateway:NatGateway")
    nat_azs = [azs_by_subnet[n["inputs"]["subnetId"]] for n in nats]
    assert len(nats) == 3 and len(set(nat_azs)) == 3, nat_azs
    public_ids = {s["id"] for s in prod_plan.of_type("aws:ec2/subnet:Subnet") if not is_private_subnet(s)}
    assert all(n["inputs"]["subnetId"] in public_ids for n in nats), "a NAT gateway must sit in a public subnet"


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_each_private_subnet_routes_through_the_nat_of_its_own_az(prod_plan: Plan, role: str) -> None:
    azs_by_subnet = subnet_az(prod_plan)
    nats = by_id(prod_plan, "aws:ec2/natGateway:NatGateway")
    tables = by_id(prod_plan, "aws:ec2/routeTable:RouteTable")
    associations = in_role(prod_plan, role, "aws:ec2/routeTableAssociation:RouteTableAssociation")
    private = [s for s in in_role(prod_plan, role, "aws:ec2/subnet:Subnet") if is_private_subnet(s)]
    used_nats = set()
    for subnet in private:
        [assoc] = [a for a in associations if a["inputs"]["subnetId"] == subnet["id"]]
        table = tables[assoc["inputs"]["routeTableId"]]
        [default] = [r for r in table["inputs"]["routes"] if r.get("cidrBlock") == "0.0.0.0/0"]
        nat = nats[default["natGatewayId"]]
        az = subnet["inputs"]["availabilityZone"]
        assert azs_by_subnet[nat["inputs"]["subnetId"]] == az, f"{subnet['urn']} egresses through another AZ's NAT"
        used_nats.add(nat["id"])
    assert len(used_nats) == 3


def test_dr_region_has_the_same_shape_through_its_own_provider(prod_plan: Plan) -> None:
    dr = region_component(prod_plan, "dr")
    [provider] = [r for r in descendants(prod_plan, dr["urn"]) if r["type"] == "pulumi:providers:aws"]
    assert provider["inputs"]["region"] == "us-west-2"
    aws_resources = [r for r in descendants(prod_plan, dr["urn"]) if r["type"].startswith("aws:")]
    assert len(aws_resources) > 30
    for r in aws_resources:
        assert r["region"] == "us-west-2", f"{r['urn']} is in {r['region']}"
        assert r["provider"] and r["provider"].startswith(provider["urn"] + "::"), f"{r['urn']} via {r['provider']}"
    dr_subnets = in_role(prod_plan, "dr", "aws:ec2/subnet:Subnet")
    assert len({s["inputs"]["availabilityZone"] for s in dr_subnets}) == 3
    assert len(in_role(prod_plan, "dr", "aws:ec2/natGateway:NatGateway")) == 3


def test_primary_resources_never_use_the_dr_provider(prod_plan: Plan) -> None:
    primary = region_component(prod_plan, "primary")
    for r in descendants(prod_plan, primary["urn"]):
        if r["type"].startswith("aws:"):
            assert r["region"] == "us-east-1", f"{r['urn']} is in {r['region']}"


def test_image_pulls_do_not_depend_on_nat(prod_plan: Plan) -> None:
    endpoints = in_role(prod_plan, "primary", "aws:ec2/vpcEndpoint:VpcEndpoint")
    services = {e["inputs"]["serviceName"] for e in endpoints}
    assert {"com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.ecr.api",
            "com.amazonaws.us-east-1.ecr.dkr"} <= services


@pytest.mark.parametrize("az_count", [3, 4, 5, 6])
@pytest.mark.parametrize("cidr", ["10.10.0.0/16", "10.20.0.0/20", "172.16.0.0/18"])
def test_subnet_cidrs_fit_in_the_vpc_without_overlap(cidr: str, az_count: int) -> None:
    """Every azCount the config allows (3..6), on the largest and smallest VPC it allows."""
    public, private = subnet_cidrs(cidr, az_count)
    nets = [ipaddress.ip_network(c) for c in public + private]
    assert len(public) == len(private) == az_count
    assert all(n.subnet_of(ipaddress.ip_network(cidr)) for n in nets)
    overlapping = [(str(a), str(b)) for i, a in enumerate(nets) for b in nets[i + 1:] if a.overlaps(b)]
    assert not overlapping, f"{cidr} with {az_count} AZs: {overlapping}"
    # Public subnets host an ALB node and a NAT gateway per AZ: an ALB needs at least a /27.
    assert all(ipaddress.ip_network(c).prefixlen <= 27 for c in public)
    assert all(ipaddress.ip_network(c).num_addresses > ipaddress.ip_network(public[0]).num_addresses
               for c in private), "private subnets (one address per pod) are the large ones"


def test_three_az_layout_is_unchanged() -> None:
    """A deployed 3-AZ stack keeps its subnets: a changed CIDR would replace subnets, NATs and their IPs."""
    assert subnet_cidrs("10.10.0.0/16", 3) == (
        ["10.10.128.0/20", "10.10.144.0/20", "10.10.160.0/20"],
        ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"])


def test_six_azs_take_public_subnets_from_the_last_quarter() -> None:
    public, private = subnet_cidrs("10.10.0.0/16", 6)
    assert private == [f"10.10.{32 * i}.0/19" for i in range(6)]
    assert public == [f"10.10.{192 + 8 * i}.0/21" for i in range(6)]


@pytest.mark.parametrize("az_count", [0, 7])
def test_subnet_cidrs_refuse_az_counts_the_split_cannot_hold(az_count: int) -> None:
    with pytest.raises(ValueError, match=f"az_count = {az_count} is invalid: 1 to 6 AZs"):
        subnet_cidrs("10.10.0.0/16", az_count)


def test_network_args_report_every_bad_argument_at_once() -> None:
    NetworkArgs(cidr_block="10.10.0.0/16", az_count=3, tags={}, cluster_name="c")
    problems = invalid_arguments(lambda: NetworkArgs(cidr_block="10.10.0.0/24", az_count=7, tags={}, cluster_name="c"))
    assert problems == [
        ("cidr_block", "'10.10.0.0/24' is invalid: an IPv4 network between /16 and /20 (the smallest leaves a /25 "
                       "public subnet per AZ)"),
        ("az_count", "7 is invalid: 1 to 6 AZs (what the 8-part split holds)"),
    ]
