"""ElastiCache Global Datastores, which moto 5.2.5 lacks ("not implemented").

The datastores span regions, so they live in one process-wide registry beside moto's regional
backends; each member's role is mirrored on moto's own replication group
(`GlobalReplicationGroupInfo`), so `DescribeReplicationGroups` agrees with
`DescribeGlobalReplicationGroups`. Members join the way AWS makes them join: a replication group
created with `GlobalReplicationGroupId` becomes a SECONDARY.

What AWS does in a regional outage is kept: the planned `FailoverGlobalReplicationGroup` is
refused with `InvalidGlobalReplicationGroupState` while the primary member's region is dark
(`region_is_dark` is the world's view), and `DisassociateGlobalReplicationGroup` detaches a
secondary, which becomes a standalone primary that a later datastore can re-protect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID

#: AWS prefixes a Global Datastore's id with a short code of the account; a fixed one locally.
GLOBAL_ID_PREFIX = "ldgnf-"


class GlobalDatastoreError(Exception):
    """An AWS error answer: its code (a shape of the ElastiCache model) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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

    def primary(self) -> GlobalMember | None:
        return next((m for m in self.members if m.role == "PRIMARY"), None)

    def view(self, members: bool = True) -> dict[str, Any]:
        """The datastore as the ElastiCache API shapes it (`GlobalReplicationGroup`)."""
        out: dict[str, Any] = {
            "GlobalReplicationGroupId": self.gid, "GlobalReplicationGroupDescription": self.description,
            "Status": self.status, "CacheNodeType": self.node_type, "Engine": self.engine,
            "EngineVersion": self.engine_version, "ClusterEnabled": False, "AuthTokenEnabled": True,
            "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True,
            "ARN": f"arn:aws:elasticache::{ACCOUNT_ID}:globalreplicationgroup:{self.gid}",
        }
        if members:
            out["Members"] = [{"ReplicationGroupId": m.replication_group_id, "ReplicationGroupRegion": m.region,
                               "Role": m.role, "AutomaticFailover": "enabled", "Status": "associated"}
                              for m in self.members]
        return out


class GlobalDatastores:
    """The Global Datastores of the world and their members (thread-safe)."""

    def __init__(self, region_is_dark: Callable[[str], bool] = lambda region: False) -> None:
        self.stores: dict[str, GlobalDatastore] = {}
        self.lock = threading.Lock()
        self.region_is_dark = region_is_dark

    def reset(self) -> None:
        with self.lock:
            self.stores.clear()

    def _get(self, gid: str) -> GlobalDatastore:
        if gid not in self.stores:
            raise GlobalDatastoreError("GlobalReplicationGroupNotFoundFault", f"Global Datastore {gid} not found")
        return self.stores[gid]

    def create(self, suffix: str, primary_id: str, region: str, description: str = "") -> GlobalDatastore:
        with self.lock:
            gid = GLOBAL_ID_PREFIX + suffix
            if gid in self.stores:
                raise GlobalDatastoreError("GlobalReplicationGroupAlreadyExistsFault",
                                           f"Global Datastore {gid} already exists")
            group = moto_replication_group(region, primary_id)
            if group is None:
                raise GlobalDatastoreError("ReplicationGroupNotFoundFault", f"{primary_id} not found in {region}")
            if getattr(group, "global_replication_group_id", ""):
                raise GlobalDatastoreError("InvalidReplicationGroupState",
                                           f"{primary_id} is already a member of {group.global_replication_group_id}")
            store = GlobalDatastore(gid, description, getattr(group, "engine", "") or "redis",
                                    getattr(group, "engine_version", "") or "",
                                    getattr(group, "cache_node_type", "") or "")
            store.members.append(GlobalMember(primary_id, region, "PRIMARY"))
            _set_moto_membership(region, primary_id, gid, "PRIMARY")
            self.stores[gid] = store
            return store

    def describe(self, gid: str | None) -> list[GlobalDatastore]:
        with self.lock:
            return [self._get(gid)] if gid else list(self.stores.values())

    def failover(self, gid: str, region: str, group_id: str) -> GlobalDatastore:
        """The planned failover: refused while the current primary member's region is dark."""
        with self.lock:
            store = self._get(gid)
            target = _member(store, region, group_id)
            current = store.primary()
            if current is not None and current is not target and self.region_is_dark(current.region):
                raise GlobalDatastoreError(
                    "InvalidGlobalReplicationGroupState",
                    f"Global Datastore {gid} is not available for failover: its primary member "
                    f"{current.replication_group_id} in {current.region} is unavailable")
            if target.role != "PRIMARY":
                for member in store.members:
                    member.role = "PRIMARY" if member is target else "SECONDARY"
                    _set_moto_membership(member.region, member.replication_group_id, gid, member.role)
            return store

    def disassociate(self, gid: str, group_id: str, region: str) -> GlobalDatastore:
        """Detach a secondary: it becomes a standalone primary (AWS's path for a regional outage)."""
        with self.lock:
            store = self._get(gid)
            member = _member(store, region, group_id)
            if member.role == "PRIMARY":
                raise GlobalDatastoreError("InvalidParameterValue",
                                           f"{group_id} is the primary member of {gid}: only a secondary can be "
                                           "disassociated")
            store.members.remove(member)
            _set_moto_membership(region, group_id, "", "")
            return store

    def delete(self, gid: str) -> GlobalDatastore:
        with self.lock:
            store = self._get(gid)
            if any(m.role == "SECONDARY" for m in store.members):
                raise GlobalDatastoreError("InvalidGlobalReplicationGroupState",
                                           f"Global Datastore {gid} still has secondary members: "
                                           "disassociate them first")
            del self.stores[gid]
            for member in store.members:
                _set_moto_membership(member.region, member.replication_group_id, "", "")
            store.status = "deleting"
            return store

    def join(self, gid: str, replication_group_id: str, region: str) -> None:
        """A replication group created with `GlobalReplicationGroupId` joins as a SECONDARY."""
        with self.lock:
            store = self.stores.get(gid)
            if store is None:
                return
            if not any(m.replication_group_id == replication_group_id and m.region == region for m in store.members):
                store.members.append(GlobalMember(replication_group_id, region, "SECONDARY"))
            _set_moto_membership(region, replication_group_id, gid, "SECONDARY")

    def to_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s.view() for s in self.stores.values()]


def _member(store: GlobalDatastore, region: str, group_id: str) -> GlobalMember:
    found = next((m for m in store.members if m.region == region and m.replication_group_id == group_id), None)
    if found is None:
        raise GlobalDatastoreError("InvalidParameterValue",
                                   f"{group_id} in {region} is not a member of Global Datastore {store.gid}")
    return found


def moto_replication_group(region: str, group_id: str) -> Any:
    from moto.elasticache.models import elasticache_backends

    return elasticache_backends[ACCOUNT_ID][region].replication_groups.get(group_id)


def _set_moto_membership(region: str, group_id: str, gid: str, role: str) -> None:
    group = moto_replication_group(region, group_id)
    if group is None:
        return
    group.global_replication_group_id = gid
    if gid:
        group.global_replication_group_member_role = role
    elif hasattr(group, "global_replication_group_member_role"):
        del group.global_replication_group_member_role  # a standalone group, as moto creates one
