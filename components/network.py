"""Network: a VPC spread over three Availability Zones with no shared egress path.

Why one NAT gateway per AZ: a NAT gateway lives in one AZ. With a single shared one, losing that
AZ cuts every private subnet off from the internet — the cluster can no longer pull images or
reach AWS APIs in the surviving AZs. So each AZ gets its own NAT gateway and its own private
route table pointing at it. Gateway/interface VPC endpoints for S3 and ECR keep pulls from the
account's private ECR off the NAT path; images from other registries (public.ecr.aws included, which
no VPC endpoint serves) still pull through NAT — the README's "Container images" says how to mirror them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid


@dataclass
class NetworkArgs:
    """Inputs of `Network`."""

    cidr_block: str
    az_count: int
    #: Tags every child carries (environment, region role, ...).
    tags: dict[str, str]
    #: Name of the EKS cluster that will use the subnets (for load-balancer subnet discovery tags).
    cluster_name: str

    def __post_init__(self) -> None:
        require_valid("NetworkArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        try:
            prefix = ipaddress.IPv4Network(self.cidr_block, strict=True).prefixlen
        except ValueError:
            prefix = None
        if prefix is None or not MIN_VPC_PREFIX <= prefix <= MAX_VPC_PREFIX:
            yield ArgProblem("cidr_block", self.cidr_block, f"an IPv4 network between /{MIN_VPC_PREFIX} and "
                             f"/{MAX_VPC_PREFIX} (the smallest leaves a /25 public subnet per AZ)")
        if not 1 <= self.az_count <= MAX_AZS:
            yield ArgProblem("az_count", self.az_count, f"1 to {MAX_AZS} AZs (what the 8-part split holds)")


#: With up to this many AZs the public subnets are the halves of the VPC's eighths 4 and 5 (the layout
#: deployed 3-AZ stacks have); with more, private subnets take those eighths too.
HALF_EIGHTH_PUBLIC_MAX_AZS = 4
MAX_AZS = 6
#: VPC sizes the split is made for (the largest VPC AWS allows is a /16).
MIN_VPC_PREFIX, MAX_VPC_PREFIX = 16, 20


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Split the VPC into `az_count` private and `az_count` smaller public subnets that never overlap.

    The VPC is cut in 8 equal parts. Private subnets take parts 0..n-1 (the pods live there: with the
    VPC CNI every pod takes an address). Public subnets (ALB and NAT gateways only) take:

    * 1-4 AZs: the halves of parts 4 and 5 — unchanged from the first layout, so a deployed 3-AZ
      stack keeps its subnets (a new CIDR replaces the subnet, its NAT gateway and its public IP);
    * 5-6 AZs: parts 4 and 5 are private, so the last quarter (parts 6 and 7) is cut in 8: a /21 per
      AZ in a /16, a /25 in a /20 (an ALB needs a /27 with 8 free addresses).
    """
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"subnet_cidrs: az_count = {az_count} is invalid: 1 to {MAX_AZS} AZs fit the 8-part split")
    vpc = ipaddress.ip_network(vpc_cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    private = [str(eighths[i]) for i in range(az_count)]
    if az_count <= HALF_EIGHTH_PUBLIC_MAX_AZS:
        halves = [half for eighth in eighths[4:6] for half in eighth.subnets(prefixlen_diff=1)]
        public = [str(halves[i]) for i in range(az_count)]
    else:
        last_quarter = list(vpc.subnets(prefixlen_diff=2))[3]
        public = [str(part) for part in list(last_quarter.subnets(prefixlen_diff=3))[:az_count]]
    return public, private


class Network(pulumi.ComponentResource):
    """VPC, public and private subnets in each AZ, one NAT gateway and route table per AZ, endpoints."""

    vpc_id: pulumi.Output[str]
    azs: list[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    nat_gateway_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # AZ names are looked up through this region's provider, never hard-coded: AZ letters map
        # to different physical zones in each account, and not every region has the same ones.
        zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self))
        if len(zones.names) < args.az_count:
            raise pulumi.RunError(
                f"{name}: the region offers {len(zones.names)} available AZs but hastack:azCount is {args.az_count}"
            )
        self.azs = list(zones.names[: args.az_count])

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**args.tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        self.vpc_id = self.vpc.id
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={**args.tags, "Name": f"{name}-igw"}, opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**args.tags, "Name": f"{name}-public"},
            opts=child,
        )

        public_cidrs, private_cidrs = subnet_cidrs(args.cidr_block, args.az_count)
        self.public_subnet_ids, self.private_subnet_ids, self.nat_gateway_ids = [], [], []
        self.private_route_table_ids: list[pulumi.Output[str]] = []
        for i, az in enumerate(self.azs):
            self._build_az(name, args, az, public_cidrs[i], private_cidrs[i], public_rt, child)

        self._build_endpoints(name, args, child)

        self.register_outputs({
            "vpcId": self.vpc_id,
            "azs": self.azs,
            "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids,
            "natGatewayIds": self.nat_gateway_ids,
        })

    def _build_az(self, name: str, args: NetworkArgs, az: str, public_cidr: str, private_cidr: str,
                  public_rt: aws.ec2.RouteTable, child: pulumi.ResourceOptions) -> None:
        """One AZ: its public subnet and NAT gateway, its private subnet routed through that NAT only."""
        suffix = az[-1]
        public = aws.ec2.Subnet(
            f"{name}-public-{suffix}",
            vpc_id=self.vpc.id,
            cidr_block=public_cidr,
            availability_zone=az,
            map_public_ip_on_launch=False,
            tags={**args.tags, "Name": f"{name}-public-{az}", "kubernetes.io/role/elb": "1",
                  f"kubernetes.io/cluster/{args.cluster_name}": "shared"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{suffix}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=child
        )
        eip = aws.ec2.Eip(f"{name}-nat-{suffix}-eip", domain="vpc",
                          tags={**args.tags, "Name": f"{name}-nat-{az}"}, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat-{suffix}",
            allocation_id=eip.id,
            subnet_id=public.id,
            connectivity_type="public",
            tags={**args.tags, "Name": f"{name}-nat-{az}"},
            opts=child,
        )
        private = aws.ec2.Subnet(
            f"{name}-private-{suffix}",
            vpc_id=self.vpc.id,
            cidr_block=private_cidr,
            availability_zone=az,
            tags={**args.tags, "Name": f"{name}-private-{az}", "kubernetes.io/role/internal-elb": "1",
                  f"kubernetes.io/cluster/{args.cluster_name}": "shared"},
            opts=child,
        )
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-{suffix}-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags={**args.tags, "Name": f"{name}-private-{az}"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{suffix}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=child
        )
        self.public_subnet_ids.append(public.id)
        self.private_subnet_ids.append(private.id)
        self.nat_gateway_ids.append(nat.id)
        self.private_route_table_ids.append(private_rt.id)

    def _build_endpoints(self, name: str, args: NetworkArgs, child: pulumi.ResourceOptions) -> None:
        """S3 (gateway) and ECR API/DKR (interface) endpoints: private-ECR pulls must not depend on NAT."""
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=self.private_route_table_ids,
            tags={**args.tags, "Name": f"{name}-s3"},
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to the interface endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                      cidr_blocks=[args.cidr_block],
                                                      description="HTTPS from the VPC")],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0,
                                                    cidr_blocks=[args.cidr_block],
                                                    description="replies inside the VPC")],
            tags={**args.tags, "Name": f"{name}-endpoints"},
            opts=child,
        )
        for service in ("ecr.api", "ecr.dkr"):
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags={**args.tags, "Name": f"{name}-{service}"},
                opts=child,
            )
