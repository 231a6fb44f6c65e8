"""Region: everything one AWS region runs, composed from the per-concern components.

The primary region and the DR region have the same shape — same components, same three AZs —
and differ only in numbers: the DR region is pilot-light (node groups at their DR size, a read
replica instead of a primary) until `hastack dr scale-up` promotes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from components.cache import auth_secret_name
from components.cluster import Cluster, ClusterArgs, node_group_size
from components.ingress import Ingress, IngressArgs, IngressService
from components.network import Network, NetworkArgs
from components.workload import Workload, WorkloadArgs
from hastack.config import StackConfig
from hastack.topology import ROLES, Role, Topology


@dataclass
class RegionArgs:
    """Inputs of `Region`."""

    config: StackConfig
    #: Which region is which, and which one serves (see hastack/topology.py).
    topology: Topology
    #: "primary" or "dr": the role the region is built for; its region is `topology.region_of(role)`.
    role: Role

    def __post_init__(self) -> None:
        require_valid("RegionArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.role not in ROLES:
            yield ArgProblem("role", self.role, f"one of {', '.join(ROLES)}")


class Region(pulumi.ComponentResource):
    """One region's network, cluster and workload, all created through the region's own provider."""

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:region:Region", name, None, opts)
        cfg = args.config
        self.region = region = args.topology.region_of(args.role)
        self.role = args.role
        # Each region gets its own explicit provider: nothing may land in the region of the
        # ambient `aws:region` config by accident.
        self.provider = aws.Provider(f"{name}-aws", region=region,
                                     default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags()),
                                     opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"aws": self.provider})
        #: Prefix of physical names shared with the cross-region tiers (e.g. the cache's AUTH secret).
        self.name_prefix = f"hastack-{pulumi.get_stack()}"
        self.cluster_name = f"{self.name_prefix}-{args.role}"

        self.network = Network(f"{name}-net", NetworkArgs(
            cidr_block=cfg.vpc_cidrs[region],
            az_count=cfg.az_count,
            tags={"hastack:region-role": args.role},
            cluster_name=self.cluster_name,
        ), opts=child)

        self.node_size = node_group_size(cfg.nodes, args.topology, args.role)
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(
            cluster_name=self.cluster_name,
            region=region,
            kubernetes_version=cfg.kubernetes_version,
            vpc_id=self.network.vpc_id,
            azs=self.network.azs,
            private_subnet_ids=self.network.private_subnet_ids,
            instance_types=list(cfg.nodes.instance_types),
            disk_size_gb=cfg.nodes.disk_size_gb,
            node_size=self.node_size,
            tags={"hastack:region-role": args.role},
            public_access_cidrs=list(cfg.kubernetes_api_access_cidrs),
        ), opts=child)
        self.k8s_provider = self.cluster.k8s_provider
        self.node_groups = self.cluster.node_groups
        self.node_security_group_id = self.cluster.node_security_group_id
        # Same workload in both regions (see components/workload.py for why DR declares it too).
        self.workload = Workload(f"{name}-workload", WorkloadArgs(
            namespace="hastack",
            services=cfg.services,
            kubernetes_version=cfg.kubernetes_version,
            region=region,
            await_rollout=self.node_size.desired_size > 0,
            cluster_name=self.cluster.cluster_name,
            # The cache's AUTH token (this region's copy: the secret is replicated to the DR region).
            readable_secrets=(auth_secret_name(self.name_prefix),),
        ), opts=pulumi.ResourceOptions(parent=self, providers={"aws": self.provider, "kubernetes": self.k8s_provider}))
        # The region's internet entry point: ALB -> the services' NodePorts (see components/ingress.py).
        self.ingress = Ingress(f"{name}-ingress", IngressArgs(
            role=args.role,
            vpc_id=self.network.vpc_id,
            public_subnet_ids=self.network.public_subnet_ids,
            certificate_arn=cfg.ingress.certificate_arns[region],
            host_name=cfg.dns.record_name,
            services=[IngressService(s.name, s.node_port, s.health_path) for s in self.workload.services],
            node_security_group_id=self.node_security_group_id,
            autoscaling_group_names=[ng.asg_name for ng in self.node_groups],
            name_prefix=self.name_prefix,
            access_logs_bucket=cfg.ingress.access_log_buckets.get(region),
        ), opts=child)

        self.register_outputs({
            "region": region,
            "vpcId": self.network.vpc_id,
            "clusterName": self.cluster.cluster_name,
            "nodeSecurityGroupId": self.node_security_group_id,
        })

    @staticmethod
    def tags() -> dict[str, str]:
        return {"project": "hastack", "stack": pulumi.get_stack(), "managed-by": "pulumi"}
