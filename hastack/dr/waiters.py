"""Bounded waits, all through botocore waiters — never hand-written sleep loops.

Why custom waiter models: AWS ships `db_instance_available` and `nodegroup_active`, but the
conditions scale-up needs ("standalone and serving", "at least N healthy targets", "Global
Datastore primary in region R", "Multi-AZ at class C") are not among them. botocore builds real
waiters from a JSON model, so these get the same polling, acceptors and error reporting as the
built-in ones. Every wait's `MaxAttempts` is derived from `drTimeouts.waitTimeoutSeconds`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

#: What the current thread is waiting for, as (waiter name, parameters) — read by observers such as the
#: RTO simulation, which uses it to know which modelled AWS operation a poll is waiting on.
_current = threading.local()


def current_wait() -> tuple[str, dict[str, Any]] | None:
    return getattr(_current, "wait", None)


class WaitTimeoutError(Exception):
    """A wait ran out of time or hit a failure state (the message names the resource and state)."""


@dataclass(frozen=True)
class WaitPolicy:
    """How long one wait may take and how often it polls."""

    timeout_seconds: float
    delay_seconds: int = 15

    def config(self) -> dict[str, int]:
        delay = max(1, int(self.delay_seconds))
        return {"Delay": delay, "MaxAttempts": max(1, math.ceil(self.timeout_seconds / delay))}


def _jmes_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _wait(client: Any, name: str, operation: str, acceptors: list[dict[str, Any]], policy: WaitPolicy,
          what: str, **params: Any) -> None:
    model = WaiterModel({"version": 2, "waiters": {name: {
        "operation": operation, "delay": 15, "maxAttempts": 40, "acceptors": acceptors}}})
    waiter = create_waiter_with_client(name, model, client)
    _current.wait = (name, params)
    try:
        waiter.wait(WaiterConfig=policy.config(), **params)
    except WaiterError as exc:
        reason = getattr(exc, "kwargs", {}).get("reason") or str(exc)
        raise WaitTimeoutError(f"gave up waiting for {what} (limit {policy.timeout_seconds:.0f}s): {reason}") from exc
    finally:
        _current.wait = None


def db_standalone_serving(client: Any, identifier: str, policy: WaitPolicy) -> None:
    """The promoted replica is standalone and accepting connections (available or modifying)."""
    base = "DBInstances[0]"
    ok = (f"{base}.ReadReplicaSourceDBInstanceIdentifier == `null` && "
          f"({base}.DBInstanceStatus == 'available' || {base}.DBInstanceStatus == 'modifying')")
    _wait(client, "DbStandaloneServing", "DescribeDBInstances", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
        {"matcher": "pathAny", "argument": "DBInstances[].DBInstanceStatus", "expected": "failed", "state": "failure"},
        {"matcher": "pathAny", "argument": "DBInstances[].DBInstanceStatus", "expected": "incompatible-parameters",
         "state": "failure"},
    ], policy, f"DB instance {identifier!r} to be standalone and serving", DBInstanceIdentifier=identifier)


def db_multi_az_at_class(client: Any, identifier: str, instance_class: str, policy: WaitPolicy) -> None:
    """The promoted DB finished its conversion: Multi-AZ, at `instance_class`, available."""
    base = "DBInstances[0]"
    ok = (f"{base}.MultiAZ == `true` && {base}.DBInstanceClass == {_jmes_str(instance_class)} && "
          f"{base}.DBInstanceStatus == 'available'")
    _wait(client, "DbMultiAzAtClass", "DescribeDBInstances", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
        {"matcher": "pathAny", "argument": "DBInstances[].DBInstanceStatus", "expected": "failed", "state": "failure"},
    ], policy, f"DB instance {identifier!r} to be Multi-AZ at {instance_class}", DBInstanceIdentifier=identifier)


def nodegroup_at_size(client: Any, cluster: str, name: str, desired: int, policy: WaitPolicy) -> None:
    """The node group is ACTIVE with the desired size applied."""
    ok = f"nodegroup.status == 'ACTIVE' && nodegroup.scalingConfig.desiredSize == `{int(desired)}`"
    _wait(client, "NodegroupAtSize", "DescribeNodegroup", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
        {"matcher": "path", "argument": "nodegroup.status", "expected": "DEGRADED", "state": "failure"},
        {"matcher": "path", "argument": "nodegroup.status", "expected": "CREATE_FAILED", "state": "failure"},
    ], policy, f"node group {name!r} of {cluster!r} at desired size {desired}", clusterName=cluster,
        nodegroupName=name)


def targets_healthy(client: Any, arn: str, at_least: int, policy: WaitPolicy) -> None:
    """At least `at_least` targets of the target group are healthy."""
    ok = f"length(TargetHealthDescriptions[?TargetHealth.State == 'healthy']) >= `{int(at_least)}`"
    _wait(client, "TargetsHealthy", "DescribeTargetHealth", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
    ], policy, f"{at_least} healthy targets in {arn}", TargetGroupArn=arn)


def global_primary_in(client: Any, global_id: str, region: str, policy: WaitPolicy) -> None:
    """The Global Datastore's PRIMARY member is in `region` and the datastore is available."""
    g = "GlobalReplicationGroups[0]"
    ok = (f"length({g}.Members[?Role == 'PRIMARY' && ReplicationGroupRegion == {_jmes_str(region)}]) == `1` "
          f"&& {g}.Status == 'available'")
    _wait(client, "GlobalPrimaryIn", "DescribeGlobalReplicationGroups", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
    ], policy, f"Global Datastore {global_id!r} primary in {region}", GlobalReplicationGroupId=global_id,
        ShowMemberInfo=True)


