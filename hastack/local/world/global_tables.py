"""DynamoDB global tables, which moto 5.2.5 accepts and ignores: replicas that are one table, and
multi-Region strong consistency (MRSC) with its quorum.

moto answers `UpdateTable(ReplicaUpdates=..., GlobalTableWitnessUpdates=...,
MultiRegionConsistency="STRONG")` and keeps nothing of it: no replica in the other regions, no
witness, no quorum. The world keeps what AWS does (docs.aws.amazon.com/amazondynamodb/latest/
developerguide/bp-global-table-design.html, "Key facts about MRSC"):

- **one table in every replica region.** `UpdateTable` with `Create` actions makes the table a
  global table: its replicas are the table's own region and the created ones, and a request
  signed for any replica region reaches the same moto table (the world aliases it in each
  region's backend). Replication is instant here (AWS: synchronous to one other region for MRSC,
  about a second for MREC);
- **MRSC membership**, validated as AWS does: exactly three regions (three replicas, or two
  replicas and a witness), in one MRSC region set (`MRSC_REGION_SETS`), converted while the table
  holds no data, no LSI, no TTL; no replica or witness added later; deleted two members at a time
  (the last replica becomes a single-region table); the consistency mode never changes. A witness
  holds no table: nothing reads or writes it, it only counts for the quorum;
- **the quorum** (`quorum`, asked by the world's verdict on every DynamoDB request): through a
  replica in region X, a strongly consistent read (`GetItem`/`Query`/`Scan`/`BatchGetItem` with
  `ConsistentRead`, PartiQL `SELECT` with it) or any write (`PutItem`, `UpdateItem`,
  `DeleteItem`, `BatchWriteItem`, PartiQL `INSERT`/`UPDATE`/`DELETE`; conditional or not) needs a
  majority of the members (X, the other replica, the witness) reachable from X. A member is
  reachable from X when it is X, or when neither is dark (`downRegions`) and neither is cut off
  (`partitionedRegions`: a region whose endpoints answer but which reaches no other region).
  Without a majority the call gets `NO_QUORUM_CODE` (HTTP 500): AWS documents that such calls
  "return errors" but not which, so the world answers the service's generic server error;
- **an isolated replica serves eventually consistent reads from what it had** (`refresh`): when
  a replica loses its quorum, its region's table becomes a frozen copy of the data at that moment
  (writes made by the majority meanwhile are not in it, as on AWS); when it regains the quorum it
  is the shared table again (caught up);
- **no transactions, no TTL on MRSC tables**: `TransactWriteItems`, `TransactGetItems`,
  `ExecuteTransaction` and `UpdateTimeToLive` on an MRSC table get a `ValidationException`
  (AWS: "transactional operations on MRSC tables will generate errors"; the code is not documented).

Membership is kept on the world's registry beside moto's table objects and lives exactly as long
as the tables: `resetEmulation` and `heal()` keep it (the end of an outage must not turn a global
table back into regional ones), moto's reset forgets it with the tables.

Multi-Region eventual consistency (MREC) replicas are aliased too, without a quorum: their writes
succeed in any reachable region and replicate at once (no conflict, no lag is modelled).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID

STRONG, EVENTUAL = "STRONG", "EVENTUAL"
CONSISTENCY_MODES = (STRONG, EVENTUAL)
#: The regions an MRSC global table may span: exactly three members, all from one set.
MRSC_REGION_SETS = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
#: The error an MRSC call without a quorum gets (HTTP 500; botocore retries it within its attempts).
NO_QUORUM_CODE = "InternalServerError"
NO_QUORUM_STATUS = 500
#: Operations always writing; reads that need a quorum only with ConsistentRead.
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_READS = frozenset({"GetItem", "Query", "Scan"})
_TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems", "ExecuteTransaction"})
_PARTIQL_TABLE = re.compile(r'(?is)\b(?:from|into|update)\s+"?([A-Za-z0-9_.-]+)"?')


class GlobalTableError(Exception):
    """What DynamoDB refuses about a global table: its error code and message."""

    def __init__(self, message: str, code: str = "ValidationException") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _backend(region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT_ID][region]


def table_name(name_or_arn: str) -> str:
    """A table's name from its name or ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>`)."""
    return name_or_arn.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in name_or_arn else name_or_arn


def mrsc_region_set(regions: Iterable[str]) -> frozenset[str] | None:
    """The MRSC region set holding every one of `regions`, or None."""
    wanted = set(regions)
    return next((s for s in MRSC_REGION_SETS if wanted <= s), None)


