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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:  # region.py imports the components that import this module
    from components.region import Region

ROLES = ("primary", "dr")


@dataclass
class Site:
    """One region as seen by a cross-region tier."""

    #: "primary" or "dr": the role the region was built for (stable across a failover).
    role: str
    region: str
    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    azs: Sequence[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    #: Security group of the clients the tier admits (the EKS worker nodes of this region).
    client_security_group_id: pulumi.Input[str]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Site.role = {self.role!r} is invalid: one of {', '.join(ROLES)}")
        if len(self.private_subnet_ids) != len(self.azs):
            raise ValueError(f"Site {self.region}: {len(self.private_subnet_ids)} private subnets for "
                             f"{len(self.azs)} AZs; a tier needs exactly one subnet per AZ")

    def opts(self, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
        """Options for a child of `parent` created in this site's region."""
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, **extra)  # type: ignore[arg-type]

    def invoke_opts(self, parent: pulumi.Resource) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(parent=parent, provider=self.provider)

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
        public_subnet_ids=list(region.network.public_subnet_ids),
        client_security_group_id=region.node_security_group_id,
    )
