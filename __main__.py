"""hastack: highly available ML model serving on AWS.

Deploys, per stack, a primary region over three Availability Zones and a pilot-light DR region of
the same shape (see README.md for the architecture). This file only wires: read and validate the
config once, compose the regions and the cross-region tiers, export what the DR command reads.
"""

import pulumi

from components.cache import CacheTier, CacheTierArgs
from components.coordination import CoordinationTable, CoordinationTableArgs
from components.database import DatabaseTier, DatabaseTierArgs
from components.dns import FailoverDns, FailoverDnsArgs, dns_target
from components.heartbeat import heartbeat_output, region_heartbeat
from components.observability import alarm_topic_arns, paging_topics, stack_observability
from components.placement import site_of
from components.region import Region, RegionArgs
from components.traffic import TrafficControl, TrafficControlArgs
from hastack import coordination
from hastack.config import load_config
from hastack.outputs import export_stack_outputs

config = load_config()

# Which region is which and which one serves, decided once: every "who writes where" below reads it.
topology = config.topology

primary = Region("primary", RegionArgs(config=config, topology=topology, role="primary"))
dr = Region("dr", RegionArgs(config=config, topology=topology, role="dr"))

# The cross-region tiers: data replicated primary -> DR, traffic control and DNS failover between the
# two ALBs, the coordination table (lease, DR lock, journals). The data tiers render their failed-over
# shape when activeRegion == drRegion (see each module's docstring); traffic control and DNS do not
# change with it: the switches' state lives in the DR region, flipped by the DR command.
project, stack = pulumi.get_project(), pulumi.get_stack()
deployment = coordination.deployment_id(project, stack)
name_prefix = f"hastack-{stack}"
primary_site, dr_site = site_of(primary), site_of(dr)
# Each region's paging topic comes first: the cache's replication groups send their failover events to it.
paging = paging_topics(config.alerting.subscriptions, (primary, dr))
database = DatabaseTier("db", DatabaseTierArgs(database=config.database, primary=primary_site, dr=dr_site,
                                               topology=topology, name_prefix=name_prefix))
cache = CacheTier("cache", CacheTierArgs(cache=config.cache, primary=primary_site, dr=dr_site,
                                         az_count=config.az_count, topology=topology,
                                         name_prefix=name_prefix,
                                         notification_topic_arns={r: t.arn for r, t in paging.items()}))
traffic = TrafficControl("traffic", TrafficControlArgs(
    mode=config.dr.traffic_control, deployment=deployment, name_prefix=name_prefix,
    record_name=config.dns.record_name, primary_region=config.primary_region, dr_region=config.dr_region,
    dr_provider=dr.provider, route53_provider=primary.provider))
dns = FailoverDns("dns", FailoverDnsArgs(zone_name=config.dns.zone_name, record_name=config.dns.record_name,
                                         primary=dns_target(primary), dr=dns_target(dr), provider=primary.provider,
                                         topology=topology, primary_switch_id=traffic.primary_switch.id,
                                         dr_ready_id=traffic.dr_ready.id, resolvers=config.dr.dns_resolvers))
lease_table = coordination.placement(config.primary_region, config.dr_region, config.dr.lease_witness_region)
coordination_table = CoordinationTable("coordination", CoordinationTableArgs(
    table_name=f"{name_prefix}-dr-coordination", placement=lease_table, provider=dr.provider,
    lease_key=coordination.lease_key(project, stack), initial_holder=topology.active_region,
    lease_seconds=config.dr.lease_seconds))
# The heartbeat keeps ReplicaLag honest: it writes in whichever region's database is not in recovery.
heartbeats = [region_heartbeat(r, database, config) for r in (primary, dr)]

# Alarms last: they watch what the components above created (see components/observability.py).
observability = stack_observability(config, topology, (primary, dr), database, cache, dns, paging)

# The stack outputs: one `StackOutputs` (hastack/outputs.py), the contract `hastack dr` reads.
regions = (primary, dr)
export_stack_outputs(
    deployment={"project": project, "stack": stack},
    primary_region=config.primary_region,
    dr_region=config.dr_region,
    active_region=config.active_region,
    dr_mode=config.dr_mode,
    rpo_budget_seconds=config.slo.rpo_seconds,
    rto_budget_seconds=config.slo.rto_minutes * 60,
    dr_timeouts=config.dr.timeouts(),
    services=[{"name": s.name, "port": s.port, "node_port": s.node_port, "replicas": s.replicas}
              for s in primary.workload.services],
    clusters={r.region: {"name": r.cluster.cluster_name, "arn": r.cluster.cluster_arn} for r in regions},
    node_groups={r.region: [{"name": ng.name, "az": ng.az, "cluster_name": r.cluster.cluster_name,
                             "min_size": ng.size.min_size, "desired_size": ng.size.desired_size,
                             "max_size": ng.size.max_size} for ng in r.node_groups]
                 for r in regions},
    # What `hastack dr scale-up` scales the DR node groups to: the primary's per-AZ size.
    dr_node_groups=[{"cluster_name": dr.cluster.cluster_name, "name": ng.name, "az": ng.az,
                     "prod_min_size": config.nodes.primary.min_size,
                     "prod_desired_size": config.nodes.primary.desired_size,
                     "prod_max_size": config.nodes.primary.max_size} for ng in dr.node_groups],
    database=database.outputs,
    cache=cache.outputs,
    ingress={r.region: r.ingress.outputs for r in regions},
    dns=dns.outputs,
    traffic_control=traffic.outputs(primary_gate=dns.gate.id, secondary_gate=dns.secondary_gate.id),
    coordination={**coordination_table.outputs, "keyAttribute": coordination.KEY_ATTRIBUTE,
                  "leaseKey": coordination.lease_key(project, stack), "lockKey": coordination.lock_key(project, stack),
                  "journalKeyPrefix": coordination.journal_key_prefix(project, stack),
                  "leaseSeconds": config.dr.lease_seconds, "leaseRenewSeconds": config.dr.lease_renew_seconds},
    heartbeat=heartbeat_output([r.region for r in regions], config),
    alarm_topic_arns=alarm_topic_arns(observability),
    vpc_ids={r.region: r.network.vpc_id for r in regions},
)
