"""hastack: highly available ML model serving on AWS.

Deploys, per stack, a primary region over three Availability Zones and a pilot-light DR region of
the same shape (see README.md for the architecture). This file only wires: read and validate the
config once, compose the regions and the cross-region tiers, export what the DR command reads.
"""

import pulumi

from components.observability import region_observability
from components.region import Region, RegionArgs
from hastack.config import load_config

config = load_config()

primary = Region("primary", RegionArgs(config=config, region=config.primary_region, role="primary"))
dr = Region("dr", RegionArgs(config=config, region=config.dr_region, role="dr"))

pulumi.export("primaryRegion", config.primary_region)
pulumi.export("drRegion", config.dr_region)
pulumi.export("activeRegion", config.active_region)
pulumi.export("drMode", config.dr_mode)
pulumi.export("vpcIds", {primary.region: primary.network.vpc_id, dr.region: dr.network.vpc_id})
pulumi.export("services", [{"name": s.name, "port": s.port, "nodePort": s.node_port, "replicas": s.replicas}
                           for s in primary.workload.services])
pulumi.export("clusters", {r.region: {"name": r.cluster.cluster_name, "arn": r.cluster.cluster_arn}
                           for r in (primary, dr)})
pulumi.export("nodeGroups", {r.region: [{"name": ng.name, "az": ng.az, "clusterName": r.cluster.cluster_name,
                                         "minSize": ng.size.min_size, "desiredSize": ng.size.desired_size,
                                         "maxSize": ng.size.max_size} for ng in r.node_groups]
                             for r in (primary, dr)})
# What `hastack dr scale-up` scales the DR node groups to: the primary's per-AZ size.
pulumi.export("drNodeGroups", [{"clusterName": dr.cluster.cluster_name, "name": ng.name, "az": ng.az,
                                "prodMinSize": config.nodes.primary.min_size,
                                "prodDesiredSize": config.nodes.primary.desired_size,
                                "prodMaxSize": config.nodes.primary.max_size} for ng in dr.node_groups])

# Alarms and paging last: they watch what the components above created (see components/observability.py).
observability = {r.region: region_observability(config, r) for r in (primary, dr)}
pulumi.export("alarmTopicArns", {region: arn for o in observability.values() for region, arn in o.topic_arns.items()})
