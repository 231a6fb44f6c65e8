"""Durability: what a deletion, a replacement or a bad day must not take with it.

Redundancy (spof.py) keeps the service up while a copy fails; durability keeps the data when the
resource itself goes — a `pulumi destroy` on the wrong stack, a change that forces replacement, a
region's copy promoted and the old one deleted:

* RDS: a final snapshot on delete, automated backups kept after the instance is gone (they carry
  the point-in-time recovery window), Performance Insights and enhanced monitoring to see a
  failover's stall;
* ElastiCache: automatic snapshots kept for some days and a final snapshot; the Global Datastore
  fails its members over automatically inside their region;
* DynamoDB (the DR command's coordination table: lease, lock, journals): point-in-time recovery and
  deletion protection on the table and every replica, KMS encryption;
* KMS keys: yearly rotation.

Read replicas are exempt from the snapshot and backup settings: AWS takes neither from a replica
(its source keeps them) until it is promoted, and the program then declares it as a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from _util import (
    CACHE_GLOBAL,
    CACHE_GROUP,
    DYNAMODB_TABLE,
    KMS_KEY,
    RDS_CLUSTER,
    RDS_INSTANCE,
    Resource,
    as_int,
    as_list,
    display,
    get,
    resource_rule,
    setting_schema,
    truthy,
)
from pulumi_policy import Severity
from spof import is_cache_secondary, is_rds_replica


def check_rds_final_snapshot(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if is_rds_replica(r):
        return
    if truthy(get(r.props, "skipFinalSnapshot")):
        yield (f"{display(r)} has skipFinalSnapshot=True: deleting or replacing it (a `pulumi destroy`, a change "
               "that forces replacement) drops the data without a snapshot. Set skipFinalSnapshot=False and a "
               "finalSnapshotIdentifier.")
    elif not get(r.props, "finalSnapshotIdentifier"):
        yield (f"{display(r)} keeps a final snapshot (skipFinalSnapshot=False) but names none: the deletion then "
               "fails halfway instead of taking it. Set finalSnapshotIdentifier.")
    if r.type == RDS_INSTANCE and get(r.props, "deleteAutomatedBackups") is not False:
        value = get(r.props, "deleteAutomatedBackups")
        said = f"deleteAutomatedBackups={value!r}" if value is not None else "no deleteAutomatedBackups (AWS " \
            "defaults to deleting them)"
        yield (f"{display(r)} has {said}: deleting the instance also deletes its automated backups, and the "
               "point-in-time recovery window with them. Set deleteAutomatedBackups=False.")


def check_rds_monitoring(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if not truthy(get(r.props, "performanceInsightsEnabled")):
        yield (f"{display(r)} has performanceInsightsEnabled={get(r.props, 'performanceInsightsEnabled')!r}: "
               "after a failover nobody can see which queries stalled. Set performanceInsightsEnabled=True (with "
               "performanceInsightsKmsKeyId).")
    interval = as_int(get(r.props, "monitoringInterval"), 0) or 0
    if interval <= 0:
        yield (f"{display(r)} has monitoringInterval={interval} (enhanced monitoring off): the OS-level view of a "
               "failover's I/O stall is missing. Set monitoringInterval (e.g. 15) and monitoringRoleArn.")
    elif not get(r.props, "monitoringRoleArn"):
        yield (f"{display(r)} has monitoringInterval={interval} but no monitoringRoleArn: RDS can't publish the "
               "metrics. Set monitoringRoleArn to a role with AmazonRDSEnhancedMonitoringRole.")


def check_cache_snapshots(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if is_cache_secondary(r):
        return  # the Global Datastore's primary member holds the snapshots
    days = as_int(get(r.props, "snapshotRetentionLimit"), 0) or 0
    minimum = as_int(cfg["minSnapshotDays"], 1) or 1
    if days < minimum:
        yield (f"{display(r)} keeps automatic snapshots for {days} day(s); at least {minimum} are required so a "
               f"corrupted or flushed cache can be restored. Set snapshotRetentionLimit >= {minimum}.")
    if not get(r.props, "finalSnapshotIdentifier"):
        yield (f"{display(r)} names no finalSnapshotIdentifier: deleting or replacing it drops the data without a "
               "snapshot. Set finalSnapshotIdentifier.")


def check_global_datastore_failover(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    value = get(r.props, "automaticFailoverEnabled")
    if value is not None and not truthy(value):
        yield (f"{display(r)} has automaticFailoverEnabled={value!r}: a member whose primary node fails waits for "
               "an operator instead of promoting its replica in seconds. Set automaticFailoverEnabled=True.")


def check_dynamodb_durability(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if not truthy(get(r.props, "pointInTimeRecovery", "enabled")):
        yield (f"{display(r)} has no point-in-time recovery: a bad write (or a wrong delete) can't be rolled back. "
               "Set pointInTimeRecovery={enabled: True}.")
    if not truthy(get(r.props, "deletionProtectionEnabled")):
        yield (f"{display(r)} has deletionProtectionEnabled={get(r.props, 'deletionProtectionEnabled')!r}: one "
               "mistaken `pulumi destroy` deletes it. Set deletionProtectionEnabled=True.")
    for i, replica in enumerate(as_list(get(r.props, "replicas"))):
        if not isinstance(replica, dict):
            continue
        where = f"replicas[{i}] ({replica.get('regionName')})"
        if not truthy(replica.get("pointInTimeRecovery")):
            yield (f"{display(r)} has no point-in-time recovery on {where}: after a failover to that region its "
                   "writes can't be rolled back. Set pointInTimeRecovery=True on every replica.")
        if replica.get("deletionProtectionEnabled") is not None and not truthy(replica["deletionProtectionEnabled"]):
            yield (f"{display(r)} has deletionProtectionEnabled=False on {where}: the replica can be deleted on its "
                   "own. Set deletionProtectionEnabled=True on every replica.")
    if not truthy(get(r.props, "serverSideEncryption", "enabled")):
        yield (f"{display(r)} is encrypted with an AWS-owned key only (serverSideEncryption.enabled is not True): "
               "nobody can audit or revoke access to its data. Set serverSideEncryption={enabled: True} (and "
               "kmsKeyArn for a customer key).")


def check_kms_rotation(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    spec = str(get(r.props, "customerMasterKeySpec", default=get(r.props, "keySpec", default="SYMMETRIC_DEFAULT")))
    usage = str(get(r.props, "keyUsage", default="ENCRYPT_DECRYPT"))
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        return  # AWS rotates only symmetric encryption keys
    if not truthy(get(r.props, "enableKeyRotation")):
        yield (f"{display(r)} has enableKeyRotation={get(r.props, 'enableKeyRotation')!r}: its key material never "
               "changes, so one leaked data key stays useful for ever. Set enableKeyRotation=True.")


POLICIES = [
    resource_rule(
        "rds-final-snapshot",
        "RDS databases keep a final snapshot and their automated backups when they are deleted.",
        "Set skipFinalSnapshot=False with a finalSnapshotIdentifier, and deleteAutomatedBackups=False (read "
        "replicas are exempt until promoted).",
        [RDS_INSTANCE, RDS_CLUSTER], check_rds_final_snapshot, severity=Severity.HIGH),
    resource_rule(
        "rds-monitoring",
        "RDS databases run Performance Insights and enhanced monitoring.",
        "Set performanceInsightsEnabled=True (with a KMS key), monitoringInterval > 0 and monitoringRoleArn.",
        [RDS_INSTANCE, RDS_CLUSTER], check_rds_monitoring, severity=Severity.MEDIUM),
    resource_rule(
        "elasticache-snapshots",
        "ElastiCache replication groups keep automatic snapshots and a final snapshot.",
        "Set snapshotRetentionLimit >= minSnapshotDays (1 by default) and finalSnapshotIdentifier on every "
        "replication group that is not a Global Datastore secondary.",
        [CACHE_GROUP], check_cache_snapshots,
        setting_schema(minSnapshotDays={"type": "integer", "minimum": 1, "default": 1,
                                        "description": "Fewest days of automatic cache snapshots."}),
        Severity.MEDIUM),
    resource_rule(
        "global-datastore-automatic-failover",
        "ElastiCache Global Datastores fail their members over automatically.",
        "Set automaticFailoverEnabled=True on the aws.elasticache.GlobalReplicationGroup.",
        [CACHE_GLOBAL], check_global_datastore_failover, severity=Severity.HIGH),
    resource_rule(
        "dynamodb-table-durability",
        "DynamoDB tables (the DR coordination table) have point-in-time recovery and deletion protection, on every "
        "replica too, and KMS encryption.",
        "Set pointInTimeRecovery={enabled: True}, deletionProtectionEnabled=True, pointInTimeRecovery=True and "
        "deletionProtectionEnabled=True on every replica, and serverSideEncryption={enabled: True}.",
        [DYNAMODB_TABLE], check_dynamodb_durability, severity=Severity.HIGH),
    resource_rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate their key material.",
        "Set enableKeyRotation=True on every symmetric aws.kms.Key.",
        [KMS_KEY], check_kms_rotation, severity=Severity.MEDIUM),
]
