"""A pilot-light world in moto, seeded from the real offline plan's outputs — for the DR tests.

Test infrastructure, reusable by anyone driving the DR command against moto (in-process
`mock_aws` or a `moto_server` on 127.0.0.1):

* `install_moto_extensions()` closes two fidelity gaps of moto 5.2 that the DR command depends
  on: a promoted RDS replica keeps reporting its source (real RDS clears it), and ElastiCache
  Global Datastores are not implemented (describe/create/failover are added here, in moto's own
  response classes, so they work in-process and in a server alike).
* `seed_world(plan_outputs, client)` creates what the outputs name — RDS primary + cross-region
  replica, DynamoDB lock table, Route 53 zone/checks/failover records, ALBs/target groups, EKS
  clusters/node groups, cache replication groups + Global Datastore, a ReplicaLag datapoint —
  keeping the plan's names and returning the outputs with moto's real ids.
* `NodeControllerStandIn` plays EKS + the ASG/target-group attachment: DR node groups scaled up get
  EC2 instances registered in the region's target groups (healthy, as moto reports instance targets).

Run as a script it starts a moto server on 127.0.0.1 with the extensions, seeds it from an outputs
file, writes the seeded outputs, and keeps the stand-in running (see docs/dr.md).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Client = Callable[[str, str], Any]

_INSTALLED = False
ACCOUNT = "123456789012"


# --- moto fidelity extensions -------------------------------------------------------------------


def install_moto_extensions() -> None:
    """Patch moto's RDS promotion and add Global Datastore actions (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import ElastiCacheException
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse
    from moto.rds.models import RDSBackend

    original_promote = RDSBackend.promote_read_replica

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        was_replica = database.is_replica
        database = original_promote(self, db_kwargs)
        if was_replica:  # real RDS: a promoted instance no longer names a source
            database.source_db_instance_identifier = None
        return database

    RDSBackend.promote_read_replica = promote_read_replica  # type: ignore[method-assign]

    # Speed only: moto's EKS builds a new boto3 Session (re-reading endpoints.json) per role check.
    import moto.eks.models as eks_models
    from boto3 import Session
    partitions = set(Session().get_available_partitions())
    original_validate = eks_models.validate_role_arn

    def validate_role_arn(arn: str) -> None:
        if arn.split(":")[1:2] and arn.split(":")[1] in partitions and ":role/" in arn:
            return
        original_validate(arn)

    eks_models.validate_role_arn = validate_role_arn

    # Global Datastores live in a process-wide dict keyed by id (they span regions).
    store: dict[str, dict[str, Any]] = {}
    ElastiCacheBackend.hastack_global_datastores = store  # type: ignore[attr-defined]

    class GlobalNotFound(ElastiCacheException):
        code = 404

        def __init__(self, gid: str) -> None:
            super().__init__("GlobalReplicationGroupNotFoundFault", f"Global Datastore {gid} not found")

    def _view(g: dict[str, Any], members: bool) -> dict[str, Any]:
        out = {k: v for k, v in g.items() if k != "Members"}
        if members:
            out["Members"] = copy.deepcopy(g["Members"])
        return out

    def create_global_replication_group(self: Any) -> Any:
        suffix = self._get_param("GlobalReplicationGroupIdSuffix")
        primary = self._get_param("PrimaryReplicationGroupId")
        gid = f"ldgnf-{suffix}"
        store[gid] = {"GlobalReplicationGroupId": gid, "Status": "available", "Engine": "valkey",
                      "ARN": f"arn:aws:elasticache::{ACCOUNT}:globalreplicationgroup:{gid}",
                      "Members": [{"ReplicationGroupId": primary, "ReplicationGroupRegion": self.region,
                                   "Role": "PRIMARY", "Status": "associated"}]}
        return ActionResult({"GlobalReplicationGroup": _view(store[gid], True)})

    def describe_global_replication_groups(self: Any) -> Any:
        gid = self._get_param("GlobalReplicationGroupId")
        members = self._get_bool_param("ShowMemberInfo", False)
        if gid and gid not in store:
            raise GlobalNotFound(gid)
        groups = [store[gid]] if gid else list(store.values())
        return ActionResult({"GlobalReplicationGroups": [_view(g, members) for g in groups]})

    def failover_global_replication_group(self: Any) -> Any:
        gid = self._get_param("GlobalReplicationGroupId")
        region = self._get_param("PrimaryRegion")
        group_id = self._get_param("PrimaryReplicationGroupId")
        if gid not in store:
            raise GlobalNotFound(gid)
        found = False
        for m in store[gid]["Members"]:
            is_new = m["ReplicationGroupRegion"] == region and m["ReplicationGroupId"] == group_id
            found = found or is_new
            m["Role"] = "PRIMARY" if is_new else "SECONDARY"
        if not found:
            raise ElastiCacheException("InvalidParameterValue", f"{group_id} in {region} is not a member of {gid}")
        return ActionResult({"GlobalReplicationGroup": _view(store[gid], False)})

    ElastiCacheResponse.create_global_replication_group = create_global_replication_group  # type: ignore[attr-defined]
    ElastiCacheResponse.describe_global_replication_groups = describe_global_replication_groups  # type: ignore
    ElastiCacheResponse.failover_global_replication_group = failover_global_replication_group  # type: ignore
    _INSTALLED = True


