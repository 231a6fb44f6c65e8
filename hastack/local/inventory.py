"""What exists in the local AWS, per region and Availability Zone — read from moto, not from the plan.

`local up` prints this after the deploy and the drill prints it before and after the failover,
so what the tables show is what AWS's own APIs answer: subnets and NAT gateways per AZ, the node
groups and the instances their Auto Scaling groups run, the database's and the cache's role,
the load balancers with their healthy targets, and Route 53's failover records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.local.moto_mocks import AwsClients


@dataclass
class AzRow:
    public_subnets: int = 0
    private_subnets: int = 0
    nat_gateways: int = 0
    node_groups: list[str] = field(default_factory=list)
    instances: int = 0
    databases: list[str] = field(default_factory=list)


@dataclass
class RegionInventory:
    region: str
    vpcs: list[str] = field(default_factory=list)
    azs: dict[str, AzRow] = field(default_factory=lambda: defaultdict(AzRow))
    clusters: list[str] = field(default_factory=list)
    node_groups: list[dict[str, Any]] = field(default_factory=list)
    databases: list[dict[str, Any]] = field(default_factory=list)
    caches: list[dict[str, Any]] = field(default_factory=list)
    load_balancers: list[dict[str, Any]] = field(default_factory=list)
    alarms: int = 0
    topics: int = 0
    tables: list[str] = field(default_factory=list)


@dataclass
class Inventory:
    regions: dict[str, RegionInventory]
    records: list[dict[str, Any]]
    health_checks: list[dict[str, Any]]


def _is_public(subnet: dict[str, Any]) -> bool:
    tags = {t["Key"]: t["Value"] for t in subnet.get("Tags", [])}
    if "kubernetes.io/role/elb" in tags:
        return True
    if "kubernetes.io/role/internal-elb" in tags:
        return False
    return bool(subnet.get("MapPublicIpOnLaunch")) or "public" in tags.get("Name", "")


def collect_region(clients: AwsClients, region: str) -> RegionInventory:
    inv = RegionInventory(region)
    ec2 = clients.get("ec2", region)
    inv.vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    subnets = [s for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] in inv.vpcs]
    az_of = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    for s in subnets:
        row = inv.azs[s["AvailabilityZone"]]
        if _is_public(s):
            row.public_subnets += 1
        else:
            row.private_subnets += 1
    for nat in ec2.describe_nat_gateways()["NatGateways"]:
        if nat.get("State") in ("available", "pending") and nat.get("SubnetId") in az_of:
            inv.azs[az_of[nat["SubnetId"]]].nat_gateways += 1
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] in ("pending", "running") and instance.get("SubnetId") in az_of:
                inv.azs[az_of[instance["SubnetId"]]].instances += 1

    eks = clients.get("eks", region)
    for cluster in eks.list_clusters()["clusters"]:
        inv.clusters.append(cluster)
        for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
            ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            azs = sorted({az_of.get(s, "?") for s in ng.get("subnets", [])})
            sc = ng.get("scalingConfig", {})
            inv.node_groups.append({"cluster": cluster, "name": name, "azs": azs, "min": sc.get("minSize"),
                                    "desired": sc.get("desiredSize"), "max": sc.get("maxSize")})
            for az in azs:
                inv.azs[az].node_groups.append(f"{name} ({sc.get('desiredSize')})")

    for db in clients.get("rds", region).describe_db_instances()["DBInstances"]:
        source = db.get("ReadReplicaSourceDBInstanceIdentifier")
        role = f"replica of {source.split(':')[-1]}" if source else "primary"
        inv.databases.append({"id": db["DBInstanceIdentifier"], "role": role, "multiAz": db.get("MultiAZ"),
                              "class": db.get("DBInstanceClass"), "az": db.get("AvailabilityZone"),
                              "status": db.get("DBInstanceStatus")})
        if db.get("AvailabilityZone"):
            inv.azs[db["AvailabilityZone"]].databases.append(db["DBInstanceIdentifier"])

    for group in clients.get("elasticache", region).describe_replication_groups()["ReplicationGroups"]:
        info = group.get("GlobalReplicationGroupInfo") or {}
        inv.caches.append({"id": group["ReplicationGroupId"], "nodes": len(group.get("MemberClusters", [])),
                           "multiAz": group.get("MultiAZ"), "global": info.get("GlobalReplicationGroupId"),
                           "role": info.get("GlobalReplicationGroupMemberRole") or "standalone"})

    elb = clients.get("elbv2", region)
    for lb in elb.describe_load_balancers()["LoadBalancers"]:
        groups = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
        health = []
        for tg in groups:
            states = [t["TargetHealth"]["State"] for t in
                      elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]]
            health.append(f"{tg['TargetGroupName']}: {states.count('healthy')}/{len(states)} healthy")
        inv.load_balancers.append({"name": lb["LoadBalancerName"], "dns": lb["DNSName"],
                                   "azs": sorted(z["ZoneName"] for z in lb.get("AvailabilityZones", [])),
                                   "targets": health})
    inv.alarms = len(clients.get("cloudwatch", region).describe_alarms()["MetricAlarms"])
    inv.topics = len(clients.get("sns", region).list_topics()["Topics"])
    inv.tables = clients.get("dynamodb", region).list_tables()["TableNames"]
    return inv


def collect(clients: AwsClients, regions: list[str], route53: bool = True) -> Inventory:
    """The inventory of `regions` plus (unless `route53` is False: its API may be dark with us-east-1)
    the global Route 53 records and health checks."""
    if not route53:
        return Inventory({r: collect_region(clients, r) for r in regions}, [], [])
    r53 = clients.get("route53", "us-east-1")
    records: list[dict[str, Any]] = []
    for zone in r53.list_hosted_zones()["HostedZones"]:
        for rrset in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
            if rrset["Type"] in ("NS", "SOA"):
                continue
            records.append({"name": rrset["Name"].rstrip("."), "type": rrset["Type"],
                            "failover": rrset.get("Failover"), "setId": rrset.get("SetIdentifier"),
                            "healthCheckId": rrset.get("HealthCheckId"),
                            "target": (rrset.get("AliasTarget") or {}).get("DNSName", "").rstrip(".")})
    checks = [{"id": hc["Id"], "type": hc["HealthCheckConfig"]["Type"],
               "inverted": hc["HealthCheckConfig"].get("Inverted", False),
               "disabled": hc["HealthCheckConfig"].get("Disabled", False),
               "target": hc["HealthCheckConfig"].get("FullyQualifiedDomainName")
               or ", ".join(hc["HealthCheckConfig"].get("ChildHealthChecks") or [])}
              for hc in r53.list_health_checks()["HealthChecks"]]
    return Inventory({r: collect_region(clients, r) for r in regions}, records, checks)


def print_inventory(inv: Inventory, console: Console, title: str = "What exists in the local AWS") -> None:
    for region, ri in inv.regions.items():
        table = Table(title=f"{title} — {region}", title_justify="left", show_lines=False)
        for col in ("AZ", "public subnets", "private subnets", "NAT gateways", "node groups (desired)",
                    "instances", "DB instances"):
            table.add_column(col)
        for az in sorted(ri.azs):
            row = ri.azs[az]
            table.add_row(az, str(row.public_subnets), str(row.private_subnets), str(row.nat_gateways),
                          ", ".join(row.node_groups) or "-", str(row.instances), ", ".join(row.databases) or "-")
        console.print(table)
        for db in ri.databases:
            console.print(f"  database {db['id']}: {db['role']}, {'Multi-AZ' if db['multiAz'] else 'single-AZ'}, "
                          f"{db['class']}, {db['status']}", highlight=False)
        for cache in ri.caches:
            glob = f", {cache['role']} of Global Datastore {cache['global']}" if cache["global"] else ""
            console.print(f"  cache {cache['id']}: {cache['nodes']} nodes, "
                          f"{'Multi-AZ' if cache['multiAz'] == 'enabled' else 'single-AZ'}{glob}", highlight=False)
        for lb in ri.load_balancers:
            console.print(f"  ALB {lb['name']} in {len(lb['azs'])} AZs: {'; '.join(lb['targets'])}", highlight=False)
        console.print(f"  EKS clusters: {', '.join(ri.clusters) or '-'}; alarms: {ri.alarms}; SNS topics: "
                      f"{ri.topics}; DynamoDB tables: {', '.join(ri.tables) or '-'}", highlight=False)
    if inv.records:
        table = Table(title="Route 53 records (global)", title_justify="left")
        for col in ("name", "type", "failover", "set id", "health check", "alias target"):
            table.add_column(col)
        for r in inv.records:
            table.add_row(r["name"], r["type"], r["failover"] or "-", r["setId"] or "-",
                          (r["healthCheckId"] or "-")[:8], r["target"] or "-")
        console.print(table)