@dataclass(eq=False)
class GlobalTable:
    """One global table: the shared moto table, its replica regions (the original first), its
    witness, its consistency mode, and the frozen copies isolated replicas serve."""

    name: str
    table: Any
    replicas: list[str]
    witness: str | None
    consistency: str
    snapshots: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        return self.replicas + ([self.witness] if self.witness else [])

    def served_by(self, region: str) -> Any:
        """The moto table a request in `region` reaches (the shared one, or its frozen copy)."""
        return self.snapshots.get(region, self.table)

    def is_live(self) -> bool:
        """Its tables still exist in moto (a moto reset forgets them, and this with them)."""
        return any(_backend(r).tables.get(self.name) is self.served_by(r) for r in self.replicas)


@dataclass(frozen=True)
class Quorum:
    """Whether a replica reaches a majority of its global table's members, and which it reaches."""

    region: str
    reached: tuple[str, ...]
    unreached: tuple[tuple[str, str], ...]  # (member, why)
    needed: int

    @property
    def ok(self) -> bool:
        return len(self.reached) >= self.needed


class GlobalTables:
    """The global tables of the world (thread-safe: shares the world's lock).

    `link(a, b)` is the world's view of the network: (True, "") when region `a` reaches region `b`,
    else (False, why).
    """

    def __init__(self, link: Callable[[str, str], tuple[bool, str]], lock: threading.RLock | None = None) -> None:
        self.tables: list[GlobalTable] = []
        self.link = link
        self.lock = lock or threading.RLock()

    # --- reading ------------------------------------------------------------------------------

    def find(self, region: str, name: str) -> GlobalTable | None:
        """The live global table named `name` with a replica in `region`, if any."""
        name = table_name(name)
        with self.lock:
            for table in self.tables:
                if table.name == name and region in table.replicas and table.is_live():
                    return table
            return None

    def quorum(self, table: GlobalTable, region: str) -> Quorum:
        with self.lock:
            reached, unreached = [], []
            for member in table.members:
                ok, why = self.link(region, member)
                if ok:
                    reached.append(member)
                else:
                    role = "witness" if member == table.witness else "replica"
                    unreached.append((member, f"{role}, {why}"))
            return Quorum(region, tuple(reached), tuple(unreached), len(table.members) // 2 + 1)

    def no_quorum(self, region: str, operation: str, body: bytes | str | None) -> str | None:
        """Why a DynamoDB request through `region` must fail for want of a quorum, or None."""
        names = _strong_tables(operation, body)
        if not names:
            return None
        with self.lock:
            for name in names:
                table = self.find(region, name)
                if table is None or table.consistency != STRONG:
                    continue
                quorum = self.quorum(table, region)
                if not quorum.ok:
                    lost = ", ".join(f"{m} ({why})" for m, why in quorum.unreached)
                    return (f"{operation} on the multi-Region strongly consistent table {table.name} through {region} "
                            f"failed: the replica in {region} reaches {len(quorum.reached)} of "
                            f"{len(table.members)} members ({', '.join(quorum.reached)}; unreachable: {lost}); writes "
                            f"and strongly consistent reads need {quorum.needed}: only eventually consistent reads "
                            "are served there")
            return None

    def describe(self, region: str, name: str, description: dict[str, Any]) -> None:
        """Add what DescribeTable shows of a global table (replicas, witness, mode) to `description`."""
        table = self.find(region, name)
        if table is None:
            return
        with self.lock:
            description["TableArn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table.name}"
            description["GlobalTableVersion"] = "2019.11.21"
            description["MultiRegionConsistency"] = table.consistency
            description["Replicas"] = [
                {"RegionName": r, "ReplicaStatus": "ACTIVE",
                 "ReplicaArn": f"arn:aws:dynamodb:{r}:{ACCOUNT_ID}:table/{table.name}"} for r in table.replicas]
            if table.witness:
                description["GlobalTableWitnesses"] = [{"RegionName": table.witness, "WitnessStatus": "ACTIVE"}]

    def to_json(self) -> list[dict[str, Any]]:
        """Every live global table: members, mode, and whether each replica reaches a quorum."""
        with self.lock:
            out = []
            for table in self.tables:
                if not table.is_live():
                    continue
                quorums = {r: self.quorum(table, r) for r in table.replicas}
                out.append({
                    "tableName": table.name, "consistency": table.consistency, "replicas": list(table.replicas),
                    "witness": table.witness,
                    "quorum": {r: (q.ok if table.consistency == STRONG else None) for r, q in quorums.items()},
                    "isolatedReplicas": sorted(table.snapshots)})
            return out

    # --- changing -----------------------------------------------------------------------------

    def update(self, region: str, name: str, replica_updates: list[dict[str, Any]] | None,
               witness_updates: list[dict[str, Any]] | None, consistency: str | None) -> Callable[[], None]:
        """Check an `UpdateTable`'s global-table part against what DynamoDB allows; return the
        change, to apply once the rest of the update succeeded (raises `GlobalTableError`)."""
        name = table_name(name)
        creates, deletes = _regions(replica_updates, "Create"), _regions(replica_updates, "Delete")
        w_creates, w_deletes = _regions(witness_updates, "Create"), _regions(witness_updates, "Delete")
        if consistency is not None and consistency not in CONSISTENCY_MODES:
            raise GlobalTableError(f"MultiRegionConsistency {consistency!r}: one of {', '.join(CONSISTENCY_MODES)}")
        with self.lock:
            table = self.find(region, name)
            if table is None:
                return self._create(region, name, creates, deletes, w_creates, w_deletes, consistency)
            return self._change(table, creates, deletes, w_creates, w_deletes, consistency)

    def _create(self, region: str, name: str, creates: list[str], deletes: list[str], w_creates: list[str],
                w_deletes: list[str], consistency: str | None) -> Callable[[], None]:
        if deletes or w_deletes:
            raise GlobalTableError(f"Table {name} in {region} is not a global table: it has no replica or witness "
                                   "to delete")
        if not creates and not w_creates:
            if consistency is not None:
                raise GlobalTableError("MultiRegionConsistency is only valid when creating a global table (with "
                                       "Create actions in ReplicaUpdates)")
            return lambda: None
        mode = consistency or EVENTUAL
        members = [region, *creates, *w_creates]
        if len(set(members)) != len(members):
            raise GlobalTableError(f"Each region may hold one replica or the witness of table {name}: got "
                                   f"{', '.join(members)} (the table's own region {region} included)")
        if w_creates and mode != STRONG:
            raise GlobalTableError("A witness (GlobalTableWitnessUpdates) is only valid for a global table with "
                                   "MultiRegionConsistency STRONG")
        local = _backend(region).get_table(name)
        if mode == STRONG:
            if len(members) != 3 or len(w_creates) > 1:
                raise GlobalTableError(f"A multi-Region strongly consistent global table spans exactly three "
                                       f"regions (three replicas, or two replicas and a witness): got "
                                       f"{', '.join(members)}")
            if mrsc_region_set(members) is None:
                sets = "; ".join(", ".join(sorted(s)) for s in MRSC_REGION_SETS)
                raise GlobalTableError(f"Regions {', '.join(members)} are not in one MRSC region set (one of: {sets})")
            if len(local):
                raise GlobalTableError(f"Table {name} holds {len(local)} item(s): multi-Region strong consistency can "
                                       "only be enabled on a table that contains no data")
            if local.indexes:
                raise GlobalTableError(f"Table {name} has local secondary indexes: MRSC global tables do not support "
                                       "them")
            if (getattr(local, "ttl", None) or {}).get("TimeToLiveStatus") == "ENABLED":
                raise GlobalTableError(f"Table {name} has Time to Live enabled: MRSC global tables do not support it")
        for replica in creates:
            if name in _backend(replica).tables:
                raise GlobalTableError(f"A table named {name} already exists in {replica}")

        def apply() -> None:
            with self.lock:
                for replica in creates:
                    _backend(replica).tables[name] = local
                self.tables = [t for t in self.tables if t.is_live()]
                self.tables.append(GlobalTable(name, local, [region, *creates], w_creates[0] if w_creates else None,
                                               mode))
                self.refresh()

        return apply

    def _change(self, table: GlobalTable, creates: list[str], deletes: list[str], w_creates: list[str],
                w_deletes: list[str], consistency: str | None) -> Callable[[], None]:
        if consistency is not None and consistency != table.consistency:
            raise GlobalTableError(f"Global table {table.name} is {table.consistency}: a global table's consistency "
                                   "mode cannot be changed")
        unknown = [r for r in deletes if r not in table.replicas] + [r for r in w_deletes if r != table.witness]
        if unknown:
            raise GlobalTableError(f"Global table {table.name} has no replica or witness in {', '.join(unknown)} "
                                   f"(members: {', '.join(table.members)})")
        if table.consistency == STRONG:
            if creates or w_creates:
                raise GlobalTableError(f"Replicas or a witness cannot be added to the existing MRSC global table "
                                       f"{table.name} (members: {', '.join(table.members)})")
            removed = set(deletes) | set(w_deletes)
            remaining = [r for r in table.replicas if r not in removed]
            if removed and (len(removed) != 2 or len(remaining) != 1):
                raise GlobalTableError(f"A single replica or witness cannot be deleted from the MRSC global table "
                                       f"{table.name}: delete two replicas, or one replica and the witness")
        else:
            if w_creates:
                raise GlobalTableError("A witness is only valid for a global table with MultiRegionConsistency STRONG")
            taken = [r for r in creates if r in table.replicas or table.name in _backend(r).tables]
            if taken:
                raise GlobalTableError(f"A table named {table.name} already exists in {', '.join(taken)}")
            remaining = [r for r in table.replicas if r not in deletes] + creates
            if not remaining:
                raise GlobalTableError(f"Deleting every replica of {table.name} would leave no table")

        def apply() -> None:
            with self.lock:
                for region in deletes:
                    _backend(region).tables.pop(table.name, None)
                for region in creates:
                    _backend(region).tables[table.name] = table.table
                table.replicas = remaining
                table.witness = None if table.witness in w_deletes else table.witness
                if len(table.replicas) < 2 and table.witness is None:  # a single-region table again
                    region = table.replicas[0]
                    _backend(region).tables[table.name] = table.table
                    self.tables.remove(table)
                else:
                    self.refresh()

        return apply

    def refresh(self) -> None:
        """Freeze the table of every MRSC replica that lost its quorum; thaw those that regained it."""
        with self.lock:
            self.tables = [t for t in self.tables if t.is_live()]
            for table in self.tables:
                if table.consistency != STRONG:
                    continue
                for region in table.replicas:
                    isolated = not self.quorum(table, region).ok
                    if isolated and region not in table.snapshots:
                        table.snapshots[region] = copy.deepcopy(table.table)
                        _backend(region).tables[table.name] = table.snapshots[region]
                    elif not isolated and region in table.snapshots:
                        del table.snapshots[region]
                        _backend(region).tables[table.name] = table.table

    def forget_stale(self) -> None:
        """Drop the global tables moto no longer has (after a moto reset)."""
        with self.lock:
            self.tables = [t for t in self.tables if t.is_live()]


def _regions(updates: list[dict[str, Any]] | None, action: str) -> list[str]:
    return [str(u[action].get("RegionName")) for u in updates or [] if isinstance(u.get(action), dict)]


def _strong_tables(operation: str, body: bytes | str | None) -> list[str]:
    """The tables a DynamoDB request writes or reads strongly (those that need a quorum on MRSC)."""
    if operation not in _WRITES | _READS | {"BatchGetItem", "BatchWriteItem", "ExecuteStatement",
                                             "BatchExecuteStatement"}:
        return []
    try:
        params = json.loads(body or b"{}")
    except (ValueError, TypeError):
        return []
    if not isinstance(params, dict):
        return []
    if operation in _WRITES:
        return [str(params.get("TableName", ""))]
    if operation in _READS:
        return [str(params.get("TableName", ""))] if params.get("ConsistentRead") else []
    if operation == "BatchWriteItem":
        return list(params.get("RequestItems") or {})
    if operation == "BatchGetItem":
        return [name for name, spec in (params.get("RequestItems") or {}).items()
                if isinstance(spec, dict) and spec.get("ConsistentRead")]
    statements = [params] if operation == "ExecuteStatement" else list(params.get("Statements") or [])
    return [name for s in statements if isinstance(s, dict) for name in _partiql_strong_table(s)]


def _partiql_strong_table(statement: dict[str, Any]) -> list[str]:
    text = str(statement.get("Statement", ""))
    match = _PARTIQL_TABLE.search(text)
    if match is None:
        return []
    writes = text.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
    return [match.group(1)] if writes or statement.get("ConsistentRead") else []


def transaction_tables(operation: str, body: dict[str, Any]) -> list[str]:
    """The tables a transactional request touches (MRSC tables refuse transactions)."""
    if operation == "ExecuteTransaction":
        found = [_PARTIQL_TABLE.search(str(s.get("Statement", ""))) for s in body.get("TransactStatements") or []]
        return [m.group(1) for m in found if m]
    if operation not in _TRANSACTIONS:
        return []
    names = []
    for item in body.get("TransactItems") or []:
        for action in (item or {}).values():
            if isinstance(action, dict) and action.get("TableName"):
                names.append(str(action["TableName"]))
    return names
