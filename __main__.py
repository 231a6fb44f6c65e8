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

# Alarms and paging last: they watch what the components above created (see components/observability.py).
observability = {r.region: region_observability(config, r) for r in (primary, dr)}
pulumi.export("alarmTopicArns", {region: arn for o in observability.values() for region, arn in o.topic_arns.items()})
