"""Read-only AWS probes: what the world looks like right now.

Why apart from actions: readiness checks, `--dry-run`, `hastack dr status` and every step's
"is it already done?" question use only these, so they can never change anything. Each returns
plain data (dicts, numbers, None for "does not exist") and names the resource in its errors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ROUTE53_REGION, ClientFactory, error_code


class ProbeError(Exception):
    """A read failed for a reason other than "not found" (the message names the resource)."""


def _wrap(what: str, exc: Exception) -> ProbeError:
    code = error_code(exc)
    return ProbeError(f"could not read {what}: {code + ': ' if code else ''}{exc}")


# --- database ---------------------------------------------------------------------------------


def db_instance(aws: ClientFactory, region: str, identifier: str, fast: bool = False) -> dict[str, Any] | None:
    """The DB instance as RDS describes it, or None when it does not exist."""
    try:
        found = aws.client("rds", region, fast=fast).describe_db_instances(DBInstanceIdentifier=identifier)
    except ClientError as exc:
        if error_code(exc) == "DBInstanceNotFound":
            return None
        raise _wrap(f"DB instance {identifier!r} in {region}", exc) from exc
    except BotoCoreError as exc:
        raise _wrap(f"DB instance {identifier!r} in {region}", exc) from exc
    instances = found.get("DBInstances", [])
    return instances[0] if instances else None


def is_replica(instance: dict[str, Any] | None) -> bool:
    return bool(instance and instance.get("ReadReplicaSourceDBInstanceIdentifier"))


def db_role(instance: dict[str, Any] | None) -> str:
    """One phrase for `status`: 'absent', 'replica of <source>' or 'primary (standalone)'."""
    if instance is None:
        return "absent"
    if is_replica(instance):
        return f"replica of {instance['ReadReplicaSourceDBInstanceIdentifier']}"
    az = "Multi-AZ" if instance.get("MultiAZ") else "single-AZ"
    return f"primary ({az}, {instance.get('DBInstanceClass', '?')}, {instance.get('DBInstanceStatus', '?')})"


def replication_state(instance: dict[str, Any]) -> str | None:
    """RDS's read-replication status ('replicating', 'error', 'stopped', ...) when it reports one."""
    for info in instance.get("StatusInfos") or []:
        if info.get("StatusType") == "read replication":
            return str(info.get("Status"))
    return None


def replica_lag_seconds(aws: ClientFactory, region: str, identifier: str,
                        window_seconds: int = 600) -> float | None:
    """The latest CloudWatch `ReplicaLag` (seconds) of the replica, or None without datapoints."""
    end = dt.datetime.now(dt.UTC)
    try:
        stats = aws.client("cloudwatch", region).get_metric_statistics(
            Namespace="AWS/RDS", MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
            StartTime=end - dt.timedelta(seconds=window_seconds), EndTime=end + dt.timedelta(seconds=60),
            Period=60, Statistics=["Maximum"])
    except (ClientError, BotoCoreError) as exc:
        raise _wrap(f"CloudWatch ReplicaLag of {identifier!r} in {region}", exc) from exc
    points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


# --- compute ----------------------------------------------------------------------------------


def node_group(aws: ClientFactory, region: str, cluster: str, name: str) -> dict[str, Any] | None:
    try:
        return aws.client("eks", region).describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise _wrap(f"node group {name!r} of cluster {cluster!r} in {region}", exc) from exc
    except BotoCoreError as exc:
        raise _wrap(f"node group {name!r} of cluster {cluster!r} in {region}", exc) from exc


def scaling(group: dict[str, Any]) -> tuple[int, int, int]:
    """(minSize, desiredSize, maxSize) of a described node group."""
    s = group.get("scalingConfig", {})
    return int(s.get("minSize", 0)), int(s.get("desiredSize", 0)), int(s.get("maxSize", 0))


# --- ingress ----------------------------------------------------------------------------------


def load_balancer(aws: ClientFactory, region: str, arn: str) -> dict[str, Any] | None:
    try:
        found = aws.client("elbv2", region).describe_load_balancers(LoadBalancerArns=[arn])
    except ClientError as exc:
        if error_code(exc) == "LoadBalancerNotFound":
            return None
        raise _wrap(f"load balancer {arn}", exc) from exc
    lbs = found.get("LoadBalancers", [])
    return lbs[0] if lbs else None


@dataclass(frozen=True)
class TargetHealth:
    exists: bool
    healthy: int
    total: int


def target_health(aws: ClientFactory, region: str, arn: str) -> TargetHealth:
    client = aws.client("elbv2", region)
    try:
        client.describe_target_groups(TargetGroupArns=[arn])
        health = client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    except ClientError as exc:
        if error_code(exc) == "TargetGroupNotFound":
            return TargetHealth(False, 0, 0)
        raise _wrap(f"target group {arn}", exc) from exc
    healthy = sum(1 for t in health if t.get("TargetHealth", {}).get("State") == "healthy")
    return TargetHealth(True, healthy, len(health))


# --- DNS --------------------------------------------------------------------------------------


def switch_inverted(aws: ClientFactory, switch_id: str, fast: bool = False) -> bool | None:
    """True when the Route 53 switch is flipped (traffic to DR), None when the check is missing."""
    try:
        hc = aws.client("route53", ROUTE53_REGION, fast=fast).get_health_check(HealthCheckId=switch_id)
    except ClientError as exc:
        if error_code(exc) == "NoSuchHealthCheck":
            return None
        raise _wrap(f"Route 53 switch health check {switch_id}", exc) from exc
    except BotoCoreError as exc:
        raise _wrap(f"Route 53 switch health check {switch_id}", exc) from exc
    return bool(hc["HealthCheck"]["HealthCheckConfig"].get("Inverted", False))


def failover_records(aws: ClientFactory, zone_id: str, record_name: str) -> list[dict[str, Any]]:
    """The failover record sets of `record_name` (PRIMARY and SECONDARY)."""
    name = record_name.rstrip(".") + "."
    try:
        sets = aws.client("route53", ROUTE53_REGION).list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name)["ResourceRecordSets"]
    except (ClientError, BotoCoreError) as exc:
        raise _wrap(f"records {record_name} in hosted zone {zone_id}", exc) from exc
    return [r for r in sets if r.get("Name") == name and r.get("Failover")]


# --- cache ------------------------------------------------------------------------------------


def global_datastore(aws: ClientFactory, region: str, global_id: str) -> dict[str, Any] | None:
    """The ElastiCache Global Datastore with its members, or None when it does not exist."""
    try:
        found = aws.client("elasticache", region).describe_global_replication_groups(
            GlobalReplicationGroupId=global_id, ShowMemberInfo=True)
    except ClientError as exc:
        if error_code(exc) == "GlobalReplicationGroupNotFoundFault":
            return None
        raise _wrap(f"Global Datastore {global_id!r} (asked in {region})", exc) from exc
    except BotoCoreError as exc:
        raise _wrap(f"Global Datastore {global_id!r} (asked in {region})", exc) from exc
    groups = found.get("GlobalReplicationGroups", [])
    return groups[0] if groups else None


def cache_primary_region(datastore: dict[str, Any] | None) -> str | None:
    for member in (datastore or {}).get("Members", []):
        if member.get("Role") == "PRIMARY":
            return str(member.get("ReplicationGroupRegion"))
    return None