def add_global_member(global_id: str, replication_group_id: str, region: str) -> None:
    """Attach a secondary to a Global Datastore (moto has no API for the secondary's side)."""
    from moto.elasticache.models import ElastiCacheBackend
    store = ElastiCacheBackend.hastack_global_datastores  # type: ignore[attr-defined]
    store[global_id]["Members"].append({"ReplicationGroupId": replication_group_id,
                                        "ReplicationGroupRegion": region, "Role": "SECONDARY",
                                        "Status": "associated"})


def reset_global_datastores() -> None:
    from moto.elasticache.models import ElastiCacheBackend
    ElastiCacheBackend.hastack_global_datastores.clear()  # type: ignore[attr-defined]


# --- seeding ------------------------------------------------------------------------------------


def _name_from_arn(arn: str, kind: str) -> str:
    # ...:loadbalancer/app/<name>/<hash>  or  ...:targetgroup/<name>/<hash>
    parts = arn.split(":", 5)[5].split("/")
    return parts[2] if kind == "loadbalancer" else parts[1]


def _network(client: Client, region: str) -> tuple[str, list[str]]:
    ec2 = client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("abc")]
    return vpc, subnets


def seed_world(plan: dict[str, Any], client: Client, replica_lag_seconds: float | None = 2.0,
               cache_via_api: bool = True) -> dict[str, Any]:
    """Create the pilot-light world the plan's outputs describe; return the outputs with moto's ids."""
    out = copy.deepcopy(plan)
    primary, dr = plan["primaryRegion"], plan["drRegion"]
    nets = {r: _network(client, r) for r in (primary, dr)}

    # Database: Multi-AZ primary, single-AZ cross-region replica.
    db = plan["database"]
    p_rds, d_rds = client("rds", primary), client("rds", dr)
    p = p_rds.create_db_instance(DBInstanceIdentifier=db["primary"]["identifier"], Engine="postgres",
                                 DBInstanceClass=db["prodInstanceClass"], AllocatedStorage=100,
                                 MasterUsername="hastack", ManageMasterUserPassword=True, MultiAZ=True)["DBInstance"]
    r = d_rds.create_db_instance_read_replica(DBInstanceIdentifier=db["replica"]["identifier"],
                                              SourceDBInstanceIdentifier=p["DBInstanceArn"],
                                              DBInstanceClass=db["prodInstanceClass"], MultiAZ=False)["DBInstance"]
    out["database"]["primary"]["arn"] = p["DBInstanceArn"]
    out["database"]["replica"]["arn"] = r["DBInstanceArn"]
    if replica_lag_seconds is not None:
        put_replica_lag(client, dr, db["replica"]["identifier"], replica_lag_seconds)

    # Lock table (the component's key name).
    lock = plan["lockTable"]
    client("dynamodb", lock["region"]).create_table(
        TableName=lock["name"], KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")

    # Load balancers and target groups, names from the plan's ARNs.
    for region, ing in plan["ingress"].items():
        elb = client("elbv2", region)
        vpc, subnets = nets[region]
        lb = elb.create_load_balancer(Name=_name_from_arn(ing["albArn"], "loadbalancer"), Subnets=subnets,
                                      Scheme="internet-facing", Type="application")["LoadBalancers"][0]
        tgs = {}
        for svc, arn in ing["targetGroupArns"].items():
            port = next((s.get("nodePort", s["port"]) for s in plan["services"] if s["name"] == svc), 30000)
            tg = elb.create_target_group(Name=_name_from_arn(arn, "targetgroup"), Protocol="HTTP", Port=port,
                                         VpcId=vpc, TargetType="instance")["TargetGroups"][0]
            tgs[svc] = tg["TargetGroupArn"]
        out["ingress"][region] = {**ing, "albArn": lb["LoadBalancerArn"], "albDnsName": lb["DNSName"],
                                  "albZoneId": lb["CanonicalHostedZoneId"], "targetGroupArns": tgs}

    # Route 53: zone, per-region ALB checks, switch, gate, failover alias records.
    r53 = client("route53", "us-east-1")
    record = plan["dns"]["recordName"]
    zone_name = record.split(".", 1)[1] + "."
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=f"zone-{time.time()}")["HostedZone"]["Id"]
    zone_id = zone.split("/")[-1]
    checks = {}
    for region in (primary, dr):
        checks[region] = r53.create_health_check(CallerReference=f"alb-{region}-{time.time()}", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": out["ingress"][region]["albDnsName"], "Port": 443,
            "ResourcePath": "/health/ready", "RequestInterval": 10, "FailureThreshold": 3})["HealthCheck"]["Id"]
    switch = r53.create_health_check(CallerReference=f"switch-{time.time()}", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": [], "HealthThreshold": 0, "Disabled": True})["HealthCheck"]["Id"]
    gate = r53.create_health_check(CallerReference=f"gate-{time.time()}", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": [checks[primary], switch],
        "HealthThreshold": 2})["HealthCheck"]["Id"]
    changes = []
    for failover, region, check in (("PRIMARY", primary, gate), ("SECONDARY", dr, checks[dr])):
        ing = out["ingress"][region]
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": record, "Type": "A", "SetIdentifier": f"{failover.lower()}-{region}", "Failover": failover,
            "HealthCheckId": check, "AliasTarget": {"HostedZoneId": ing["albZoneId"], "DNSName": ing["albDnsName"],
                                                    "EvaluateTargetHealth": True}}})
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    out["dns"] = {**plan["dns"], "hostedZoneId": zone_id, "healthCheckIds": checks, "switchHealthCheckId": switch}

    # EKS clusters and node groups at their deployed sizes.
    for region, cluster in plan["clusters"].items():
        eks = client("eks", region)
        role = f"arn:aws:iam::{ACCOUNT}:role/{cluster['name']}"
        c = eks.create_cluster(name=cluster["name"], roleArn=role,
                               resourcesVpcConfig={"subnetIds": nets[region][1]})["cluster"]
        out["clusters"][region] = {"name": c["name"], "arn": c["arn"]}
        for g in plan["nodeGroups"][region]:
            eks.create_nodegroup(clusterName=cluster["name"], nodegroupName=g["name"], nodeRole=role,
                                 subnets=nets[region][1], scalingConfig={
                                     "minSize": g["minSize"], "desiredSize": g["desiredSize"],
                                     "maxSize": g["maxSize"]})

    # Cache: one replication group per region joined in a Global Datastore (primary in the primary).
    cache = plan["cache"]
    for side in ("primary", "secondary"):
        client("elasticache", cache[side]["region"]).create_replication_group(
            ReplicationGroupId=cache[side]["replicationGroupId"], ReplicationGroupDescription="hastack cache",
            Engine="valkey", CacheNodeType="cache.r7g.large", NumCacheClusters=2)
    if cache_via_api:
        g = client("elasticache", cache["primary"]["region"]).create_global_replication_group(
            GlobalReplicationGroupIdSuffix=cache["globalDatastoreId"].split("-", 1)[1],
            PrimaryReplicationGroupId=cache["primary"]["replicationGroupId"])["GlobalReplicationGroup"]
        out["cache"]["globalDatastoreId"] = g["GlobalReplicationGroupId"]
        add_global_member(g["GlobalReplicationGroupId"], cache["secondary"]["replicationGroupId"],
                          cache["secondary"]["region"])
    return out


