"""What AWS does that moto does not, emulated inside the local AWS server.

Two behaviours the DR path depends on are missing from moto 5.2.5, so the server adds them,
working on moto's own backend objects so every other API sees a consistent world:

- **ElastiCache Global Datastore** (`CreateGlobalReplicationGroup`, `DescribeGlobalReplicationGroups`,
  `FailoverGlobalReplicationGroup`, `DeleteGlobalReplicationGroup`): moto answers "not implemented".
  Members join when a replication group is created with `GlobalReplicationGroupId`, as in AWS; a
  failover swaps the PRIMARY/SECONDARY roles (also on moto's replication groups).
- **EKS managed node groups own an Auto Scaling group**: moto's node groups have a name for one but
  nothing behind it. `hastack local up` creates that group (launch template, subnets, sizes), and
  when `UpdateNodegroupConfig` succeeds this layer resizes it — moto's Auto Scaling then launches
  or terminates instances and (de)registers them in the attached target groups, which is what
  makes DR target groups turn healthy after a scale-up.

It also holds what the stack expects to exist already: ACM certificates with the exact ARNs the
config names (`ensure_certificates`), as `local up` creates the hosted zone the program looks up.

Everything here runs in the server's process (in-process or detached), never in the client's.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

ACCOUNT_ID = "123456789012"
_NS = "http://elasticache.amazonaws.com/doc/2015-02-02/"
GLOBAL_DATASTORE_ACTIONS = ("CreateGlobalReplicationGroup", "DescribeGlobalReplicationGroups",
                            "FailoverGlobalReplicationGroup", "DeleteGlobalReplicationGroup")
#: AWS prefixes a Global Datastore's id with a short code of the account; a fixed one locally.
GLOBAL_ID_PREFIX = "ldgnf-"
_NODEGROUP_UPDATE_RE = re.compile(r"^/clusters/([^/]+)/node-groups/([^/]+)/update-config$")


@dataclass
class GlobalMember:
    replication_group_id: str
    region: str
    role: str


@dataclass
class GlobalDatastore:
    gid: str
    description: str
    engine: str
    engine_version: str
    node_type: str
    members: list[GlobalMember] = field(default_factory=list)
    status: str = "available"


class GlobalDatastores:
    """The Global Datastores of the local AWS and their members."""

    def __init__(self) -> None:
        self.stores: dict[str, GlobalDatastore] = {}
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.stores.clear()

    # --- the API ------------------------------------------------------------------------------

    def handle(self, action: str, params: dict[str, str], region: str) -> tuple[int, str]:
        """(HTTP status, XML body) for one Global Datastore API call."""
        with self.lock:
            try:
                if action == "CreateGlobalReplicationGroup":
                    store = self._create(params, region)
                    return 200, _one(action, store)
                if action == "DescribeGlobalReplicationGroups":
                    wanted = params.get("GlobalReplicationGroupId")
                    if wanted and wanted not in self.stores:
                        return _not_found(wanted)
                    stores = [self.stores[wanted]] if wanted else list(self.stores.values())
                    show = params.get("ShowMemberInfo", "false").lower() == "true"
                    items = "".join(f"<GlobalReplicationGroup>{_store_xml(s, show)}</GlobalReplicationGroup>"
                                    for s in stores)
                    return 200, _response(action, f"<GlobalReplicationGroups>{items}</GlobalReplicationGroups>")
                if action == "FailoverGlobalReplicationGroup":
                    store = self._failover(params)
                    return 200, _one(action, store)
                if action == "DeleteGlobalReplicationGroup":
                    gid = params.get("GlobalReplicationGroupId", "")
                    if gid not in self.stores:
                        return _not_found(gid)
                    store = self.stores.pop(gid)
                    store.status = "deleting"
                    return 200, _one(action, store)
            except _ApiError as exc:
                return exc.status, exc.xml
        return 400, _error("InvalidAction", f"{action} is not emulated")

    def _create(self, params: dict[str, str], region: str) -> GlobalDatastore:
        suffix = params.get("GlobalReplicationGroupIdSuffix", "")
        primary_id = params.get("PrimaryReplicationGroupId", "")
        gid = GLOBAL_ID_PREFIX + suffix
        if gid in self.stores:
            raise _ApiError(400, _error("GlobalReplicationGroupAlreadyExistsFault",
                                        f"Global Datastore {gid} already exists"))
        group = _moto_replication_group(region, primary_id)
        if group is None:
            raise _ApiError(404, _error("ReplicationGroupNotFoundFault", f"{primary_id} not found in {region}"))
        store = GlobalDatastore(gid, params.get("GlobalReplicationGroupDescription", ""),
                                getattr(group, "engine", "redis") or "redis",
                                getattr(group, "engine_version", "") or "", getattr(group, "cache_node_type", "") or "")
        store.members.append(GlobalMember(primary_id, region, "PRIMARY"))
        _set_moto_membership(region, primary_id, gid, "PRIMARY")
        self.stores[gid] = store
        return store

    def _failover(self, params: dict[str, str]) -> GlobalDatastore:
        gid = params.get("GlobalReplicationGroupId", "")
        if gid not in self.stores:
            raise _ApiError(404, _not_found(gid)[1])
        store = self.stores[gid]
        region, group_id = params.get("PrimaryRegion", ""), params.get("PrimaryReplicationGroupId", "")
        target = next((m for m in store.members if m.region == region and m.replication_group_id == group_id), None)
        if target is None:
            raise _ApiError(400, _error("InvalidParameterValue",
                                        f"{group_id} in {region} is not a member of Global Datastore {gid}"))
        if target.role != "PRIMARY":
            for member in store.members:
                member.role = "PRIMARY" if member is target else "SECONDARY"
                _set_moto_membership(member.region, member.replication_group_id, gid, member.role)
        return store

    # --- membership through CreateReplicationGroup --------------------------------------------

    def join(self, gid: str, replication_group_id: str, region: str) -> None:
        with self.lock:
            store = self.stores.get(gid)
            if store is None:
                return
            if not any(m.replication_group_id == replication_group_id and m.region == region for m in store.members):
                store.members.append(GlobalMember(replication_group_id, region, "SECONDARY"))
            _set_moto_membership(region, replication_group_id, gid, "SECONDARY")


class _ApiError(Exception):
    def __init__(self, status: int, xml: str) -> None:
        super().__init__(xml)
        self.status = status
        self.xml = xml


def _moto_replication_group(region: str, group_id: str) -> Any:
    from moto.elasticache.models import elasticache_backends

    return elasticache_backends[ACCOUNT_ID][region].replication_groups.get(group_id)


def _set_moto_membership(region: str, group_id: str, gid: str, role: str) -> None:
    group = _moto_replication_group(region, group_id)
    if group is not None:
        group.global_replication_group_id = gid
        group.global_replication_group_member_role = role


def _store_xml(store: GlobalDatastore, members: bool = True) -> str:
    member_xml = "".join(
        "<GlobalReplicationGroupMember>"
        f"<ReplicationGroupId>{escape(m.replication_group_id)}</ReplicationGroupId>"
        f"<ReplicationGroupRegion>{escape(m.region)}</ReplicationGroupRegion><Role>{m.role}</Role>"
        "<AutomaticFailover>enabled</AutomaticFailover><Status>associated</Status>"
        "</GlobalReplicationGroupMember>" for m in store.members) if members else ""
    return (f"<GlobalReplicationGroupId>{escape(store.gid)}</GlobalReplicationGroupId>"
            f"<GlobalReplicationGroupDescription>{escape(store.description)}</GlobalReplicationGroupDescription>"
            f"<Status>{store.status}</Status><CacheNodeType>{escape(store.node_type)}</CacheNodeType>"
            f"<Engine>{escape(store.engine)}</Engine><EngineVersion>{escape(store.engine_version)}</EngineVersion>"
            f"<Members>{member_xml}</Members><ClusterEnabled>false</ClusterEnabled>"
            "<AuthTokenEnabled>true</AuthTokenEnabled><TransitEncryptionEnabled>true</TransitEncryptionEnabled>"
            "<AtRestEncryptionEnabled>true</AtRestEncryptionEnabled>"
            f"<ARN>arn:aws:elasticache::{ACCOUNT_ID}:globalreplicationgroup:{escape(store.gid)}</ARN>")


def _one(action: str, store: GlobalDatastore) -> str:
    return _response(action, f"<GlobalReplicationGroup>{_store_xml(store)}</GlobalReplicationGroup>")


def _response(action: str, body: str) -> str:
    return (f'<{action}Response xmlns="{_NS}"><{action}Result>{body}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")


def _error(code: str, message: str) -> str:
    return (f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


def _not_found(gid: str) -> tuple[int, str]:
    return 404, _error("GlobalReplicationGroupNotFoundFault", f"Global Datastore {gid} not found")


# ---------------------------------------------------------------------------------------------
# RDS read replicas: what moto leaves out
# ---------------------------------------------------------------------------------------------

RDS_FIXED_ACTIONS = ("CreateDBInstanceReadReplica", "PromoteReadReplica")


def fix_rds_after(action: str, params: dict[str, str], region: str) -> None:
    """moto copies a cross-region replica from its source (its AZ stays in the source's region) and
    keeps the source on a promoted replica (`ReadReplicaSourceDBInstanceIdentifier` never clears).
    Correct both, as RDS behaves: a replica lives in its own region; a promoted one is standalone."""
    from moto.rds.models import rds_backends

    ident = params.get("DBInstanceIdentifier", "").lower()
    db = rds_backends[ACCOUNT_ID][region].databases.get(ident)
    if db is None:
        return
    if action == "CreateDBInstanceReadReplica" and not str(db.availability_zone).startswith(region):
        db.availability_zone = f"{region}a"
    if action == "PromoteReadReplica" and db.source_db_instance_identifier:
        source = db.source_db_instance_identifier
        source_region = source.split(":")[3] if source.startswith("arn:") else region
        primary = rds_backends[ACCOUNT_ID][source_region].databases.get(source.split(":")[-1])
        if primary is not None:
            primary.replicas = [r for r in primary.replicas if r not in (db.db_instance_arn, ident)]
        db.source_db_instance_identifier = None
        db.is_replica = False


# ---------------------------------------------------------------------------------------------
# AWS managed IAM policies, on demand
# ---------------------------------------------------------------------------------------------

_AWS_POLICY_DATA: dict[str, Any] = {}


def ensure_aws_managed_policy(arn: str) -> None:
    """Make the AWS managed policy `arn` exist before a role attaches it, as it does in AWS.

    moto only knows them all (~1,300, seconds to load, for the whole process) or none; the local AWS
    adds the ones the program actually attaches, from moto's own copy of their documents.
    """
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    if not arn.startswith("arn:aws:iam::aws:policy/"):
        return
    backend = iam_backends[ACCOUNT_ID]["aws"]
    if arn in backend.managed_policies:
        return
    if not _AWS_POLICY_DATA:
        _AWS_POLICY_DATA.update(json.loads(aws_managed_policies_data))
    name = arn.rsplit("/", 1)[-1]
    if name in _AWS_POLICY_DATA:
        policy = AWSManagedPolicy.from_data(name, ACCOUNT_ID, backend.region_name, _AWS_POLICY_DATA[name])
        backend.managed_policies[policy.arn] = policy


# ---------------------------------------------------------------------------------------------
# Warm-up
# ---------------------------------------------------------------------------------------------

#: Services a deploy and a drill touch, warmed in the background when a server starts: moto
#: imports each service and builds its per-region backend on first use (EC2's alone takes seconds).
WARM_SERVICES = ("ec2", "iam", "kms", "rds", "eks", "elbv2", "autoscaling", "elasticache", "route53",
                 "cloudwatch", "sns", "dynamodb", "secretsmanager", "logs", "events", "sts", "acm")


def warm_backends(regions: list[str]) -> None:
    """Import moto's service modules and build their backends for `regions` (best effort)."""
    import importlib

    for service in WARM_SERVICES:
        try:
            module = importlib.import_module(f"moto.{service}.models")
            backends = getattr(module, f"{service}_backends")
            for region in regions:
                backends[ACCOUNT_ID]["aws" if service in ("iam", "route53") else region]
        except Exception:  # noqa: BLE001,S112 - a warm-up that fails only means a slower first call
            continue


# ---------------------------------------------------------------------------------------------
# Pre-existing ACM certificates
# ---------------------------------------------------------------------------------------------


def ensure_certificates(arns: list[str], domain: str) -> list[str]:
    """Issued ACM certificates with exactly these ARNs (the stack config names certificates the
    organisation already owns, as it names an existing hosted zone); returns the ARNs added."""
    from moto.acm.models import CertBundle, acm_backends

    added = []
    for arn in arns:
        region = arn.split(":")[3]
        backend = acm_backends[ACCOUNT_ID][region]
        if arn in backend._certificates:
            continue
        bundle = CertBundle.generate_cert(domain, ACCOUNT_ID, region)
        bundle.arn = arn
        bundle.status = "ISSUED"
        backend._certificates[arn] = bundle
        added.append(arn)
    return added


# ---------------------------------------------------------------------------------------------
# EKS node group -> Auto Scaling group
# ---------------------------------------------------------------------------------------------


def nodegroup_update_target(path: str) -> tuple[str, str] | None:
    """(cluster, nodegroup) when `path` is an EKS UpdateNodegroupConfig call."""
    match = _NODEGROUP_UPDATE_RE.match(path)
    return (match.group(1), match.group(2)) if match else None


def resize_nodegroup_asg(region: str, cluster: str, nodegroup: str, body: bytes) -> None:
    """Apply a node group's new scaling config to its Auto Scaling group (what EKS does)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.eks.models import eks_backends

    scaling = (json.loads(body or b"{}") or {}).get("scalingConfig") or {}
    if not scaling:
        return
    group = eks_backends[ACCOUNT_ID][region].clusters.get(cluster)
    ng = group.nodegroups.get(nodegroup) if group is not None else None
    if ng is None:
        return
    backend = autoscaling_backends[ACCOUNT_ID][region]
    for ref in ng.resources.get("autoScalingGroups", []):
        asg = backend.autoscaling_groups.get(ref.get("name"))
        if asg is None:
            continue
        if scaling.get("maxSize") is not None:
            asg.max_size = int(scaling["maxSize"])
        if scaling.get("minSize") is not None:
            asg.min_size = int(scaling["minSize"])
        if scaling.get("desiredSize") is not None:
            asg.set_desired_capacity(int(scaling["desiredSize"]))
            backend.update_attached_target_groups(asg.name)
