"""Replication evidence: what CloudWatch's `ReplicaLag` history says about the data a promotion loses.

Why a module of its own: the RPO gate must not be fooled. A datapoint has an age — one older than
`lagEvidenceMaxAgeSeconds` is no evidence; a missing datapoint or RDS's -1 ("not replicating") is
*unknown*, never 0; and during an outage "current lag" is not the data lost: after the primary
stops, the replica's lag keeps growing one second per second while nothing more is missing.

The estimate works on replay times. A datapoint (t, lag) says the replica had replayed every
commit made up to `r = t - lag`. While the primary writes (the heartbeat writes every few seconds,
so an idle primary writes too) r advances with t; once the primary stops, r stays where it is and
lag grows. The data lost by promoting is the span of commits the replica never replayed: from the
latest replay time R to the moment S the primary stopped. S is the operator's `--outage-start`
when given, else the first datapoint at which r stopped advancing; while r still advances the
replica is replicating, and its latest lag is the estimate. The report labels the figure an *estimate*
(issue 13 measures the real loss against real replicated data).

CloudWatch publishes `ReplicaLag` per 60 s period (Maximum): a bucket's r = start - max lag is
never later than the truth, so R is conservative and the estimate never too small; a period that
saw -1 at any moment is unknown.

For failback, evidence must be created after the fence: a datapoint with r > the moment the fence
held proves the replica replayed a commit made after it (the heartbeat) — hence everything before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory
from hastack.dr.probes import wrap

#: CloudWatch's period for `ReplicaLag` (RDS publishes one value a minute).
PERIOD_SECONDS = 60
#: r must advance by more than this between datapoints to count as "still advancing".
ADVANCE_EPSILON_SECONDS = 1.0


@dataclass(frozen=True)
class LagPoint:
    at: dt.datetime
    lag: float

    @property
    def replay(self) -> dt.datetime:
        """Every commit made up to this moment had been replayed (-1 and other negatives: unknown)."""
        return self.at - dt.timedelta(seconds=self.lag)


@dataclass(frozen=True)
class Evidence:
    """What the lag history proves, as sentences the gate and the report use."""

    points: tuple[LagPoint, ...]
    now: dt.datetime
    max_age_seconds: float
    outage_start: dt.datetime | None = None

    @property
    def latest(self) -> LagPoint | None:
        return self.points[-1] if self.points else None

    @property
    def age_seconds(self) -> float | None:
        latest = self.latest
        return None if latest is None else max(0.0, (self.now - latest.at).total_seconds())

    def unknown_because(self, identifier: str) -> str | None:
        """Why the history proves nothing (missing, stale, malformed), or None when it is evidence."""
        latest = self.latest
        if latest is None:
            return f"no ReplicaLag datapoint for {identifier!r}: the replica's data age is unknown"
        if latest.lag < 0:
            return (f"ReplicaLag of {identifier!r} is {latest.lag:g} at {_hms(latest.at)} (RDS reports -1 when "
                    "replication is not running): the data age is unknown")
        age = self.age_seconds or 0.0
        if age > self.max_age_seconds:
            return (f"the latest ReplicaLag datapoint of {identifier!r} is {age:.0f} s old (from {_hms(latest.at)}; "
                    f"evidence must be at most {self.max_age_seconds:.0f} s old): the data age now is unknown")
        return None

    def known(self) -> tuple[LagPoint, ...]:
        return tuple(p for p in self.points if p.lag >= 0)

    def stopped_at(self) -> tuple[dt.datetime, str]:
        """When the primary stopped writing (or the replica stopped receiving), and how that is known."""
        if self.outage_start is not None:
            return self.outage_start, "the outage start you gave"
        known = self.known()
        if not known:
            return self.now, "now (no datapoint)"
        last = known[-1]
        first = last
        for p in reversed(known[:-1]):  # back to the first datapoint of the plateau the latest one is on
            if abs((p.replay - last.replay).total_seconds()) > ADVANCE_EPSILON_SECONDS:
                break
            first = p
        if first is last:
            # Replay still advances: the replica is replicating, about its latest lag behind the primary.
            return last.at, "the latest datapoint (replay still advancing: the replica is replicating)"
        return first.at, "the first datapoint at which replay stopped advancing"

    def replayed_until(self) -> dt.datetime | None:
        """The latest datapoint's replay time (replay never goes back: an earlier, later-looking one is noise)."""
        known = self.known()
        return known[-1].replay if known else None

    def estimate_lost_seconds(self) -> float | None:
        """Seconds of commits the replica never replayed (an estimate; None when unknown)."""
        replayed = self.replayed_until()
        if replayed is None:
            return None
        stopped, _ = self.stopped_at()
        return max(0.0, (stopped - replayed).total_seconds())

    def describe(self) -> str:
        """One clause for sentences: the estimate and where it comes from."""
        est = self.estimate_lost_seconds()
        latest = self.latest
        if est is None or latest is None:
            return "data loss unknown"
        stopped, how = self.stopped_at()
        return (f"estimated data loss {est:.0f} s (replica replayed up to {_hms(self.replayed_until())}, primary "
                f"stopped at {_hms(stopped)}: {how}; latest ReplicaLag {latest.lag:g} s at {_hms(latest.at)})")

    def proves_replay_after(self, moment: dt.datetime) -> LagPoint | None:
        """The first datapoint proving the replica replayed a commit made after `moment` (None: not yet)."""
        return next((p for p in self.known() if p.replay > moment), None)