def put_replica_lag(client: Client, region: str, identifier: str, seconds: float) -> None:
    client("cloudwatch", region).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}],
        "Timestamp": dt.datetime.now(dt.UTC), "Value": float(seconds), "Unit": "Seconds"}])


# --- the node/target stand-in -------------------------------------------------------------------


class NodeControllerStandIn:
    """EKS managed node groups + ASG target-group attachment, as far as the DR command can see them.

    For every DR node group, keeps `desiredSize` EC2 instances registered in each of the region's
    target groups (moto reports registered running instances as healthy).
    """

    def __init__(self, outputs: dict[str, Any], client: Client) -> None:
        self.outputs, self.client = outputs, client
        self.instances: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def reconcile(self) -> int:
        """Bring instances in line with desired sizes; return how many were added."""
        added = 0
        with self._lock:
            region = self.outputs["drRegion"]
            eks, ec2, elb = (self.client(s, region) for s in ("eks", "ec2", "elbv2"))
            for g in self.outputs["nodeGroups"][region]:
                ng = eks.describe_nodegroup(clusterName=g["clusterName"], nodegroupName=g["name"])["nodegroup"]
                have = self.instances.setdefault(g["name"], [])
                need = ng["scalingConfig"]["desiredSize"] - len(have)
                if need <= 0:
                    continue
                subnet = ng["subnets"][0]
                new = [i["InstanceId"] for i in ec2.run_instances(
                    ImageId="ami-12c6146b", MinCount=need, MaxCount=need, InstanceType="m6i.xlarge",
                    SubnetId=subnet)["Instances"]]
                have.extend(new)
                for arn in self.outputs["ingress"][region]["targetGroupArns"].values():
                    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in new])
                added += need
        return added

    def run_in_background(self, stop: threading.Event, interval: float = 0.5) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - the server may be going away
                    pass

        thread = threading.Thread(target=loop, name="node-controller-stand-in", daemon=True)
        thread.start()
        return thread