def db_available(client: Any, identifier: str, policy: WaitPolicy) -> None:
    """The DB instance exists and is available (e.g. a new replica finished creating)."""
    _wait(client, "DbAvailable", "DescribeDBInstances", [
        {"matcher": "path", "argument": "DBInstances[0].DBInstanceStatus", "expected": "available", "state": "success"},
        {"matcher": "error", "expected": "DBInstanceNotFound", "state": "retry"},
        {"matcher": "pathAny", "argument": "DBInstances[].DBInstanceStatus", "expected": "failed", "state": "failure"},
    ], policy, f"DB instance {identifier!r} to be available", DBInstanceIdentifier=identifier)


def group_standalone(client: Any, global_id: str, region: str, policy: WaitPolicy) -> None:
    """`region`'s member has left the Global Datastore (a disassociation finished): it stands alone."""
    g = "GlobalReplicationGroups[0]"
    ok = f"length({g}.Members[?ReplicationGroupRegion == {_jmes_str(region)}]) == `0`"
    _wait(client, "GroupStandalone", "DescribeGlobalReplicationGroups", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
        {"matcher": "error", "expected": "GlobalReplicationGroupNotFoundFault", "state": "success"},
    ], policy, f"the {region} member to leave Global Datastore {global_id!r}", GlobalReplicationGroupId=global_id,
        ShowMemberInfo=True)


def global_gone(client: Any, global_id: str, policy: WaitPolicy) -> None:
    """The Global Datastore no longer exists (a deletion finished)."""
    _wait(client, "GlobalGone", "DescribeGlobalReplicationGroups", [
        {"matcher": "error", "expected": "GlobalReplicationGroupNotFoundFault", "state": "success"},
    ], policy, f"Global Datastore {global_id!r} to be deleted", GlobalReplicationGroupId=global_id)


def replication_group_gone(client: Any, group_id: str, policy: WaitPolicy) -> None:
    """The replication group no longer exists (a deletion finished)."""
    _wait(client, "ReplicationGroupGone", "DescribeReplicationGroups", [
        {"matcher": "error", "expected": "ReplicationGroupNotFoundFault", "state": "success"},
    ], policy, f"replication group {group_id!r} to be deleted", ReplicationGroupId=group_id)


def global_member_in(client: Any, global_id: str, region: str, policy: WaitPolicy) -> None:
    """The Global Datastore has an associated member in `region` and is available."""
    g = "GlobalReplicationGroups[0]"
    ok = (f"length({g}.Members[?ReplicationGroupRegion == {_jmes_str(region)}]) == `1` && {g}.Status == 'available'")
    _wait(client, "GlobalMemberIn", "DescribeGlobalReplicationGroups", [
        {"matcher": "path", "argument": ok, "expected": True, "state": "success"},
        {"matcher": "error", "expected": "GlobalReplicationGroupNotFoundFault", "state": "retry"},
    ], policy, f"Global Datastore {global_id!r} to have a member in {region}", GlobalReplicationGroupId=global_id,
        ShowMemberInfo=True)
