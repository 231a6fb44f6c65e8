"""No single point of failure: the data, network, load-balancing and DNS tiers.

Each rule guards one redundancy the architecture depends on, so that a change which quietly removes
it ("multiAz: false to save money", "one NAT gateway is enough") cannot be merged:

* databases: Multi-AZ, backups, deletion protection, a replica in another region;
* caches: automatic failover, Multi-AZ, at least two nodes, a Global Datastore secondary elsewhere;
* compute: each cluster's node groups over >= 3 AZs, at least one node per AZ where it serves;
* network: every private subnet leaves through a NAT gateway in its own AZ;
* traffic: ALBs over >= 2 AZs (3 in production), target groups with real health checks, and a
  health-checked PRIMARY failover record with a SECONDARY partner in another region.

The DR region of a pilot-light stack is deliberately smaller: its read replica may be single-AZ and
its node groups may sit at zero until `hastack dr scale-up`. Those exemptions come from the policy
config (`drMode`, `pilotLightRegions`) and are reported by an advisory rule instead of a mandatory one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from _util import (
    CACHE_GLOBAL,
    CACHE_GROUP,
    EKS_CLUSTER,
    LOAD_BALANCERS,
    R53_HEALTH_CHECK,
    R53_RECORD,
    RDS_CLUSTER,
    RDS_INSTANCE,
    SUBNET,
    TARGET_GROUPS,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    display,
    get,
    region_in,
    resource_rule,
    setting_schema,
    stack_rule,
    truthy,
)
from pulumi_policy import EnforcementLevel, Severity

# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


def is_rds_replica(r: Resource | Node) -> bool:
    """A read replica (`replicateSourceDb` names its source)."""
    source = r.props.get("replicateSourceDb")
    return isinstance(source, str) and bool(source)


def is_cache_secondary(r: Resource | Node) -> bool:
    """A replication group joined to a Global Datastore as its secondary (`globalReplicationGroupId`)."""
    gid = r.props.get("globalReplicationGroupId")
    return r.type == CACHE_GROUP and isinstance(gid, str) and bool(gid)


def check_rds_multi_az(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if is_rds_replica(r) and cfg["drMode"] == "pilot-light":
        return  # reported by standby-data-tier-redundancy (advisory) while the DR region is pilot-light
    if not truthy(get(r.props, "multiAz")):
        yield (f"{display(r)} has multiAz={get(r.props, 'multiAz')!r}: a single DB instance is a single point of "
               "failure. Set multiAz=True so RDS keeps a synchronous standby in another AZ and fails over to it "
               "automatically (typically 60-120 s).")


def check_rds_backups(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if is_rds_replica(r):
        return  # a read replica takes its own backups once promoted; its source is the one that must keep them
    days = as_int(get(r.props, "backupRetentionPeriod"), 0) or 0
    minimum = as_int(cfg["minBackupRetentionDays"], 7) or 7
    if days < minimum:
        yield (f"{display(r)} keeps automated backups for {days} day(s); at least {minimum} are required for "
               f"point-in-time recovery. Set backupRetentionPeriod >= {minimum}.")


def check_rds_deletion_protection(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if not truthy(get(r.props, "deletionProtection")):
        yield (f"{display(r)} has deletionProtection={get(r.props, 'deletionProtection')!r}: one mistaken "
               "`pulumi destroy` or replacement deletes the database. Set deletionProtection=True.")


def cache_nodes(props: dict[str, Any]) -> int:
    """Nodes per shard: `numCacheClusters`, else `replicasPerNodeGroup + 1`, else ElastiCache's default of 1."""
    clusters = as_int(get(props, "numCacheClusters"))
    if clusters is not None:
        return clusters
    replicas = as_int(get(props, "replicasPerNodeGroup"))
    return replicas + 1 if replicas is not None else 1