def _hms(moment: dt.datetime | None) -> str:
    return "?" if moment is None else moment.astimezone(dt.UTC).strftime("%H:%M:%S")


def lag_history(aws: ClientFactory, region: str, identifier: str, window_seconds: float = 900,
                now: dt.datetime | None = None, since: dt.datetime | None = None) -> tuple[LagPoint, ...]:
    """`ReplicaLag` (Maximum per 60 s) of the replica over the window, oldest first (CloudWatch data plane).

    `since` starts the window there instead (evidence that must be newer than a moment: no older
    datapoint shares its period).
    """
    end = now or dt.datetime.now(dt.UTC)
    start = since if since is not None else end - dt.timedelta(seconds=window_seconds)
    try:
        stats = aws.client("cloudwatch", region).get_metric_statistics(
            Namespace="AWS/RDS", MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
            StartTime=start, EndTime=end + dt.timedelta(seconds=PERIOD_SECONDS),
            Period=PERIOD_SECONDS, Statistics=["Maximum", "Minimum"])
    except (ClientError, BotoCoreError) as exc:
        raise wrap(f"CloudWatch ReplicaLag of {identifier!r} in {region}", exc) from exc
    # A period in which RDS reported -1 (replication not running) at any moment is unknown, whatever
    # its maximum says; otherwise the maximum (never an optimistic figure).
    points = sorted((LagPoint(p["Timestamp"].astimezone(dt.UTC),
                              float(p["Minimum"]) if float(p.get("Minimum", 0)) < 0 else float(p["Maximum"]))
                     for p in stats.get("Datapoints", [])), key=lambda p: p.at)
    return tuple(points)


def evidence(aws: ClientFactory, region: str, identifier: str, max_age_seconds: float,
             outage_start: dt.datetime | None = None, since: dt.datetime | None = None) -> Evidence:
    now = dt.datetime.now(dt.UTC)
    window = max(900.0, max_age_seconds * 3)
    return Evidence(lag_history(aws, region, identifier, window, now, since), now, max_age_seconds, outage_start)


def rpo_refusal(ev: Evidence, identifier: str, budget: float, accept_data_loss: bool) -> tuple[str | None, str]:
    """(why the promotion must not happen, what the evidence says) — Patroni's failover_limitation."""
    unknown = ev.unknown_because(identifier)
    if unknown is not None:
        if accept_data_loss:
            return None, f"{unknown}; promoting anyway (--accept-data-loss)"
        return (f"{unknown}, so the data loss cannot be bounded by the {budget:.0f} s RPO budget; re-run with "
                "--accept-data-loss to promote anyway"), unknown
    described = ev.describe()
    est = ev.estimate_lost_seconds() or 0.0
    if est > budget:
        if accept_data_loss:
            return None, f"{described}, over the {budget:.0f} s RPO budget; promoting anyway (--accept-data-loss)"
        return (f"{described}: over the {budget:.0f} s RPO budget; re-run with --accept-data-loss to accept "
                "that loss"), described
    return None, f"{described}, within the {budget:.0f} s RPO budget"


def points_of(pairs: Sequence[tuple[dt.datetime, float]]) -> tuple[LagPoint, ...]:
    """Test and simulation helper: LagPoints from (timestamp, lag) pairs, oldest first."""
    return tuple(sorted((LagPoint(at, lag) for at, lag in pairs), key=lambda p: p.at))
