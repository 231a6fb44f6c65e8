"""What AWS does that moto 5.2.5 does not, patched into moto's own classes (`install()`).

Patched at moto's backend and response level, so the same behaviour holds in-process (`mock_aws`)
and in a server (`hastack.local.server`), and every other API sees one consistent world:

- **ElastiCache Global Datastore** (`Create/Describe/Failover/Disassociate/DeleteGlobalReplicationGroup`;
  members join through `CreateReplicationGroup(GlobalReplicationGroupId=...)`): see `global_datastore`.
- **EKS managed node groups own an Auto Scaling group**: `UpdateNodegroupConfig` resizes it (`nodegroups`).
- **RDS cross-region read replicas** live in their own region (moto copies the source's AZ), and a
  promoted replica is standalone (moto keeps `ReadReplicaSourceDBInstanceIdentifier` and the
  source's replica list).
- **AWS managed IAM policies exist** when a role attaches one (`preexisting`).
- **Route 53 health-check status** follows the world (`GetHealthCheckStatus` of a red check fails).
- Speed only: moto's EKS builds a new boto3 session (re-reading endpoints.json) per role check.

`install()` is idempotent and process-wide, like moto's backends.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID
from hastack.local.world.global_datastore import GlobalDatastoreError
from hastack.local.world.nodegroups import resize_nodegroup_asgs
from hastack.local.world.preexisting import ensure_aws_managed_policy
from hastack.local.world.state import WORLD

_INSTALLED: list[bool] = []
_INSTALL_LOCK = threading.Lock()


def install() -> None:
    """Patch moto (once per process)."""
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        _elasticache()
        _rds()
        _eks()
        _iam()
        _route53()
        _INSTALLED.append(True)


# --- ElastiCache Global Datastore ----------------------------------------------------------------


def _elasticache() -> None:
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import ElastiCacheException
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    stores = WORLD.datastores

    def answer(call: Any) -> Any:
        try:
            return call()
        except GlobalDatastoreError as exc:
            raise ElastiCacheException(exc.code, exc.message) from exc

    def create_global_replication_group(self: Any) -> Any:
        store = answer(lambda: stores.create(self._get_param("GlobalReplicationGroupIdSuffix") or "",
                                             self._get_param("PrimaryReplicationGroupId") or "", self.region,
                                             self._get_param("GlobalReplicationGroupDescription") or ""))
        return ActionResult({"GlobalReplicationGroup": store.view()})

    def describe_global_replication_groups(self: Any) -> Any:
        found = answer(lambda: stores.describe(self._get_param("GlobalReplicationGroupId")))
        members = self._get_bool_param("ShowMemberInfo", False)
        return ActionResult({"GlobalReplicationGroups": [s.view(members) for s in found]})

    def failover_global_replication_group(self: Any) -> Any:
        store = answer(lambda: stores.failover(self._get_param("GlobalReplicationGroupId") or "",
                                               self._get_param("PrimaryRegion") or "",
                                               self._get_param("PrimaryReplicationGroupId") or ""))
        return ActionResult({"GlobalReplicationGroup": store.view()})

    def disassociate_global_replication_group(self: Any) -> Any:
        store = answer(lambda: stores.disassociate(self._get_param("GlobalReplicationGroupId") or "",
                                                   self._get_param("ReplicationGroupId") or "",
                                                   self._get_param("ReplicationGroupRegion") or ""))
        return ActionResult({"GlobalReplicationGroup": store.view()})

    def delete_global_replication_group(self: Any) -> Any:
        store = answer(lambda: stores.delete(self._get_param("GlobalReplicationGroupId") or ""))
        return ActionResult({"GlobalReplicationGroup": store.view()})

    for fn in (create_global_replication_group, describe_global_replication_groups,
               failover_global_replication_group, disassociate_global_replication_group,
               delete_global_replication_group):
        setattr(ElastiCacheResponse, fn.__name__, fn)

    original_create = ElastiCacheBackend.create_replication_group

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        group = original_create(self, *args, **kwargs)
        gid = kwargs.get("global_replication_group_id")
        if gid:
            stores.join(gid, group.replication_group_id, self.region_name)
        return group

    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]


# --- RDS read replicas ---------------------------------------------------------------------------


def _rds() -> None:
    from moto.rds.models import RDSBackend, rds_backends

    original_replica = RDSBackend.create_db_instance_read_replica
    original_promote = RDSBackend.promote_read_replica

    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        replica = original_replica(self, db_kwargs)
        if not str(replica.availability_zone).startswith(self.region_name):
            replica.availability_zone = f"{self.region_name}a"  # a replica lives in its own region
        return replica

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        ident = db_kwargs["db_instance_identifier"]
        source = getattr(self.databases.get(ident), "source_db_instance_identifier", None)
        database = original_promote(self, db_kwargs)
        if source:  # real RDS: a promoted instance is standalone, and its source no longer lists it
            source_region = source.split(":")[3] if source.startswith("arn:") else self.region_name
            primary = rds_backends[ACCOUNT_ID][source_region].databases.get(source.split(":")[-1])
            if primary is not None:
                primary.replicas = [r for r in primary.replicas if r not in (database.db_instance_arn, ident)]
            database.source_db_instance_identifier = None
            database.is_replica = False
        return database

    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica  # type: ignore[method-assign]
    RDSBackend.promote_read_replica = promote_read_replica  # type: ignore[method-assign]


# --- EKS -----------------------------------------------------------------------------------------


def _eks() -> None:
    import moto.eks.models as eks_models
    from boto3 import Session

    partitions = set(Session().get_available_partitions())
    original_validate = eks_models.validate_role_arn

    def validate_role_arn(arn: str) -> None:
        if arn.split(":")[1:2] and arn.split(":")[1] in partitions and ":role/" in arn:
            return
        original_validate(arn)

    eks_models.validate_role_arn = validate_role_arn

    original_update = eks_models.EKSBackend.update_nodegroup_config

    def update_nodegroup_config(self: Any, cluster_name: str, nodegroup_name: str, *args: Any,
                                **kwargs: Any) -> Any:
        result = original_update(self, cluster_name, nodegroup_name, *args, **kwargs)
        if kwargs.get("scaling_config"):
            resize_nodegroup_asgs(self.region_name, self.clusters[cluster_name].nodegroups[nodegroup_name])
        return result

    eks_models.EKSBackend.update_nodegroup_config = update_nodegroup_config  # type: ignore[method-assign]


# --- IAM -----------------------------------------------------------------------------------------


def _iam() -> None:
    from moto.iam.models import IAMBackend

    original_attach = IAMBackend.attach_role_policy

    def attach_role_policy(self: Any, policy_arn: str, role_name: str) -> None:
        ensure_aws_managed_policy(policy_arn)
        original_attach(self, policy_arn, role_name)

    IAMBackend.attach_role_policy = attach_role_policy  # type: ignore[method-assign]


# --- Route 53 health-check status ----------------------------------------------------------------

#: Route 53's checkers report from several regions; a failing endpoint fails in all of them.
_CHECKER_REGIONS = (("us-east-1", "15.177.2.10"), ("us-west-1", "15.177.10.10"), ("eu-west-1", "15.177.62.10"))


def _route53() -> None:
    from moto.core.responses import ActionResult
    from moto.route53.responses import Route53

    original_status = Route53.get_health_check_status

    def get_health_check_status(self: Any) -> Any:
        check_id = self._get_param("HealthCheckId")
        if not WORLD.is_red(check_id):
            return original_status(self)
        self.backend.get_health_check(check_id)
        checked = datetime.now(UTC)
        return ActionResult({"HealthCheckObservations": [
            {"Region": region, "IPAddress": ip, "StatusReport": {
                "Status": "Failure: Connection timed out. The endpoint or the internet connection is down, or "
                          "requests are being blocked by your firewall.", "CheckedTime": checked}}
            for region, ip in _CHECKER_REGIONS]})

    Route53.get_health_check_status = get_health_check_status  # type: ignore[method-assign]
