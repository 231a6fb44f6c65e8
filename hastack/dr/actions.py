"""AWS writes: the only functions of the DR command that change anything.

Small typed functions, one AWS call each, errors naming the resource ("failed promoting DB
replica 'x' in us-west-2: InvalidDBInstanceState: ..."). Whether a call is still needed is the
caller's question (steps ask the probes first), which keeps every action trivially auditable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code

T = TypeVar("T")


class ActionError(Exception):
    """An AWS write failed after botocore's retries (the message names the resource; `code` is AWS's)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def _call(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ClientError as exc:
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        raise ActionError(f"failed {what}: {error_code(exc)}: {msg}", error_code(exc)) from exc
    except BotoCoreError as exc:
        raise ActionError(f"failed {what}: {exc}") from exc


def promote_replica(aws: ClientFactory, region: str, identifier: str) -> None:
    client = aws.client("rds", region)
    _call(f"promoting DB replica {identifier!r} in {region}",
          lambda: client.promote_read_replica(DBInstanceIdentifier=identifier))


def make_multi_az(aws: ClientFactory, region: str, identifier: str, instance_class: str) -> None:
    """Multi-AZ at the prod class, applied now (no downtime for Single-AZ -> Multi-AZ)."""
    client = aws.client("rds", region)
    _call(f"modifying DB instance {identifier!r} in {region} to Multi-AZ {instance_class}",
          lambda: client.modify_db_instance(DBInstanceIdentifier=identifier, MultiAZ=True,
                                            DBInstanceClass=instance_class, ApplyImmediately=True))


def create_cross_region_replica(aws: ClientFactory, region: str, identifier: str, source_arn: str,
                                instance_class: str, tags: dict[str, str] | None = None,
                                subnet_group: str | None = None, security_groups: list[str] | None = None,
                                kms_key_id: str | None = None, parameter_group: str | None = None) -> None:
    """Failback's re-protect step: a new replica of the (now primary) DR database in the old region.

    `tags` mark it as failback's own, so a re-run tells it apart from the old primary it replaces;
    the subnet group, security groups, KMS key and parameter group are the old primary's (an encrypted
    cross-region replica needs a key in its own region; without a parameter group RDS uses the engine's
    default one). Single-AZ, as a replica is until its promotion: Multi-AZ
    is requested after it (`home-to-prod`).
    """
    client = aws.client("rds", region)
    extra: dict[str, Any] = {}
    if subnet_group:
        extra["DBSubnetGroupName"] = subnet_group
    if security_groups:
        extra["VpcSecurityGroupIds"] = list(security_groups)
    if kms_key_id:
        extra["KmsKeyId"] = kms_key_id
    if parameter_group:
        extra["DBParameterGroupName"] = parameter_group
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    _call(f"creating DB replica {identifier!r} in {region} of {source_arn}",
          lambda: client.create_db_instance_read_replica(
              DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=source_arn,
              DBInstanceClass=instance_class, SourceRegion=source_arn.split(":")[3], Tags=tag_list, MultiAZ=False,
              **extra))


def rename_db_instance(aws: ClientFactory, region: str, identifier: str, new_identifier: str) -> None:
    """Move an instance aside under a new identifier (applied now), keeping its data and backups."""
    client = aws.client("rds", region)
    _call(f"renaming DB instance {identifier!r} in {region} to {new_identifier!r}",
          lambda: client.modify_db_instance(DBInstanceIdentifier=identifier, NewDBInstanceIdentifier=new_identifier,
                                            ApplyImmediately=True))


def failover_global_datastore(aws: ClientFactory, region: str, global_id: str,
                              replication_group_id: str) -> dict[str, Any]:
    """Make `region`'s member the Global Datastore's primary (the call is made in that region)."""
    client = aws.client("elasticache", region)
    return _call(f"failing Global Datastore {global_id!r} over to {replication_group_id!r} in {region}",
                 lambda: client.failover_global_replication_group(
                     GlobalReplicationGroupId=global_id, PrimaryRegion=region,
                     PrimaryReplicationGroupId=replication_group_id))


def disassociate_global_datastore(aws: ClientFactory, region: str, global_id: str, replication_group_id: str,
                                  member_region: str) -> dict[str, Any]:
    """Take `member_region`'s member out of the Global Datastore: it becomes a standalone primary.

    AWS's documented path when the planned failover is refused because the primary member is
    unavailable (a regional outage); the call is made in the member's (surviving) region.
    """
    client = aws.client("elasticache", region)
    return _call(f"disassociating {replication_group_id!r} ({member_region}) from Global Datastore {global_id!r}",
                 lambda: client.disassociate_global_replication_group(
                     GlobalReplicationGroupId=global_id, ReplicationGroupId=replication_group_id,
                     ReplicationGroupRegion=member_region))


def scale_node_group(aws: ClientFactory, region: str, cluster: str, name: str,
                     min_size: int, desired_size: int, max_size: int) -> None:
    client = aws.client("eks", region)
    _call(f"scaling node group {name!r} of {cluster!r} in {region} to {min_size}/{desired_size}/{max_size}",
          lambda: client.update_nodegroup_config(
              clusterName=cluster, nodegroupName=name,
              scalingConfig={"minSize": min_size, "desiredSize": desired_size, "maxSize": max_size}))
