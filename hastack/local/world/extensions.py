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
- **Route 53 health checks on CloudWatch alarms** keep their `AlarmIdentifier` and
  `InsufficientDataHealthStatus` (moto drops both), and `CreateHealthCheck` refuses what Route 53
  refuses (no alarm, a high-resolution alarm); `GetHealthCheckStatus` reports the health the world
  computes (`route53`), not moto's constant "Success".
- **CloudWatch alarms follow their metric data** (`alarms`): evaluated on `PutMetricData`, on
  `DescribeAlarms`, and when a health check reads them; a new alarm starts INSUFFICIENT_DATA.
- **DynamoDB global tables** (`UpdateTable` with `ReplicaUpdates`, `GlobalTableWitnessUpdates`,
  `MultiRegionConsistency`): one table in every replica region, MRSC membership validated as AWS
  does, `DescribeTable` showing replicas, witness and mode, no transactions or TTL on MRSC tables
  (`global_tables`; the quorum itself is the world's verdict on each request).
- Speed only: moto's EKS builds a new boto3 session (re-reading endpoints.json) per role check.

`install()` is idempotent and process-wide, like moto's backends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hastack.local.world import alarms
from hastack.local.world.accounts import ACCOUNT_ID
from hastack.local.world.global_datastore import GlobalDatastoreError
from hastack.local.world.global_tables import STRONG, GlobalTableError, transaction_tables
from hastack.local.world.nodegroups import resize_nodegroup_asgs
from hastack.local.world.preexisting import ensure_aws_managed_policy
from hastack.local.world.route53 import Route53View
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
        _cloudwatch()
        _dynamodb()
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
        region = self._get_param("PrimaryRegion") or ""
        store = answer(lambda: stores.failover(self._get_param("GlobalReplicationGroupId") or "", region,
                                               self._get_param("PrimaryReplicationGroupId") or ""))
        if WORLD.data_plane is not None:
            WORLD.data_plane.cache_failed_over(region)
        return ActionResult({"GlobalReplicationGroup": store.view()})

    def disassociate_global_replication_group(self: Any) -> Any:
        region = self._get_param("ReplicationGroupRegion") or ""
        store = answer(lambda: stores.disassociate(self._get_param("GlobalReplicationGroupId") or "",
                                                   self._get_param("ReplicationGroupId") or "", region))
        if WORLD.data_plane is not None:
            WORLD.data_plane.cache_disassociated(region)
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
        gid = kwargs.get("global_replication_group_id")
        plane = WORLD.data_plane
        if plane is not None:
            data_plane_refusal(lambda: plane.check_cache_join(self.region_name, gid), ElastiCacheException,
                               "InvalidGlobalReplicationGroupState")
        group = original_create(self, *args, **kwargs)
        if gid:
            stores.join(gid, group.replication_group_id, self.region_name)
        if plane is not None:
            plane.cache_group_created(self.region_name, group, joined_as_secondary=bool(gid))
        return group

    original_delete = ElastiCacheBackend.delete_replication_group

    def delete_replication_group(self: Any, replication_group_id: str, *args: Any, **kwargs: Any) -> Any:
        """The answer says `deleting`, as AWS's does; then the deletion completes (moto keeps the group
        `deleting` forever, so a re-created group of the same id — failback's cache re-protect — would be refused)."""
        group = original_delete(self, replication_group_id, *args, **kwargs)
        self.replication_groups.pop(replication_group_id, None)
        return group

    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]
    ElastiCacheBackend.delete_replication_group = delete_replication_group  # type: ignore[method-assign]


# --- RDS read replicas ---------------------------------------------------------------------------


def _rds() -> None:
    from moto.rds.exceptions import DBParameterGroupNotFoundError
    from moto.rds.models import DBInstance, RDSBackend, rds_backends

    original_create = RDSBackend.create_db_instance
    original_replica = RDSBackend.create_db_instance_read_replica
    original_promote = RDSBackend.promote_read_replica
    original_endpoint = DBInstance.endpoint.fget  # type: ignore[attr-defined]

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = original_create(self, db_kwargs)
        if WORLD.data_plane is not None:
            WORLD.data_plane.db_created(self.region_name, database)
        return database

    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        # moto copies the source instance and sets the request's fields in order, `backend` (this
        # region's, added for an ARN source) last: a DBSubnetGroupName was looked up in the source's
        # region and refused (failback's re-protect names the home region's group). This region first.
        db_kwargs = {"backend": self, **db_kwargs}
        plane = WORLD.data_plane
        named_group = db_kwargs.get("db_parameter_group_name")
        if named_group and named_group not in self.db_parameter_groups:
            raise DBParameterGroupNotFoundError(named_group)  # as RDS answers; moto would copy the name blindly
        replica = original_replica(self, db_kwargs)
        if not str(replica.availability_zone).startswith(self.region_name):
            replica.availability_zone = f"{self.region_name}a"  # a replica lives in its own region
        copied = replica.db_parameter_group_name
        if copied and copied not in self.db_parameter_groups:
            # moto kept the source's group, which lives in the source's region: RDS gives a cross-region
            # replica created without DBParameterGroupName the engine's default group of its own region.
            replica.db_parameter_group_name = None
        if plane is not None:
            plane.db_replica_created(self.region_name, replica,
                                     self.find_db_from_id(db_kwargs["source_db_instance_identifier"]))
        return replica

    def endpoint(self: Any) -> dict[str, Any]:
        """A bound instance answers the loopback link its region's clients use (the real server)."""
        plane = WORLD.data_plane
        bound = plane.endpoint_of(self, self.region) if plane is not None else None
        if bound is None:
            return original_endpoint(self)
        return {"Address": bound.host, "Port": bound.port}

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
        if WORLD.data_plane is not None:
            WORLD.data_plane.db_promoted(self.region_name, database)
        return database

    RDSBackend.create_db_instance = create_db_instance  # type: ignore[method-assign]
    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica  # type: ignore[method-assign]
    DBInstance.endpoint = property(endpoint)  # type: ignore[method-assign,assignment]
    RDSBackend.promote_read_replica = promote_read_replica  # type: ignore[method-assign]


