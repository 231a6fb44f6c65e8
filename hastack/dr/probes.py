"""Read-only AWS probes: what the world looks like right now.

Why apart from actions: readiness checks, `--dry-run`, `hastack dr status` and every step's
"is it already done?" question use only these, so they can never change anything. Each returns
plain data (dicts, numbers, None for "does not exist") and names the resource in its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code


class ProbeError(Exception):
    """A read failed for a reason other than "not found" (the message names the resource)."""


def wrap(what: str, exc: Exception) -> ProbeError:
    code = error_code(exc)
    return ProbeError(f"could not read {what}: {code + ': ' if code else ''}{exc}")


def _described(what: str, not_found: str, describe: Callable[[], dict[str, Any]], key: str) -> dict[str, Any] | None:
    """What one describe call answers under `key` (the first item of a list): None when AWS says
    `not_found` or lists nothing; any other failure is a ProbeError naming `what`."""
    try:
        found = describe().get(key)
    except ClientError as exc:
        if error_code(exc) == not_found:
            return None
        raise wrap(what, exc) from exc
    except BotoCoreError as exc:
        raise wrap(what, exc) from exc
    if isinstance(found, list):
        return found[0] if found else None
    return found


# --- database ---------------------------------------------------------------------------------


def db_instance(aws: ClientFactory, region: str, identifier: str) -> dict[str, Any] | None:
    """The DB instance as RDS describes it, or None when it does not exist."""
    return _described(f"DB instance {identifier!r} in {region}", "DBInstanceNotFound",
                      lambda: aws.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier),
                      "DBInstances")


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
    return _described(f"node group {name!r} of cluster {cluster!r} in {region}", "ResourceNotFoundException",
                      lambda: aws.client("eks", region).describe_nodegroup(clusterName=cluster, nodegroupName=name),
                      "nodegroup")


def scaling(group: dict[str, Any]) -> tuple[int, int, int]:
    """(minSize, desiredSize, maxSize) of a described node group."""
    s = group.get("scalingConfig", {})
    return int(s.get("minSize", 0)), int(s.get("desiredSize", 0)), int(s.get("maxSize", 0))


# --- ingress ----------------------------------------------------------------------------------


def load_balancer(aws: ClientFactory, region: str, arn: str) -> dict[str, Any] | None:
    return _described(f"load balancer {arn}", "LoadBalancerNotFound",
                      lambda: aws.client("elbv2", region).describe_load_balancers(LoadBalancerArns=[arn]),
                      "LoadBalancers")


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
    return _described(f"Global Datastore {global_id!r} (asked in {region})", "GlobalReplicationGroupNotFoundFault",
                      lambda: aws.client("elasticache", region).describe_global_replication_groups(
                          GlobalReplicationGroupId=global_id, ShowMemberInfo=True),
                      "GlobalReplicationGroups")


def cache_primary_region(datastore: dict[str, Any] | None) -> str | None:
    for member in (datastore or {}).get("Members", []):
        if member.get("Role") == "PRIMARY":
            return str(member.get("ReplicationGroupRegion"))
    return None


def replication_group(aws: ClientFactory, region: str, group_id: str) -> dict[str, Any] | None:
    """The ElastiCache replication group, or None when it does not exist."""
    return _described(f"replication group {group_id!r} in {region}", "ReplicationGroupNotFoundFault",
                      lambda: aws.client("elasticache", region).describe_replication_groups(
                          ReplicationGroupId=group_id),
                      "ReplicationGroups")


def cache_member(datastore: dict[str, Any] | None, region: str) -> dict[str, Any] | None:
    """The Global Datastore's member in `region` (None: no member there, e.g. after a disassociation)."""
    return next((m for m in (datastore or {}).get("Members", []) if m.get("ReplicationGroupRegion") == region), None)
