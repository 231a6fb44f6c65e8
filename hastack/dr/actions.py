"""AWS writes: the only functions of the DR command that change anything.

Small typed functions, one AWS call each, errors naming the resource ("failed promoting DB
replica 'x' in us-west-2: InvalidDBInstanceState: ..."). Whether a call is still needed is the
caller's question (steps ask the probes first), which keeps every action trivially auditable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ROUTE53_REGION, ClientFactory, error_code
from hastack.outputs import StackOutputs

T = TypeVar("T")


class ActionError(Exception):
    """An AWS write failed after botocore's retries (the message names the resource)."""


def _call(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ClientError as exc:
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        raise ActionError(f"failed {what}: {error_code(exc)}: {msg}") from exc
    except BotoCoreError as exc:
        raise ActionError(f"failed {what}: {exc}") from exc


def set_switch(aws: ClientFactory, switch_id: str, inverted: bool, fast: bool = False) -> None:
    """Flip the Route 53 switch: Inverted=true sends traffic to DR, false back to the primary."""
    client = aws.client("route53", ROUTE53_REGION, fast=fast)
    _call(f"setting Route 53 switch {switch_id} to Inverted={inverted}",
          lambda: client.update_health_check(HealthCheckId=switch_id, Inverted=inverted))


def publish_switch(aws: ClientFactory, outputs: StackOutputs, switch: str, value: int, fast: bool = False) -> bool:
    """Set a traffic switch (`primaryFenced` or `drReady`) to `value` with PutMetricData in the DR region.

    The alarm on the metric keeps its state when nothing more is published (docs/traffic-control.md).
    Only the cloudwatch-alarm mode is flipped here; returns False (nothing done) for ARC.
    """
    control = outputs.traffic_control.cloudwatch_alarm
    if control is None:
        return False
    metric = control.primary_fenced if switch == "primaryFenced" else control.dr_ready
    region = outputs.traffic_control.region
    client = aws.client("cloudwatch", region, fast=fast)
    _call(f"publishing {control.namespace} {metric.metric_name}={value} in {region}",
          lambda: client.put_metric_data(Namespace=control.namespace, MetricData=[{
              "MetricName": metric.metric_name, "Value": float(value), "Unit": "None",
              "Dimensions": [{"Name": k, "Value": v} for k, v in control.dimensions.items()]}]))
    return True


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
                                instance_class: str, tags: dict[str, str] | None = None) -> None:
    """Failback's re-protect step: a new replica of the (now primary) DR database in the old region.

    `tags` mark it as failback's own, so a re-run tells it apart from the old primary it replaces.
    """
    client = aws.client("rds", region)
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    _call(f"creating DB replica {identifier!r} in {region} of {source_arn}",
          lambda: client.create_db_instance_read_replica(
              DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=source_arn,
              DBInstanceClass=instance_class, SourceRegion=source_arn.split(":")[3], Tags=tag_list))


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


def scale_node_group(aws: ClientFactory, region: str, cluster: str, name: str,
                     min_size: int, desired_size: int, max_size: int) -> None:
    client = aws.client("eks", region)
    _call(f"scaling node group {name!r} of {cluster!r} in {region} to {min_size}/{desired_size}/{max_size}",
          lambda: client.update_nodegroup_config(
              clusterName=cluster, nodegroupName=name,
              scalingConfig={"minSize": min_size, "desiredSize": desired_size, "maxSize": max_size}))
