"""The DR operator lock: one conditional write in the stack's DynamoDB lock table.

Why: two on-call engineers paged by the same outage must not both fail over (one promoting while
the other fails back would split the data). The lock item says who holds it — owner, host, pid,
since, expiry — so a refusal can name them. Patroni's rule applies: take the lock with
compare-and-swap, never by overwriting blindly. A lock past its expiry is *stale*, and breaking a
stale (or live) lock needs `--break-lock`, because only a human can know the other run is dead.
The one exception is our own crashed run: same host, a pid that no longer runs.

The table's hash-key attribute is read from DescribeTable, so the lock works with whatever key
name the lock-table component chose.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code


class LockError(Exception):
    """The lock could not be taken (held by someone else, or the table is unusable)."""


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    since: str
    expires_at: float
    run_id: str
    command: str

    def describe(self) -> str:
        return f"{self.owner}@{self.host} (pid {self.pid}, `{self.command}`) since {self.since}"


def me() -> tuple[str, str, int]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return user, socket.gethostname(), os.getpid()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def table_key(aws: ClientFactory, table: str, region: str) -> str:
    """The name of the table's hash-key attribute (what the lock item is keyed by)."""
    try:
        desc = aws.client("dynamodb", region).describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise LockError(f"lock table {table!r} does not exist in {region} (output coordination.tableName)") from exc
        raise LockError(f"could not read lock table {table!r} in {region}: {exc}") from exc
    except BotoCoreError as exc:
        raise LockError(f"could not read lock table {table!r} in {region}: {exc}") from exc
    for k in desc["KeySchema"]:
        if k["KeyType"] == "HASH":
            return str(k["AttributeName"])
    raise LockError(f"lock table {table!r} has no hash key")


class DrLock:
    """The lock item `dr-lock#<stack>` (see module docstring)."""

    def __init__(self, aws: ClientFactory, table: str, region: str, stack: str, command: str = "dr scale-up",
                 ttl_seconds: float = 3600.0) -> None:
        self.aws, self.table, self.region, self.stack = aws, table, region, stack
        self.command = command
        self.ttl_seconds = ttl_seconds
        self.lock_id = f"dr-lock#{stack}"
        self.run_id = uuid.uuid4().hex[:12]
        self._key: str | None = None

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = table_key(self.aws, self.table, self.region)
        return self._key

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb", self.region)

    def holder(self) -> Holder | None:
        try:
            item = self._client.get_item(TableName=self.table, Key={self.key: {"S": self.lock_id}},
                                         ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise LockError(f"could not read the DR lock in table {self.table!r} ({self.region}): {exc}") from exc
        if not item:
            return None
        return Holder(owner=item.get("owner", {}).get("S", "?"), host=item.get("host", {}).get("S", "?"),
                      pid=int(item.get("pid", {}).get("N", "0")), since=item.get("since", {}).get("S", "?"),
                      expires_at=float(item.get("expiresAt", {}).get("N", "0")),
                      run_id=item.get("runId", {}).get("S", ""), command=item.get("command", {}).get("S", "?"))

    def acquire(self, break_lock: bool = False, now: float | None = None) -> str:
        """Take the lock; return the sentence saying how. Raises LockError naming the holder."""
        wall = dt.datetime.now(dt.UTC)
        epoch = now if now is not None else wall.timestamp()
        held = self.holder()
        user, host, pid = me()
        how = "took the DR lock"
        if held is not None and held.run_id != self.run_id:
            stale = held.expires_at < epoch
            own_crash = held.host == host and held.owner == user and (held.pid == pid or not _pid_alive(held.pid))
            if own_crash:
                how = f"took over the DR lock left by an earlier run on this host ({held.describe()})"
            elif not break_lock:
                state = "stale (expired " + _iso(held.expires_at) + ")" if stale else "held"
                raise LockError(f"DR lock {state}: {held.describe()}. If that run is dead, re-run with --break-lock; "
                                f"otherwise let it finish")
            else:
                how = f"broke the DR lock held by {held.describe()}"
        item = {
            self.key: {"S": self.lock_id}, "owner": {"S": user}, "host": {"S": host}, "pid": {"N": str(pid)},
            "since": {"S": wall.isoformat(timespec="seconds")}, "runId": {"S": self.run_id},
            "command": {"S": self.command}, "expiresAt": {"N": str(int(epoch + self.ttl_seconds))},
        }
        if held is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#k)",
                                    "ExpressionAttributeNames": {"#k": self.key}}
        else:  # compare-and-swap on the run we saw: a third operator racing us loses
            cond = {"ConditionExpression": "runId = :seen", "ExpressionAttributeValues": {":seen": {"S": held.run_id}}}
        try:
            self._client.put_item(TableName=self.table, Item=item, **cond)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                now_held = self.holder()
                who = now_held.describe() if now_held else "another run"
                raise LockError(f"DR lock taken concurrently by {who}") from exc
            raise LockError(f"could not write the DR lock in table {self.table!r} ({self.region}): {exc}") from exc
        except BotoCoreError as exc:
            raise LockError(f"could not write the DR lock in table {self.table!r} ({self.region}): {exc}") from exc
        return f"{how} in {self.table} ({self.region}) as run {self.run_id}"

    def release(self) -> str:
        try:
            self._client.delete_item(TableName=self.table, Key={self.key: {"S": self.lock_id}},
                                     ConditionExpression="runId = :me",
                                     ExpressionAttributeValues={":me": {"S": self.run_id}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return "did not release the DR lock: it is no longer ours (broken by another operator)"
            raise LockError(f"could not release the DR lock in {self.table!r}: {exc}") from exc
        return "released the DR lock"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
