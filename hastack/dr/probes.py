"""Read-only AWS probes: what the world looks like right now.

Why apart from actions: readiness checks, `--dry-run`, `hastack dr status` and every step's
"is it already done?" question use only these, so they can never change anything. Each returns
plain data (dicts, numbers, None for "does not exist") and names the resource in its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code


class ProbeError(Exception):
    """A read failed for a reason other than "not found" (the message names the resource)."""


def wrap(what: str, exc: Exception) -> ProbeError:
    code = error_code(exc)
    return ProbeError(f"could not read {what}: {code + ': ' if code else ''}{exc}")


# --- database ---------------------------------------------------------------------------------


def db_instance(aws: ClientFactory, region: str, identifier: str) -> dict[str, Any] | None:
    """The DB instance as RDS describes it, or None when it does not exist."""
    try:
        found = aws.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)
    except ClientError as exc:
        if error_code(exc) == "DBInstanceNotFound":
            return None
        raise wrap(f"DB instance {identifier!r} in {region}", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"DB instance {identifier!r} in {region}", exc) from exc
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


# --- compute ----------------------------------------------------------------------------------


def node_group(aws: ClientFactory, region: str, cluster: str, name: str) -> dict[str, Any] | None:
    try:
        return aws.client("eks", region).describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise wrap(f"node group {name!r} of cluster {cluster!r} in {region}", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"node group {name!r} of cluster {cluster!r} in {region}", exc) from exc


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
        raise wrap(f"load balancer {arn}", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"load balancer {arn}", exc) from exc
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
        raise wrap(f"target group {arn}", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"target group {arn}", exc) from exc
    healthy = sum(1 for t in health if t.get("TargetHealth", {}).get("State") == "healthy")
    return TargetHealth(True, healthy, len(health))


# --- cache ------------------------------------------------------------------------------------


def global_datastore(aws: ClientFactory, region: str, global_id: str) -> dict[str, Any] | None:
    """The ElastiCache Global Datastore with its members, or None when it does not exist."""
    try:
        found = aws.client("elasticache", region).describe_global_replication_groups(
            GlobalReplicationGroupId=global_id, ShowMemberInfo=True)
    except ClientError as exc:
        if error_code(exc) == "GlobalReplicationGroupNotFoundFault":
            return None
        raise wrap(f"Global Datastore {global_id!r} (asked in {region})", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"Global Datastore {global_id!r} (asked in {region})", exc) from exc
    groups = found.get("GlobalReplicationGroups", [])
    return groups[0] if groups else None


def cache_primary_region(datastore: dict[str, Any] | None) -> str | None:
    for member in (datastore or {}).get("Members", []):
        if member.get("Role") == "PRIMARY":
            return str(member.get("ReplicationGroupRegion"))
    return None


def replication_group(aws: ClientFactory, region: str, group_id: str) -> dict[str, Any] | None:
    """The ElastiCache replication group, or None when it does not exist."""
    try:
        found = aws.client("elasticache", region).describe_replication_groups(ReplicationGroupId=group_id)
    except ClientError as exc:
        if error_code(exc) == "ReplicationGroupNotFoundFault":
            return None
        raise wrap(f"replication group {group_id!r} in {region}", exc) from exc
    except BotoCoreError as exc:
        raise wrap(f"replication group {group_id!r} in {region}", exc) from exc
    groups = found.get("ReplicationGroups", [])
    return groups[0] if groups else None


def cache_member(datastore: dict[str, Any] | None, region: str) -> dict[str, Any] | None:
    """The Global Datastore's member in `region` (None: no member there, e.g. after a disassociation)."""
    return next((m for m in (datastore or {}).get("Members", []) if m.get("ReplicationGroupRegion") == region), None)
