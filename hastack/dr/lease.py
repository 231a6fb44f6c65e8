"""The writers' lease: the fence that holds while the primary region hangs (docs/lease-contract.md).

With the primary region's APIs hanging, no call can stop its writers. So writers write only while
they hold a lease they renew every few seconds, as Patroni's leader key works; the DR command
revokes the lease in the DR region and waits until every lease granted before has expired. The
lease item (`lease#<project>/<stack>` in the coordination table) says which region may write:

    holder        the region allowed to write, or "" during a failover
    epoch         +1 on every change (changes are conditional on the epoch seen)
    leaseSeconds  how long a renewal is valid, counted from before the renewing read
    changedAt     wall-clock epoch seconds of the change (when "" began, for a later run)
    changedBy     who changed it (run id, user@host)
    reason        why

Two sides live here. `LeaseStore` is the DR command's: read, revoke (holder "" , epoch+1), grant
(holder = a region, epoch+1) — one conditional `UpdateItem` each (MRSC has no transactions). And
`RegionLease` is the writer's side of the contract, which any service image that writes must keep
(the data plane's leased writer uses it): renew = a strongly consistent read of the item through
the writer's own region; valid for `leaseSeconds` from *before* the read if the holder is the
writer's region and the epoch is the one it adopted; on any failure, not valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code
from hastack.dr.deployment import Coordination


class LeaseError(Exception):
    """The lease could not be read or changed (the message says where and why)."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True)
class LeaseState:
    holder: str
    epoch: int
    lease_seconds: float
    changed_at: float
    changed_by: str
    reason: str

    @property
    def revoked(self) -> bool:
        return self.holder == ""

    def describe(self) -> str:
        who = f"held by {self.holder}" if self.holder else "revoked (nobody may write)"
        return f"lease {who}, epoch {self.epoch}"


def _state(item: dict[str, Any], default_seconds: float) -> LeaseState:
    return LeaseState(holder=item.get("holder", {}).get("S", ""), epoch=int(item.get("epoch", {}).get("N", "0")),
                      lease_seconds=float(item.get("leaseSeconds", {}).get("N", str(default_seconds))),
                      changed_at=float(item.get("changedAt", {}).get("N", "0")),
                      changed_by=item.get("changedBy", {}).get("S", ""), reason=item.get("reason", {}).get("S", ""))


class LeaseStore:
    """The DR command's side: read, revoke, grant — through the coordination table's home region."""

    def __init__(self, aws: ClientFactory, coordination: Coordination, lease_seconds: float,
                 region: str | None = None) -> None:
        self.aws, self.coord, self.lease_seconds = aws, coordination, lease_seconds
        self.region = region or coordination.region

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb", self.region)

    def _where(self) -> str:
        return f"the lease in {self.coord.table} ({self.region})"

    def read(self) -> LeaseState | None:
        """The lease as a strongly consistent read sees it (None: no lease item — nobody may write)."""
        try:
            item = self._client.get_item(TableName=self.coord.table, Key={self.coord.key: {"S": self.coord.lease_id}},
                                         ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise LeaseError(f"could not read {self._where()}: {exc}") from exc
        return _state(item, self.lease_seconds) if item else None

    def _change(self, seen: LeaseState | None, holder: str, by: str, reason: str) -> LeaseState:
        now = time.time()
        epoch = (seen.epoch if seen else 0) + 1
        values: dict[str, Any] = {":h": {"S": holder}, ":e": {"N": str(epoch)},
                                  ":s": {"N": f"{self.lease_seconds:g}"}, ":at": {"N": f"{now:.3f}"},
                                  ":by": {"S": by}, ":why": {"S": reason}}
        if seen is None:
            cond = "attribute_not_exists(#k)"
            names = {"#k": self.coord.key}
        else:
            cond, names = "epoch = :seen", {}
            values[":seen"] = {"N": str(seen.epoch)}
        try:
            self._client.update_item(
                TableName=self.coord.table, Key={self.coord.key: {"S": self.coord.lease_id}},
                UpdateExpression="SET holder = :h, epoch = :e, leaseSeconds = :s, changedAt = :at, changedBy = :by, "
                                 "reason = :why",
                ConditionExpression=cond, ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseError(f"{self._where()} changed while we changed it (epoch is no longer "
                                 f"{seen.epoch if seen else 'absent'}): read it again", conflict=True) from exc
            raise LeaseError(f"could not change {self._where()}: {exc}") from exc
        except BotoCoreError as exc:
            raise LeaseError(f"could not change {self._where()}: {exc}") from exc
        return LeaseState(holder, epoch, self.lease_seconds, now, by, reason)

    def revoke(self, seen: LeaseState | None, by: str, reason: str) -> LeaseState:
        """Nobody may write from now on (holder "", epoch + 1); `changed_at` is when the change returned."""
        state = self._change(seen, "", by, reason)
        return LeaseState(state.holder, state.epoch, state.lease_seconds, time.time(), by, reason)

    def grant(self, seen: LeaseState | None, region: str, by: str, reason: str) -> LeaseState:
        """`region`'s writers may write from now on (epoch + 1)."""
        return self._change(seen, region, by, reason)


class RegionLease:
    """The writer's side of the contract (docs/lease-contract.md), for a writer in `region`.

    `renew()` reads the lease item through the table replica in the writer's own region with a
    strongly consistent read (with MRSC that read needs a majority of the three regions); it is
    valid for `leaseSeconds` from the monotonic moment *before* the read, if `holder` is this region
    and `epoch` is the one adopted on the first successful read. `remaining()` is how long a write
    may still start (the validity minus `safety_seconds`, which must cover the statement timeout).
    A failed or refused renewal leaves the writer without a lease at once. Same methods as the data
    plane's `Lease` (renew, remaining), so its leased writer can run on it.
    """

    def __init__(self, aws: ClientFactory, coordination: Coordination, region: str, lease_seconds: float,
                 safety_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = LeaseStore(aws, coordination, lease_seconds, region=region)
        self.region, self.lease_seconds, self.safety = region, lease_seconds, safety_seconds
        self.clock = clock
        self.epoch: int | None = None
        self._valid_until = float("-inf")
        self.last_error: str | None = None

    def renew(self) -> bool:
        started = self.clock()
        try:
            state = self.store.read()
        except LeaseError as exc:
            self.last_error = str(exc)
            self._valid_until = float("-inf")
            return False
        if state is None or state.holder != self.region or (self.epoch is not None and state.epoch != self.epoch):
            self.last_error = "no lease item" if state is None else f"{state.describe()} (we hold epoch {self.epoch})"
            self._valid_until = float("-inf")
            return False
        if self.epoch is None:
            self.epoch = state.epoch
        self.last_error = None
        self._valid_until = started + min(self.lease_seconds, state.lease_seconds)
        return True

    def remaining(self) -> float:
        return max(0.0, self._valid_until - self.safety - self.clock())
