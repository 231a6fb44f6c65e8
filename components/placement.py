"""Placement: where a cross-region tier puts its members in one region.

The data tiers (database, cache) and DNS span both regions, so they cannot take one region's
provider from their parent the way the per-region components do. Each gets one `Site` per region:
the region's explicit provider plus the network ids and the security group of the clients (the
cluster's nodes) that the tier must admit. A site keeps the role its region was *built* for
("primary" or "dr"); which site currently takes writes is the topology's active region
(hastack/topology.py), so logical resource names never change when a failover moves the active
region and a failover is an update, never a replacement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from hastack.topology import ROLES, Role, Topology

if TYPE_CHECKING:  # region.py imports the components that import this module
    from components.region import Region

#: Physical name prefixes ("hastack-<stack>"): RDS identifiers and ElastiCache ids are letters, digits and
#: hyphens, starting with a letter (`bounded_name` keeps them short enough).
NAME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


@dataclass
class Site:
    """One region as seen by a cross-region tier."""

    #: "primary" or "dr": the role the region was built for (stable across a failover).
    role: Role
    region: str
    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    azs: Sequence[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    #: Security group of the clients the tier admits (the EKS worker nodes of this region).
    client_security_group_id: pulumi.Input[str]

    def __post_init__(self) -> None:
        require_valid(f"Site {self.region}", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.role not in ROLES:
            yield ArgProblem("role", self.role, f"one of {', '.join(ROLES)}")
        if len(self.private_subnet_ids) != len(self.azs):
            yield ArgProblem("private_subnet_ids", list(self.private_subnet_ids),
                             f"one private subnet per AZ: {len(self.azs)} for {list(self.azs)}")

    def opts(self, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
        """Options for a child of `parent` created in this site's region."""
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, **extra)  # type: ignore[arg-type]

    def encryption_key(self, parent: pulumi.Resource, name: str, description: str) -> aws.kms.Key:
        """A customer KMS key in this region for one tier's data at rest (rotated; 30-day deletion window)."""
        return aws.kms.Key(name, description=description, enable_key_rotation=True, deletion_window_in_days=30,
                           opts=self.opts(parent))

    def admit(self, parent: pulumi.Resource, name: str, security_group_id: pulumi.Input[str], port: int,
              description: str, source_security_group_id: pulumi.Input[str] | None = None
              ) -> aws.vpc.SecurityGroupIngressRule:
        """Let one source security group (default: the clients, i.e. the nodes) reach `port`; never a CIDR."""
        return aws.vpc.SecurityGroupIngressRule(
            name, security_group_id=security_group_id,
            referenced_security_group_id=source_security_group_id or self.client_security_group_id,
            ip_protocol="tcp", from_port=port, to_port=port, description=description, opts=self.opts(parent))


def site_problems(primary: Site, dr: Site, topology: Topology, min_azs: int) -> Iterator[ArgProblem]:
    """The two sites of a cross-region tier: each built as its role, in the topology's region for it."""
    for role, site in zip(ROLES, (primary, dr), strict=True):
        if site.role != role:
            yield ArgProblem(f"{role}.role", site.role, f"{role!r}: the site of the region built as {role}")
        if site.region != topology.region_of(role):
            yield ArgProblem(f"{role}.region", site.region,
                             f"the topology's {role} region ({topology.region_of(role)})")
        if len(site.azs) < min_azs:
            yield ArgProblem(f"{role}.azs", list(site.azs), f"at least {min_azs} AZs")


def name_prefix_problems(name_prefix: str) -> Iterator[ArgProblem]:
    if not NAME_PREFIX.match(name_prefix):
        yield ArgProblem("name_prefix", name_prefix, "letters, digits and '-', starting with a letter (e.g. "
                         "'hastack-prod': RDS and ElastiCache names allow nothing else; rename the stack)")


def bounded_name(*parts: str, limit: int) -> str:
    """`parts` joined with '-', shortened with a stable hash when longer than AWS allows.

    Several AWS names are short (target groups and ALBs: 32 characters) and must be unique per
    region and account; a truncated name plus a hash of the full one stays unique and is the same on
    every render, so the resource is never replaced by a rename.
    """
    full = "-".join(p for p in parts if p)
    if len(full) <= limit:
        return full
    tail = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[:limit - 7].rstrip('-')}-{tail}"


def site_of(region: Region) -> Site:
    """The `Site` of a `components.region.Region` (its provider, network and node security group)."""
    return Site(
        role=region.role,
        region=region.region,
        provider=region.provider,
        vpc_id=region.network.vpc_id,
        azs=list(region.network.azs),
        private_subnet_ids=list(region.network.private_subnet_ids),
        client_security_group_id=region.node_security_group_id,
    )
