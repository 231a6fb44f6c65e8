"""The RPO gate's evidence: an age, unknown is never zero, and the estimate stops growing when the primary stops.

Pure tables over `ReplicaLag` histories (what CloudWatch returns), then one run of `lag_history`
against moto to pin the reading of CloudWatch's answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import boto3
import pytest

from hastack.dr.aws import ClientFactory
from hastack.dr.evidence import Evidence, lag_history, points_of, rpo_refusal
from tests.dr_runs import moto_only

NOW = dt.datetime(2026, 11, 28, 3, 20, tzinfo=dt.UTC)
RID = "hastack-prod-us-west-2"


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def ev(*pairs: tuple[float, float], max_age: float = 180, outage: dt.datetime | None = None) -> Evidence:
    return Evidence(points_of([(ago(s), lag) for s, lag in pairs]), NOW, max_age, outage)


def test_missing_stale_and_minus_one_are_unknown_never_zero() -> None:
    assert ev().unknown_because(RID) == f"no ReplicaLag datapoint for {RID!r}: the replica's data age is unknown"
    assert ev((60, -1)).unknown_because(RID) == (
        f"ReplicaLag of {RID!r} is -1 at 03:19:00 (RDS reports -1 when replication is not running): the data age is "
        "unknown")
    assert ev((540, 2)).unknown_because(RID) == (
        f"the latest ReplicaLag datapoint of {RID!r} is 540 s old (from 03:11:00; evidence must be at most 180 s "
        "old): the data age now is unknown")
    assert ev((60, 2)).unknown_because(RID) is None


@pytest.mark.parametrize("pairs", [(), ((60, -1),), ((540, 2),)])
def test_unknown_refuses_unless_accepted(pairs: tuple[tuple[float, float], ...]) -> None:
    evidence = ev(*pairs)
    why, _ = rpo_refusal(evidence, RID, 60, accept_data_loss=False)
    assert why is not None and why.endswith("so the data loss cannot be bounded by the 60 s RPO budget; re-run with "
                                            "--accept-data-loss to promote anyway")
    accepted, said = rpo_refusal(evidence, RID, 60, accept_data_loss=True)
    assert accepted is None and said.endswith("; promoting anyway (--accept-data-loss)")


def test_while_the_replica_replicates_the_estimate_is_its_latest_lag() -> None:
    # Replay advances with time (heartbeat): r = t - lag moves forward at every datapoint.
    evidence = ev((180, 2), (120, 3), (60, 2))
    assert evidence.estimate_lost_seconds() == 2.0
    assert evidence.stopped_at() == (ago(60), "the latest datapoint (replay still advancing: the replica is "
                                              "replicating)")


def test_after_the_primary_stops_lag_grows_but_the_estimate_does_not() -> None:
    # Replay stopped at 03:16:58 (2 s behind at 03:17:00); lag grows 1 s/s afterwards.
    history = [(180, 2), (120, 62), (60, 122)]
    early, late = ev(*history[:2]), ev(*history)
    assert early.estimate_lost_seconds() == 2.0 and late.estimate_lost_seconds() == 2.0
    assert late.stopped_at() == (ago(180), "the first datapoint at which replay stopped advancing")
    assert late.describe() == ("estimated data loss 2 s (replica replayed up to 03:16:58, primary stopped at "
                               "03:17:00: the first datapoint at which replay stopped advancing; latest ReplicaLag "
                               "122 s at 03:19:00)")
    why, said = rpo_refusal(late, RID, 60, accept_data_loss=False)
    assert why is None and said.endswith("within the 60 s RPO budget")


def test_the_operators_outage_start_is_the_stop_moment() -> None:
    evidence = ev((180, 2), (120, 62), (60, 122), outage=ago(150))
    assert evidence.estimate_lost_seconds() == 32.0
    assert evidence.stopped_at()[1] == "the outage start you gave"


def test_lag_rising_past_the_budget_refuses_naming_the_estimate() -> None:
    # The replica falls behind while the primary writes: replay advances slowly.
    evidence = ev((180, 2), (120, 40), (60, 90))
    why, _ = rpo_refusal(evidence, RID, 60, accept_data_loss=False)
    assert why is not None and why.startswith("estimated data loss 90 s")
    assert why.endswith("over the 60 s RPO budget; re-run with --accept-data-loss to accept that loss")


def test_failback_evidence_must_come_from_after_the_fence() -> None:
    fence = ago(100)
    old = ev((240, 0), (180, 0))  # lag 0, but measured before the fence
    assert old.proves_replay_after(fence) is None
    new = ev((240, 0), (180, 0), (60, 1))  # replayed up to 61 s ago: after the fence (100 s ago)
    point = new.proves_replay_after(fence)
    assert point is not None and point.at == ago(60)


@pytest.fixture()
def cloudwatch() -> Iterator[None]:
    with moto_only():
        yield


def test_lag_history_reads_the_maximum_per_minute_oldest_first(cloudwatch: None) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    cw = boto3.client("cloudwatch", region_name="us-west-2")
    for minutes, lag in ((3, 1.0), (2, 5.0), (1, 2.0)):
        cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{
            "MetricName": "ReplicaLag", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": RID}],
            "Timestamp": now - dt.timedelta(minutes=minutes), "Value": lag, "Unit": "Seconds"}])
    points = lag_history(ClientFactory(2), "us-west-2", RID, now=now)
    assert [p.lag for p in points] == [1.0, 5.0, 2.0]
    assert [p.at for p in points] == sorted(p.at for p in points)
    cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{  # replication broke for a moment in the last minute
        "MetricName": "ReplicaLag", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": RID}],
        "Timestamp": now - dt.timedelta(minutes=1) + dt.timedelta(seconds=10), "Value": -1.0, "Unit": "Seconds"}])
    assert lag_history(ClientFactory(2), "us-west-2", RID, now=now)[-1].lag == -1.0, "unknown, whatever the max"