# --- script: a seeded moto server on 127.0.0.1 --------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server on 127.0.0.1 seeded with a pilot-light world")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--plan-outputs", type=Path, default=Path("build/outputs-prod.json"))
    parser.add_argument("--write-outputs", type=Path, default=Path("build/dr-world-outputs-prod.json"))
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop by itself after this many seconds")
    args = parser.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    install_moto_extensions()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port)
    server.start()
    endpoint = f"http://127.0.0.1:{args.port}"
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint)

    seeded = seed_world(json.loads(args.plan_outputs.read_text()), client)
    args.write_outputs.parent.mkdir(parents=True, exist_ok=True)
    args.write_outputs.write_text(json.dumps(seeded, indent=2, sort_keys=True))
    print(f"moto server {endpoint} seeded; outputs: {args.write_outputs}", flush=True)
    stop = threading.Event()
    NodeControllerStandIn(seeded, client).run_in_background(stop)
    try:
        stop.wait(args.lifetime)
    except KeyboardInterrupt:
        pass
    stop.set()
    server.stop()


if __name__ == "__main__":
    main()


# --- pytest fixture ---------------------------------------------------------------------------


class World:
    """A seeded in-process moto world: raw + typed outputs, a client maker, the node stand-in."""

    def __init__(self, raw: dict[str, Any], client: Client, session: Any = None) -> None:
        from hastack.dr.outputs import parse_outputs
        self.raw, self.client = raw, client
        self.outputs = parse_outputs(raw, "prod")
        self.nodes = NodeControllerStandIn(raw, client)
        self.session = session
        for service in ("eks", "ec2", "elbv2"):  # created now: the stand-in runs inside branch threads
            client(service, self.outputs.dr_region)
    def factory(self, **kwargs: Any) -> Any:
        """A ClientFactory whose EKS clients trigger the node stand-in right after a scaling call."""
        from hastack.dr.aws import ClientFactory
        extra = kwargs.pop("on_client", None)

        def on_client(client: Any, service: str, region: str, fast: bool) -> None:
            if service == "eks":
                client.meta.events.register("after-call.eks.UpdateNodegroupConfig",
                                            lambda **_: self.nodes.reconcile())
            if extra is not None:
                extra(client, service, region, fast)

        kwargs.setdefault("session", self.session)  # one session: service models are loaded once
        return ClientFactory(on_client=on_client, **kwargs)

    # What the tests assert the world looks like.
    def dr_db(self) -> dict[str, Any]:
        o = self.outputs
        return self.client("rds", o.dr_region).describe_db_instances(
            DBInstanceIdentifier=o.database.replica.identifier)["DBInstances"][0]

    def dr_sizes(self) -> list[tuple[int, int, int]]:
        eks = self.client("eks", self.outputs.dr_region)
        out = []
        for g in self.outputs.dr_node_groups:
            s = eks.describe_nodegroup(clusterName=g.cluster_name, nodegroupName=g.name)["nodegroup"]["scalingConfig"]
            out.append((s["minSize"], s["desiredSize"], s["maxSize"]))
        return out

    def switch_inverted(self) -> bool:
        hc = self.client("route53", "us-east-1").get_health_check(HealthCheckId=self.outputs.dns.switch_health_check_id)
        return bool(hc["HealthCheck"]["HealthCheckConfig"].get("Inverted"))

    def cache_primary(self) -> str:
        g = self.client("elasticache", self.outputs.dr_region).describe_global_replication_groups(
            GlobalReplicationGroupId=self.outputs.cache.global_datastore_id, ShowMemberInfo=True)
        return next(m["ReplicationGroupRegion"] for m in g["GlobalReplicationGroups"][0]["Members"]
                    if m["Role"] == "PRIMARY")

    def lock_item(self) -> dict[str, Any] | None:
        o = self.outputs
        return self.client("dynamodb", o.lock_table.region).get_item(
            TableName=o.lock_table.name, Key={"lockId": {"S": f"dr-lock#{o.stack}"}}).get("Item")

    def snapshot(self) -> dict[str, Any]:
        db = self.dr_db()
        return {"replicaOf": db.get("ReadReplicaSourceDBInstanceIdentifier"), "multiAz": db["MultiAZ"],
                "sizes": self.dr_sizes(), "switch": self.switch_inverted(), "cache": self.cache_primary(),
                "lock": self.lock_item()}


_SESSION: list[Any] = []


def _shared_session() -> Any:
    """One boto3 session per test process: a new session re-reads every service model from disk."""
    import boto3
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def make_world(plan_outputs: dict[str, Any]) -> Any:
    """Context manager: mock_aws active, extensions installed, world seeded (yields a World)."""
    import contextlib
    import os

    from moto import mock_aws

    @contextlib.contextmanager
    def _world() -> Any:
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                "MOTO_EC2_LOAD_DEFAULT_AMIS")}
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # speed: 5000 AMIs per region otherwise
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
        install_moto_extensions()
        try:
            with mock_aws():
                reset_global_datastores()
                session = _shared_session()
                lock = threading.Lock()
                clients: dict[tuple[str, str], Any] = {}

                def client(service: str, region: str) -> Any:
                    with lock:
                        if (service, region) not in clients:
                            clients[(service, region)] = session.client(service, region_name=region)
                        return clients[(service, region)]

                yield World(seed_world(plan_outputs, client), client, session)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return _world()
