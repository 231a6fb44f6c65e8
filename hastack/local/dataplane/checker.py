"""The checker, Jepsen-style: the ledger of what clients were told against the data that survived.

After a failover the promoted database is read in full and compared with the ledger:

- an `ok` write that is missing was **lost**: acknowledged to its client, never replicated. The
  measured RPO is the span of acknowledged history the failover rolled back, both ends included:
  from the moment the first lost write was sent (its commit came after) to the moment the last write
  acknowledged on the old writer was acknowledged (its commit came before), from the ledger. Every
  lost commit lies inside it, and a single lost write spans its own round trip, so a loss never
  reads as an RPO of 0 (it is kept to the microsecond, and is at least 1 µs);
- an `indeterminate` write may or may not be there (both are counted, neither is an error);
- a `failed` write that is there, or a row whose id was never attempted, is an error in the
  system under test (or in the workload);
- split brain: the old primary is read directly, around the links, for rows committed after the
  fence took hold (rows it holds only because it now replicates from the promoted server, written
  there by the new writers, do not count) (`fence_at`: the moment every lease granted before the revocation had expired,
  which the DR command waits for before it promotes); any such row was written by a writer that
  kept writing without a valid lease. A write sent under a valid lease may commit after the
  revocation itself: that is what the wait is for.

Also for the cache (keys instead of rows; the stored write time instead of the commit time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import valkey
from pydantic import BaseModel, ConfigDict

from hastack.local.dataplane import postgres_sql
from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.ledger import Ledger, LedgerEntry, Outcome
from hastack.local.dataplane.processes import Endpoint
from hastack.local.dataplane.workload import CACHE_PREFIX

SAMPLE = 10
#: The measured RPO's unit (the ledger's clock is far finer): a loss is at least this, never 0.
RPO_RESOLUTION = 0.000001


class CheckResult(BaseModel):
    """What the checker found; `summary` is the sentence the drill logs and the tests assert."""

    model_config = ConfigDict(frozen=True)

    service: Literal["postgres", "valkey"]
    promoted: str
    attempted: int
    acknowledged: int
    failed: int
    indeterminate: int
    lost: int
    lost_sample: list[int]
    rpo_seconds: float
    indeterminate_present: int
    failed_present: int
    never_attempted: int
    never_attempted_sample: list[int]
    split_brain: int | None
    split_brain_sample: list[int]
    fence_at: datetime | None
    old_primary: str | None
    old_primary_error: str | None

    @property
    def errors(self) -> list[str]:
        """What must never happen, whatever the RPO: each item one clause."""
        found = []
        if self.failed_present:
            found.append(f"{self.failed_present} writes reported failed are present")
        if self.never_attempted:
            found.append(f"{self.never_attempted} rows were never attempted (ids {self.never_attempted_sample})")
        if self.split_brain:
            found.append(f"split brain: {self.split_brain} writes committed on the old primary after the fence")
        return found

    @property
    def rpo_text(self) -> str:
        """The measured RPO to the millisecond; a loss shorter than that reads "< 0.001 s", never 0."""
        return f"{self.rpo_seconds:.3f} s" if self.rpo_seconds >= 0.001 or not self.lost else "< 0.001 s"

    @property
    def summary(self) -> str:
        loss = (f"lost {self.lost} of {self.acknowledged} acknowledged writes (measured RPO {self.rpo_text})"
                if self.lost else f"lost 0 of {self.acknowledged} acknowledged writes")
        maybe = f"{self.indeterminate} indeterminate ({self.indeterminate_present} applied)"
        if self.split_brain is None:
            brain = ("split brain not checked (no fence time given)" if self.fence_at is None
                     else f"split brain not checked ({self.old_primary_error})")
        else:
            brain = f"{self.split_brain} writes on the old primary after the fence"
        verdict = "; ".join(self.errors) or "no anomaly"
        return f"{self.service} {self.promoted}: {loss}; {maybe}; {brain}; {verdict}"


def _rpo(lost: list[LedgerEntry], entries: list[LedgerEntry]) -> float:
    """First lost write sent -> last write acknowledged on the old writer, to the microsecond, never 0."""
    if not lost:
        return 0.0
    old_writers = {entry.target for entry in lost}
    first_lost_sent = min(entry.sent_at for entry in lost)
    last_ok = max(entry.done_at for entry in entries if entry.outcome == Outcome.OK and entry.target in old_writers)
    return max(round(last_ok - first_lost_sent, 6), RPO_RESOLUTION)


def compare(ledger: Ledger, present: set[int], *, service: Literal["postgres", "valkey"], promoted: str,
            after_fence: set[int] | None = None, fence_at: datetime | None = None, old_primary: str | None = None,
            old_primary_error: str | None = None, known: set[int] | frozenset[int] = frozenset()) -> CheckResult:
    """The verdict from the ledger and the ids present (pure: what `check_*` read is passed in).

    `known`: ids attempted by earlier runs (an earlier leg of the same drill): present, not an error.
    """
    entries = ledger.entries()
    by_outcome: dict[Outcome, list[LedgerEntry]] = {outcome: [] for outcome in Outcome}
    for entry in entries:
        by_outcome[entry.outcome].append(entry)
    lost = [entry for entry in by_outcome[Outcome.OK] if entry.id not in present]
    attempted = {entry.id for entry in entries}
    never = sorted(present - attempted - known)
    # A row the old primary holds because it now replicates from the promoted server (it rejoined as a
    # replica, as a Valkey that follows the new primary does) was not written to it: not split brain.
    sent_to = {entry.id: entry.target for entry in entries}
    brain = sorted(i for i in after_fence if sent_to.get(i) != promoted) if after_fence is not None else []
    return CheckResult(
        service=service, promoted=promoted, attempted=len(entries), acknowledged=len(by_outcome[Outcome.OK]),
        failed=len(by_outcome[Outcome.FAILED]), indeterminate=len(by_outcome[Outcome.INDETERMINATE]),
        lost=len(lost), lost_sample=[entry.id for entry in lost[:SAMPLE]], rpo_seconds=_rpo(lost, entries),
        indeterminate_present=sum(entry.id in present for entry in by_outcome[Outcome.INDETERMINATE]),
        failed_present=sum(entry.id in present for entry in by_outcome[Outcome.FAILED]),
        never_attempted=len(never), never_attempted_sample=never[:SAMPLE],
        split_brain=len(brain) if after_fence is not None else None, split_brain_sample=brain[:SAMPLE],
        fence_at=fence_at, old_primary=old_primary, old_primary_error=old_primary_error)


def check_postgres(ledger: Ledger, promoted: Endpoint, old_primary: Endpoint | None = None,
                   fence_at: datetime | None = None, known: set[int] | frozenset[int] = frozenset()) -> CheckResult:
    """Compare the ledger with the prediction log of `promoted`; read `old_primary` directly for split brain."""
    present = postgres_sql.row_ids(promoted)
    after, error = None, None
    if old_primary is not None and fence_at is not None:
        try:
            after = postgres_sql.ids_written_after(old_primary, fence_at.timestamp())
        except DataPlaneError as exc:
            error = str(exc)
    return compare(ledger, present, service="postgres", promoted=promoted.server, after_fence=after,
                   fence_at=fence_at, old_primary=old_primary.server if old_primary else None,
                   old_primary_error=error, known=known)


def _cache_entries(endpoint: Endpoint, timeout: float = 5.0) -> dict[int, float]:
    client = valkey.Valkey(host=endpoint.host, port=endpoint.port, socket_connect_timeout=timeout,
                           socket_timeout=timeout, decode_responses=True)
    try:
        keys = list(client.scan_iter(match=f"{CACHE_PREFIX}*", count=1000))
        values = client.mget(keys) if keys else []
    except valkey.ValkeyError as exc:
        raise DataPlaneError(f"Valkey {endpoint} is unreachable: {exc}") from exc
    finally:
        client.close()
    return {int(key.removeprefix(CACHE_PREFIX)): float(value.split()[0])
            for key, value in zip(keys, values, strict=True) if value is not None}


def check_valkey(ledger: Ledger, promoted: Endpoint, old_primary: Endpoint | None = None,
                 fence_at: datetime | None = None, known: set[int] | frozenset[int] = frozenset()) -> CheckResult:
    """Compare the ledger with the keys of the promoted cache; read `old_primary` directly for split brain."""
    present = set(_cache_entries(promoted))
    after, error = None, None
    if old_primary is not None and fence_at is not None:
        try:
            after = {key for key, at in _cache_entries(old_primary).items() if at > fence_at.timestamp()}
        except DataPlaneError as exc:
            error = str(exc)
    return compare(ledger, present, service="valkey", promoted=promoted.server, after_fence=after,
                   fence_at=fence_at, old_primary=old_primary.server if old_primary else None,
                   old_primary_error=error, known=known)


def utc_now() -> datetime:
    return datetime.now(UTC)