def check_cache_failover(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if is_cache_secondary(r) and cfg["drMode"] == "pilot-light":
        return  # the Global Datastore secondary is checked by standby-data-tier-redundancy
    if not truthy(get(r.props, "automaticFailoverEnabled")):
        yield (f"{display(r)} has automaticFailoverEnabled={get(r.props, 'automaticFailoverEnabled')!r}: when the "
               "primary node fails nobody promotes a replica. Set automaticFailoverEnabled=True.")
    if not truthy(get(r.props, "multiAzEnabled")):
        yield (f"{display(r)} has multiAzEnabled={get(r.props, 'multiAzEnabled')!r}: replicas may share the "
               "primary's AZ. Set multiAzEnabled=True (and preferredCacheClusterAzs over distinct AZs).")
    nodes = cache_nodes(r.props)
    minimum = as_int(cfg["minNodes"], 2) or 2
    if nodes < minimum:
        yield (f"{display(r)} has {nodes} node(s) per shard; at least {minimum} are needed for a replica to take "
               f"over. Set numCacheClusters >= {minimum} (one per AZ).")


def check_standby_redundancy(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    """Advisory: what the pilot-light DR region is allowed to lack, said out loud."""
    if cfg["drMode"] != "pilot-light":
        return
    if r.type == RDS_INSTANCE and is_rds_replica(r) and not truthy(get(r.props, "multiAz")):
        yield (f"{display(r)} is a single-AZ cross-region replica (allowed while the DR region is pilot-light). "
               "After promotion it must become Multi-AZ: `hastack dr scale-up` does that (no downtime, duration "
               "not published by AWS).")
    if r.type == CACHE_GROUP and is_cache_secondary(r):
        if cache_nodes(r.props) < 2 or not truthy(get(r.props, "automaticFailoverEnabled")):
            yield (f"{display(r)} is a Global Datastore secondary without in-region failover (allowed while "
                   "pilot-light). Add replicas and automatic failover when the DR region is promoted.")


# ---------------------------------------------------------------------------------------------
# Cross-region replicas
# ---------------------------------------------------------------------------------------------


def rds_refs(node: Node) -> set[str]:
    """Every value a replica's `replicateSourceDb` may use to name this instance."""
    refs = {node.props.get(k) for k in ("arn", "identifier", "id")} | {node.id}
    return {r for r in refs if isinstance(r, str) and r}


def check_cross_region_replicas(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    rds = graph.of_type(RDS_INSTANCE)
    for primary in (n for n in rds if not is_rds_replica(n)):
        region = graph.region(primary)
        refs = rds_refs(primary)
        replicas = [n for n in rds if is_rds_replica(n) and n.props.get("replicateSourceDb") in refs]
        remote = [n for n in replicas if graph.region(n) and graph.region(n) != region]
        if cfg["drRegion"] and cfg["drRegion"] != region:
            remote = [n for n in remote if graph.region(n) == cfg["drRegion"]]
        if not remote:
            where = f" in {cfg['drRegion']}" if cfg["drRegion"] and cfg["drRegion"] != region else ""
            yield (f"{display(primary)} ({region}) has no cross-region read replica{where}: losing {region} loses "
                   "the database. Add an aws.rds.Instance in the DR region with replicateSourceDb set to this "
                   "instance's ARN.", primary.urn)

    groups = graph.of_type(CACHE_GROUP)
    globals_ = graph.of_type(CACHE_GLOBAL)
    for primary in (n for n in groups if not is_cache_secondary(n)):
        region = graph.region(primary)
        refs = {primary.id, primary.props.get("replicationGroupId")} - {None}
        datastores = [g for g in globals_ if g.props.get("primaryReplicationGroupId") in refs
                      or primary.urn in g.dependencies]
        secondaries = [s for g in datastores for s in groups if is_cache_secondary(s) and (
            s.props.get("globalReplicationGroupId") in {g.id, g.props.get("globalReplicationGroupId")} - {None}
            or g.urn in s.dependencies)]
        remote = [s for s in secondaries if graph.region(s) and graph.region(s) != region]
        if not remote:
            yield (f"{display(primary)} ({region}) has no Global Datastore secondary in another region: losing "
                   f"{region} loses the cache. Create an aws.elasticache.GlobalReplicationGroup from it and a "
                   "secondary ReplicationGroup in the DR region.", primary.urn)


# ---------------------------------------------------------------------------------------------
# Compute: node groups per AZ
# ---------------------------------------------------------------------------------------------


def node_groups_by_az(graph: Graph, cluster: Node) -> tuple[dict[str, dict[str, int]], list[Node]]:
    """AZ -> summed {min, max} of the cluster's node groups; and the groups whose AZs can't be resolved.

    A group spread over several AZs counts `size // len(azs)` in each: the autoscaling group balances
    its AZs but guarantees no node in any particular one.
    """
    per_az: dict[str, dict[str, int]] = defaultdict(lambda: {"min": 0, "max": 0})
    unresolved = []
    for ng in graph.cluster_node_groups(cluster):
        azs = graph.subnet_azs(as_list(get(ng.props, "subnetIds")))
        if not azs:
            unresolved.append(ng)
            continue
        scaling = get(ng.props, "scalingConfig", default={})
        for az in azs:
            per_az[az]["min"] += (as_int(get(scaling, "minSize"), 0) or 0) // len(azs)
            per_az[az]["max"] += (as_int(get(scaling, "maxSize"), 0) or 0) // len(azs)
    return dict(per_az), unresolved


def check_node_groups_span_azs(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    min_azs = as_int(cfg["minAzs"], 3) or 3
    for cluster in graph.of_type(EKS_CLUSTER):
        region = graph.region(cluster)
        per_az, unresolved = node_groups_by_az(graph, cluster)
        for ng in unresolved:
            yield (f"{display(ng)} of {display(cluster)}: none of its subnetIds is a subnet of this stack, so its "
                   "AZ is unknown. Give each node group the private subnet of one AZ.", ng.urn)
        if len(per_az) < min_azs:
            yield (f"{display(cluster)} ({region}) has node groups in {len(per_az)} AZ(s) "
                   f"({', '.join(sorted(per_az)) or 'none'}); at least {min_azs} are required so that losing an "
                   f"AZ leaves capacity. Create one managed node group per AZ over {min_azs} AZs.", cluster.urn)
        pilot_light = region in (cfg["pilotLightRegions"] or [])
        for az, size in sorted(per_az.items()):
            if not pilot_light and size["min"] < 1:
                yield (f"{display(cluster)} ({region}) keeps no node in {az} (summed node-group minSize "
                       f"{size['min']}): the AZ can be emptied by scale-in. Set minSize >= 1 for the node group "
                       f"of {az}.", cluster.urn)
            if pilot_light and size["max"] < 1:
                yield (f"{display(cluster)} ({region}, pilot-light) can never run a node in {az} (maxSize "
                       f"{size['max']}): DR scale-up would have nowhere to go. Set maxSize to the production "
                       "size.", cluster.urn)


# ---------------------------------------------------------------------------------------------
# Network: NAT gateway per AZ
# ---------------------------------------------------------------------------------------------


def check_nat_per_az(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    users: dict[str, list[tuple[Node, str | None]]] = defaultdict(list)
    for subnet in graph.of_type(SUBNET):
        route = graph.subnet_nat(subnet)
        if route is None:
            continue
        nat_id, nat = route
        az = subnet.props.get("availabilityZone")
        users[nat_id].append((subnet, az))
        if nat is None:
            yield (f"{display(subnet)} ({az}) routes 0.0.0.0/0 to NAT gateway {nat_id}, which is not part of "
                   "this stack. Route it through the stack's NAT gateway in the same AZ.", subnet.urn)
            continue
        nat_az = graph.nat_az(nat)
        if nat_az != az:
            yield (f"{display(subnet)} ({az}) routes 0.0.0.0/0 through {display(nat)} in {nat_az or 'an unknown AZ'}:"
                   f" an outage of {nat_az or 'that AZ'} cuts {az} off too. Give each AZ its own NAT gateway and a "
                   "private route table pointing at it.", subnet.urn)
    for nat_id, subnets in users.items():
        azs = sorted({az for _, az in subnets if az})
        if len(azs) > 1:
            nat = graph.by_id(nat_id)
            name = display(nat) if nat else f"NAT gateway {nat_id}"
            yield (f"{name} is shared by private subnets in {len(azs)} AZs ({', '.join(azs)}): one NAT gateway is "
                   "a single point of failure for all of them. Create one NAT gateway per AZ.",
                   nat.urn if nat else None)


# ---------------------------------------------------------------------------------------------
# Traffic: load balancers, target groups, DNS failover
# ---------------------------------------------------------------------------------------------


def lb_subnet_ids(node: Node | Resource) -> list[Any]:
    ids = as_list(get(node.props, "subnets"))
    ids += [m.get("subnetId") for m in as_list(get(node.props, "subnetMappings")) if isinstance(m, dict)]
    return ids


def check_alb_azs(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    required = as_int(cfg["prodMinAzs"] if cfg["production"] else cfg["minAzs"], 2) or 2
    for lb in graph.of_type(*LOAD_BALANCERS):
        if get(lb.props, "loadBalancerType", default="application") != "application":
            continue
        azs = graph.subnet_azs(lb_subnet_ids(lb))
        if len(azs) < required:
            yield (f"{display(lb)} ({graph.region(lb)}) spans {len(azs)} AZ(s) ({', '.join(sorted(azs)) or 'none'}); "
                   f"at least {required} are required. Give it the public subnet of each AZ.", lb.urn)


def check_target_group_health(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if get(r.props, "targetType") == "lambda":
        return
    check = get(r.props, "healthCheck")
    if not isinstance(check, dict):
        yield (f"{display(r)} has no healthCheck: the ALB would probe '/' with default thresholds instead of the "
               "service's readiness path. Set healthCheck with enabled=True, path=<readiness path>, interval, "
               "timeout, healthy/unhealthy thresholds and matcher.")
        return
    if check.get("enabled") is not None and not truthy(get(check, "enabled")):
        yield (f"{display(r)} has healthCheck.enabled={check.get('enabled')!r}: failed targets keep receiving "
               "traffic. Set healthCheck.enabled=True.")
    protocol = str(get(check, "protocol", default=get(r.props, "protocol", default="HTTP"))).upper()
    if protocol in ("HTTP", "HTTPS") and not get(check, "path"):
        yield (f"{display(r)} has no healthCheck.path: set it to the service's readiness path (e.g. /health/ready) "
               "so a pod that can't serve is taken out of rotation.")


def failover_type(record: Node) -> str | None:
    policies = as_list(get(record.props, "failoverRoutingPolicies"))
    for p in policies:
        if isinstance(p, dict) and p.get("type"):
            return str(p["type"]).upper()
    return None


def record_target_region(graph: Graph, record: Node) -> str | None:
    """The region a record sends traffic to: the ALB its alias names, else a region inside the name."""
    names = [a.get("name") for a in as_list(get(record.props, "aliases")) if isinstance(a, dict)]
    names += [v for v in as_list(get(record.props, "records")) if isinstance(v, str)]
    for name in names:
        if not isinstance(name, str):
            continue
        wanted = name.rstrip(".").lower()
        for lb in graph.of_type(*LOAD_BALANCERS):
            if str(lb.props.get("dnsName", "")).rstrip(".").lower() == wanted:
                return graph.region(lb)
        found = region_in(name)
        if found:
            return found
    return None


def check_dns_failover(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    records = graph.of_type(R53_RECORD)
    check_ids = {n.id for n in graph.of_type(R53_HEALTH_CHECK)} - {None}
    for primary in (r for r in records if failover_type(r) == "PRIMARY"):
        name = primary.props.get("name")
        hc = get(primary.props, "healthCheckId")
        if not hc:
            yield (f"{display(primary)} ({name}) is a PRIMARY failover record without healthCheckId: Route 53 "
                   "never fails over from a record it can't see fail. Attach the primary health check.", primary.urn)
        elif check_ids and hc not in check_ids:
            yield (f"{display(primary)} ({name}) points at health check {hc}, which is not part of this stack. "
                   "Attach the stack's primary health check.", primary.urn)
        partners = [r for r in records if failover_type(r) == "SECONDARY"
                    and r.props.get("name") == name and r.props.get("zoneId") == primary.props.get("zoneId")
                    and r.props.get("type", "A") == primary.props.get("type", "A")]
        if not partners:
            yield (f"{display(primary)} ({name}) has no SECONDARY failover record with the same name and zone: "
                   "there is nowhere to fail over to. Add a SECONDARY record aliasing the DR region's ALB.",
                   primary.urn)
            continue
        here = record_target_region(graph, primary)
        there = {record_target_region(graph, p) for p in partners}
        if here is None or None in there or here in there:
            yield (f"{display(primary)} ({name}) targets {here or 'an unknown region'} and its SECONDARY targets "
                   f"{', '.join(sorted(str(t) for t in there))}: the partner must be in another region. Alias the "
                   "SECONDARY to the DR region's ALB.", primary.urn)


# ---------------------------------------------------------------------------------------------
# The policies
# ---------------------------------------------------------------------------------------------

POLICIES = [
    resource_rule(
        "rds-multi-az",
        "RDS DB instances run Multi-AZ (a synchronous standby with automatic failover).",
        "Set multiAz=True on the aws.rds.Instance. Converting a running instance causes no downtime (RDS "
        "snapshots and builds the standby); a cross-region replica is exempt while drMode is pilot-light.",
        [RDS_INSTANCE], check_rds_multi_az, setting_schema("drMode"), Severity.CRITICAL),
    resource_rule(
        "standby-data-tier-redundancy",
        "Pilot-light DR data tiers (single-AZ replica, single-node cache secondary) are reported, not blocked.",
        "Nothing to do while the DR region is pilot-light; `hastack dr scale-up` makes the promoted database "
        "Multi-AZ. Switch drMode away from pilot-light to make the full rules mandatory there.",
        [RDS_INSTANCE, CACHE_GROUP], check_standby_redundancy, setting_schema("drMode"), Severity.LOW,
        EnforcementLevel.ADVISORY),
    resource_rule(
        "rds-backup-retention",
        "RDS keeps automated backups long enough for point-in-time recovery.",
        "Set backupRetentionPeriod to at least minBackupRetentionDays (7 by default) on the primary.",
        [RDS_INSTANCE, RDS_CLUSTER], check_rds_backups,
        setting_schema(minBackupRetentionDays={"type": "integer", "minimum": 1, "default": 7,
                                               "description": "Fewest days of automated backups."})),
    resource_rule(
        "rds-deletion-protection",
        "RDS instances and clusters are protected against deletion.",
        "Set deletionProtection=True (and keep a final snapshot: skipFinalSnapshot=False).",
        [RDS_INSTANCE, RDS_CLUSTER], check_rds_deletion_protection),
    resource_rule(
        "elasticache-automatic-failover",
        "ElastiCache replication groups fail over automatically across AZs with at least two nodes.",
        "Set automaticFailoverEnabled=True, multiAzEnabled=True and numCacheClusters >= 2 (one node per AZ).",
        [CACHE_GROUP], check_cache_failover,
        setting_schema("drMode", minNodes={"type": "integer", "minimum": 2, "default": 2,
                                           "description": "Fewest nodes per shard."}), Severity.CRITICAL),
    stack_rule(
        "cross-region-replica",
        "Every stateful primary (RDS instance, ElastiCache replication group) has a replica in another region.",
        "Add a cross-region read replica (aws.rds.Instance with replicateSourceDb = the primary's ARN, created "
        "through the DR region's provider) and a Global Datastore secondary for the cache.",
        check_cross_region_replicas, setting_schema("drRegion"), Severity.CRITICAL),
    stack_rule(
        "eks-node-groups-span-azs",
        "Each EKS cluster's node groups cover at least 3 AZs, with at least one node per AZ where it serves.",
        "Create one managed node group per AZ (subnetIds = that AZ's private subnet) over >= 3 AZs, minSize >= 1 "
        "outside pilot-light regions and maxSize >= the production size in them.",
        check_node_groups_span_azs,
        setting_schema("pilotLightRegions", minAzs={"type": "integer", "minimum": 1, "default": 3,
                                                    "description": "Fewest distinct AZs per cluster."}),
        Severity.CRITICAL),
    stack_rule(
        "nat-gateway-per-az",
        "Each private subnet routes to the internet through a NAT gateway in its own AZ.",
        "Create a NAT gateway in each AZ's public subnet and a private route table per AZ whose 0.0.0.0/0 route "
        "targets that AZ's NAT gateway; associate each private subnet with its AZ's table.",
        check_nat_per_az),
    stack_rule(
        "alb-multi-az",
        "Application load balancers span at least 2 AZs (3 in production).",
        "Pass the public subnet of every AZ in `subnets` (or `subnetMappings`).",
        check_alb_azs,
        setting_schema("production",
                       minAzs={"type": "integer", "minimum": 2, "default": 2, "description": "Fewest AZs."},
                       prodMinAzs={"type": "integer", "minimum": 2, "default": 3,
                                   "description": "Fewest AZs in production."})),
    resource_rule(
        "target-group-health-check",
        "Every target group has an enabled health check on an explicit path.",
        "Set healthCheck={enabled: True, path: <readiness path>, interval, timeout, healthyThreshold, "
        "unhealthyThreshold, matcher} on the target group.",
        TARGET_GROUPS, check_target_group_health),
    stack_rule(
        "dns-failover-pair",
        "Every PRIMARY failover record has a health check and a SECONDARY partner in another region.",
        "Attach the primary gate health check to the PRIMARY record (healthCheckId) and add a SECONDARY record "
        "with the same name and zone aliasing the DR region's ALB.",
        check_dns_failover, severity=Severity.CRITICAL),
]