def data_plane_refusal(check: Callable[[], None], error: type[Exception], code: str) -> None:
    """Run a data plane's pre-check; its DataPlaneError becomes the service's error answer (nothing changes)."""
    from hastack.local.dataplane.errors import DataPlaneError

    try:
        check()
    except DataPlaneError as exc:
        raise error(code, str(exc)) from exc


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


#: Route 53's checkers report from several regions; a failing endpoint fails in all of them.
_CHECKER_REGIONS = (("us-east-1", "15.177.2.10"), ("us-west-1", "15.177.10.10"), ("eu-west-1", "15.177.62.10"))


# --- Route 53: alarm health checks kept, health-check status from the world --------------------

_INSUFFICIENT_DATA_STATUSES = ("Healthy", "Unhealthy", "LastKnownStatus")


def _validate_alarm_check(config: dict[str, Any]) -> None:
    """What Route 53 refuses in a CLOUDWATCH_METRIC check: no alarm, a high-resolution alarm."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.route53.exceptions import InvalidInput

    status = config.get("InsufficientDataHealthStatus")
    if status is not None and status not in _INSUFFICIENT_DATA_STATUSES:
        raise InvalidInput(f"InsufficientDataHealthStatus {status!r}: one of {', '.join(_INSUFFICIENT_DATA_STATUSES)}")
    if config.get("Type") != "CLOUDWATCH_METRIC":
        return
    ident = config.get("AlarmIdentifier") or {}
    if not ident.get("Region") or not ident.get("Name"):
        raise InvalidInput("A CLOUDWATCH_METRIC health check needs AlarmIdentifier (Region and Name)")
    alarm = cloudwatch_backends[ACCOUNT_ID][ident["Region"]].alarms.get(ident["Name"])
    if alarm is not None and int(alarm.period or 60) < 60:
        raise InvalidInput(f"alarm {ident['Name']} has a period of {alarm.period} s: Route 53 health checks do not "
                           "support high-resolution alarms (period under 60 s)")


def _route53() -> None:
    from moto.core.responses import ActionResult
    from moto.route53.models import HealthCheck
    from moto.route53.responses import Route53

    config_of = HealthCheck.health_check_config.fget  # type: ignore[attr-defined]

    def health_check_config(self: Any) -> dict[str, Any]:
        config = config_of(self)
        if getattr(self, "hastack_alarm", None):
            config["AlarmIdentifier"] = dict(self.hastack_alarm)
        if getattr(self, "hastack_insufficient_data_status", None):
            config["InsufficientDataHealthStatus"] = self.hastack_insufficient_data_status
        return config

    HealthCheck.health_check_config = property(health_check_config)  # type: ignore[method-assign,assignment]

    original_create = Route53.create_health_check
    original_update = Route53.update_health_check

    def create_health_check(self: Any) -> Any:
        config = self._get_param("HealthCheckConfig") or {}
        _validate_alarm_check(config)
        result = original_create(self)
        reference = self._get_param("CallerReference")
        created = [c for c in self.backend.health_checks.values() if c.caller_reference == reference]
        if created:
            if config.get("AlarmIdentifier"):
                created[-1].hastack_alarm = {"Region": config["AlarmIdentifier"].get("Region"),
                                             "Name": config["AlarmIdentifier"].get("Name")}
            created[-1].hastack_insufficient_data_status = config.get("InsufficientDataHealthStatus")
        return result

    def update_health_check(self: Any) -> Any:
        alarm, status = self._get_param("AlarmIdentifier"), self._get_param("InsufficientDataHealthStatus")
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        if alarm or status:
            current = alarm or getattr(check, "hastack_alarm", None)
            _validate_alarm_check({"Type": check.type_, "AlarmIdentifier": current,
                                   "InsufficientDataHealthStatus": status})
        result = original_update(self)
        if alarm:
            check.hastack_alarm = {"Region": alarm.get("Region"), "Name": alarm.get("Name")}
        if status:
            check.hastack_insufficient_data_status = status
        return result

    def get_health_check_status(self: Any) -> Any:
        check_id = self._get_param("HealthCheckId")
        self.backend.get_health_check(check_id)  # NoSuchHealthCheck as moto answers it
        health = Route53View(WORLD).health(check_id)
        status = ("Success: HTTP Status Code 200, OK" if health.healthy else f"Failure: {health.reason}")
        checked = datetime.now(UTC)
        return ActionResult({"HealthCheckObservations": [
            {"Region": region, "IPAddress": ip, "StatusReport": {"Status": status, "CheckedTime": checked}}
            for region, ip in _CHECKER_REGIONS]})

    Route53.create_health_check = create_health_check  # type: ignore[method-assign]
    Route53.update_health_check = update_health_check  # type: ignore[method-assign]
    Route53.get_health_check_status = get_health_check_status  # type: ignore[method-assign]


# --- CloudWatch: alarms follow their metric data -------------------------------------------------


def _cloudwatch() -> None:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    original_put_data = CloudWatchBackend.put_metric_data
    original_set_state = CloudWatchBackend.set_alarm_state
    original_put_alarm = CloudWatchBackend.put_metric_alarm
    original_describe = CloudWatchResponse.describe_alarms

    def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        original_put_data(self, namespace, metric_data)
        names = {m.get("MetricName") for m in metric_data}
        for alarm in list(self.alarms.values()):
            if alarm.namespace == namespace and alarm.metric_name in names:
                alarm.hastack_set_by_hand = False  # new data: the alarm follows its metric again
        alarms.refresh(self)

    def set_alarm_state(self: Any, alarm_name: str, *args: Any, **kwargs: Any) -> None:
        original_set_state(self, alarm_name, *args, **kwargs)
        self.alarms[alarm_name].hastack_set_by_hand = True

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        alarm = original_put_alarm(self, name, *args, **kwargs)
        created = self.alarms.get(name)
        if created is not None and alarms.evaluate(created, []) is not None:
            created.state_value = alarms.INSUFFICIENT  # as CloudWatch creates it, then evaluates
            created.state_reason = "Unchecked: Initial alarm creation"
            alarms.refresh(self, [name])
        return alarm

    def describe_alarms(self: Any) -> Any:
        alarms.refresh(self.cloudwatch_backend)  # time passes: data goes missing
        return original_describe(self)

    CloudWatchBackend.put_metric_data = put_metric_data  # type: ignore[method-assign]
    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]
    CloudWatchResponse.describe_alarms = describe_alarms  # type: ignore[method-assign]


# --- DynamoDB: global tables (replicas, witness, multi-Region strong consistency) -----------------


def _dynamodb() -> None:
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    tables = WORLD.global_tables
    original_update = DynamoHandler.update_table
    original_describe = DynamoHandler.describe_table

    def refuse(exc: GlobalTableError) -> MockValidationException:
        return MockValidationException(exc.message)

    def update_table(self: Any) -> Any:
        name = self.body["TableName"]
        global_part = {k: self.body.get(k) for k in ("ReplicaUpdates", "GlobalTableWitnessUpdates",
                                                     "MultiRegionConsistency")}
        apply = None
        if any(v is not None for v in global_part.values()):
            self.dynamodb_backend.get_table(name)  # ResourceNotFoundException as DynamoDB answers it
            try:
                apply = tables.update(self.region, name, global_part["ReplicaUpdates"],
                                      global_part["GlobalTableWitnessUpdates"], global_part["MultiRegionConsistency"])
            except GlobalTableError as exc:
                raise refuse(exc) from exc
        result = original_update(self)
        if apply is not None:
            apply()
        tables.describe(self.region, name, result.result["TableDescription"])
        return result

    def describe_table(self: Any) -> Any:
        result = original_describe(self)
        tables.describe(self.region, self.body["TableName"], result.result["Table"])
        return result

    def refusing_on_mrsc(operation: str, what: str) -> None:
        original = getattr(DynamoHandler, operation)
        api = "".join(part.title() for part in operation.split("_"))

        def handler(self: Any) -> Any:
            names = (transaction_tables(api, self.body) if api != "UpdateTimeToLive"
                     else [self.body.get("TableName", "")])
            for name in names:
                table = tables.find(self.region, name)
                if table is not None and table.consistency == STRONG:
                    raise MockValidationException(f"{api}: {what} are not supported for the multi-Region strongly "
                                                  f"consistent global table {table.name}")
            return original(self)

        setattr(DynamoHandler, operation, handler)

    DynamoHandler.update_table = update_table  # type: ignore[method-assign]
    DynamoHandler.describe_table = describe_table  # type: ignore[method-assign]
    for operation in ("transact_write_items", "transact_get_items", "execute_transaction"):
        refusing_on_mrsc(operation, "transactions")
    refusing_on_mrsc("update_time_to_live", "Time to Live settings")
