"""The writer's side of the fence: a lease that must be held, and renewed, for every write.

With the primary region hanging no API can stop its writers, so the fence is a lease (as Patroni's
leader key is): a writer writes only while it holds a lease it renews every few seconds, and the DR
command revokes the lease and waits until every lease granted before has expired before it promotes.
The contract a writer keeps (`workload.LeasedWriter` keeps it; any service image must):

1. Before each write, the lease must stay valid for at least the write's whole bound (its timeout)
   plus a safety margin, counted on the writer's own monotonic clock from *before* the renewal
   request was sent; otherwise renew first.
2. When a renewal fails (refused, or the store cannot be reached within its bound), do not write.
3. A write whose outcome is unknown when the lease runs out is abandoned (its connection closed),
   never retried under an expired lease.

The failover work (issue 12) provides the real lease, kept in a store with a quorum across three
regions; `LeaseTable` here is an in-process stand-in with the same behaviour for the data plane's
own tests and demos.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable


class Lease(ABC):
    """One holder's lease. `renew` renews or acquires it; `remaining` says for how long it is certain."""

    @abstractmethod
    def renew(self) -> bool:
        """Renew (or acquire) the lease, within a bounded time; True when it is held afterwards."""

    @abstractmethod
    def remaining(self) -> float:
        """Seconds the lease is certainly still held, by this process's monotonic clock (0 when not held)."""


class LeaseTable:
    """An in-process lease store: one holder at a time, leases of `duration` seconds, revocable.

    `revoke()` is the fence: nobody can renew afterwards, and it returns the monotonic time after which
    every lease granted before has expired (the time the DR command must wait for before promoting).
    """

    def __init__(self, duration: float, holder: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if duration <= 0:
            raise ValueError(f"a lease duration must be > 0 seconds, got {duration}")
        self.duration = duration
        self.holder = holder
        self.clock = clock
        self.renewals = 0
        self._lock = threading.Lock()

    def grant(self, holder: str) -> None:
        """Let `holder` (and only it) acquire and renew the lease from now on."""
        with self._lock:
            self.holder = holder

    def revoke(self) -> float:
        """Nobody may renew any more; returns when the last lease granted before has surely expired."""
        with self._lock:
            self.holder = None
            return self.clock() + self.duration

    def try_renew(self, holder: str) -> bool:
        with self._lock:
            if self.holder != holder:
                return False
            self.renewals += 1
            return True

    def lease(self, holder: str) -> TableLease:
        return TableLease(self, holder)


class TableLease(Lease):
    """A holder's lease in a `LeaseTable`."""

    def __init__(self, table: LeaseTable, holder: str) -> None:
        self.table = table
        self.holder = holder
        self._expires = float("-inf")

    def renew(self) -> bool:
        asked_at = self.table.clock()  # validity counts from before the request: never longer than granted
        if not self.table.try_renew(self.holder):
            self._expires = float("-inf")
            return False
        self._expires = asked_at + self.table.duration
        return True

    def remaining(self) -> float:
        return max(0.0, self._expires - self.table.clock())
