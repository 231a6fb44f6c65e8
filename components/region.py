"""Region: everything one AWS region runs, composed from the per-concern components.

The primary region and the DR region have the same shape — same components, same three AZs —
and differ only in numbers: the DR region is pilot-light (node groups at their DR size, a read
replica instead of a primary) until `hastack dr scale-up` promotes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network import Network, NetworkArgs
from hastack.config import StackConfig


@dataclass
class RegionArgs:
    """Inputs of `Region`."""

    config: StackConfig
    region: str
    #: "primary" or "dr": the role the region was built for (see StackConfig.active_region for
    #: which one currently serves traffic).
    role: str


class Region(pulumi.ComponentResource):
    """One region's network, cluster and workload, all created through the region's own provider."""

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:region:Region", name, None, opts)
        cfg = args.config
        self.region = args.region
        self.role = args.role
        # Each region gets its own explicit provider: nothing may land in the region of the
        # ambient `aws:region` config by accident.
        self.provider = aws.Provider(f"{name}-aws", region=args.region,
                                     default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags(cfg)),
                                     opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"aws": self.provider})
        self.cluster_name = f"hastack-{pulumi.get_stack()}-{args.role}"

        self.network = Network(f"{name}-net", NetworkArgs(
            cidr_block=cfg.vpc_cidrs[args.region],
            az_count=cfg.az_count,
            tags={"hastack:region-role": args.role},
            cluster_name=self.cluster_name,
        ), opts=child)

        self.register_outputs({
            "region": args.region,
            "vpcId": self.network.vpc_id,
        })

    @staticmethod
    def tags(cfg: StackConfig) -> dict[str, str]:
        return {"project": "hastack", "stack": pulumi.get_stack(), "managed-by": "pulumi"}
