"""The checker's verdicts on ledgers built by hand (no servers): what counts as lost, what as an error.

What could break: an indeterminate write counted as lost or as an error, a failed write that appeared
not flagged, an unknown row not flagged, the measured RPO taken from the wrong writes, an unread old
primary reported as "no split brain".
"""

from __future__ import annotations

from datetime import UTC, datetime

from hastack.local.dataplane.checker import compare
from hastack.local.dataplane.ledger import Ledger, LedgerEntry, Outcome

OLD, NEW = "postgres-us-east-1", "postgres-us-west-2"


def ledger_of(*rows: tuple[int, str, float, Outcome], round_trip: float = 0.001) -> Ledger:
    ledger = Ledger()
    for row_id, target, done_at, outcome in rows:
        ledger.record(LedgerEntry(row_id, "writer", target, done_at - round_trip, done_at, outcome))
    return ledger


def test_the_measured_rpo_spans_from_sending_the_first_lost_write_to_the_last_acknowledgement_on_the_old_writer(
        ) -> None:
    ledger = ledger_of((1, OLD, 10.00, Outcome.OK), (2, OLD, 10.05, Outcome.OK), (3, OLD, 10.10, Outcome.OK),
                       (4, OLD, 10.15, Outcome.OK), (5, OLD, 10.20, Outcome.INDETERMINATE),
                       (6, NEW, 12.00, Outcome.OK))
    result = compare(ledger, {1, 2, 6}, service="postgres", promoted=NEW)
    # Write 3 was sent at 10.099 and write 4 acknowledged at 10.15: both ends included. The DR writer's
    # acknowledgement (12.00) and the indeterminate write are outside the span.
    assert (result.lost, result.lost_sample, result.rpo_seconds) == (2, [3, 4], 0.051)
    assert (result.acknowledged, result.indeterminate, result.indeterminate_present) == (5, 1, 0)
    assert result.errors == []
    assert result.summary == (f"postgres {NEW}: lost 2 of 5 acknowledged writes (measured RPO 0.051 s); "
                              "1 indeterminate (0 applied); split brain not checked (no fence time given); "
                              "no anomaly")


def test_a_single_lost_write_has_a_non_zero_rpo_its_own_round_trip_never_rounded_to_zero() -> None:
    ledger = ledger_of((1, OLD, 10.00, Outcome.OK), (2, OLD, 10.05, Outcome.OK), round_trip=0.0002)
    result = compare(ledger, {1}, service="valkey", promoted=NEW)
    assert (result.lost, result.lost_sample) == (1, [2])
    assert result.rpo_seconds == 0.0002  # first lost sent == last acknowledged's send: its round trip
    assert "lost 1 of 2 acknowledged writes (measured RPO < 0.001 s)" in result.summary
    nothing_lost = compare(ledger, {1, 2}, service="valkey", promoted=NEW)
    assert (nothing_lost.lost, nothing_lost.rpo_seconds) == (0, 0.0)
    assert "lost 0 of 2 acknowledged writes;" in nothing_lost.summary


def test_indeterminate_writes_may_appear_but_failed_and_unknown_rows_are_errors() -> None:
    ledger = ledger_of((1, OLD, 1.0, Outcome.OK), (2, OLD, 1.1, Outcome.INDETERMINATE),
                       (3, OLD, 1.2, Outcome.FAILED))
    result = compare(ledger, {1, 2, 3, 77}, service="postgres", promoted=NEW)
    assert (result.lost, result.indeterminate_present) == (0, 1)
    assert result.errors == ["1 writes reported failed are present", "1 rows were never attempted (ids [77])"]
    earlier = compare(ledger, {1, 2, 77}, service="postgres", promoted=NEW, known={77})
    assert earlier.errors == []  # a row written by an earlier leg of the same drill is known


def test_split_brain_is_counted_only_when_the_old_primary_was_read() -> None:
    ledger = ledger_of((1, OLD, 1.0, Outcome.OK))
    fence = datetime(2026, 1, 1, tzinfo=UTC)
    unread = compare(ledger, {1}, service="postgres", promoted=NEW, fence_at=fence, old_primary=OLD,
                     old_primary_error="PostgreSQL postgres-us-east-1 is unreachable: timeout")
    assert unread.split_brain is None and unread.errors == []
    assert "split brain not checked (PostgreSQL postgres-us-east-1 is unreachable: timeout)" in unread.summary
    read = compare(ledger, {1}, service="postgres", promoted=NEW, fence_at=fence, old_primary=OLD, after_fence={9})
    assert read.split_brain == 1 and read.split_brain_sample == [9]
    assert read.errors == ["split brain: 1 writes committed on the old primary after the fence"]


def test_split_brain_counts_writes_sent_to_the_old_primary_not_ones_it_replicated_from_the_new() -> None:
    ledger = ledger_of((1, OLD, 1.0, Outcome.OK), (2, OLD, 5.0, Outcome.OK), (3, NEW, 6.0, Outcome.OK))
    fence = datetime.fromtimestamp(4.0, UTC)
    # The old primary, read directly after it rejoined as a replica of NEW: it holds write 3 (NEW's, replicated
    # back) and write 2, which a writer without a valid lease sent it after the fence.
    result = compare(ledger, {1, 3}, service="valkey", promoted=NEW, after_fence={2, 3}, fence_at=fence,
                     old_primary=OLD)
    assert (result.split_brain, result.split_brain_sample) == (1, [2])
    assert result.errors == ["split brain: 1 writes committed on the old primary after the fence"]
