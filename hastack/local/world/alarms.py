"""CloudWatch alarms evaluated from metric data, as CloudWatch does (moto only stores them).

moto's alarms change state only through `SetAlarmState`; a Route 53 health check on an alarm, and
the DR command's data-plane switch (`PutMetricData` in a region that is up), need alarms that
follow their metric. `evaluate(alarm, data, now)` takes the alarm's last `EvaluationPeriods`
periods (windows ending now, of `Period` seconds), the statistic of the datapoints in each, and
compares it with the threshold; `DatapointsToAlarm` breaching periods (default: all of them) make
ALARM. A period without data counts as `TreatMissingData` says: `missing` (the default: left out;
no data at all is INSUFFICIENT_DATA), `notBreaching`, `breaching`, or `ignore` (no data at all
keeps the current state).

A state set with `SetAlarmState` holds until the next datapoint of the alarm's metric arrives
(CloudWatch re-evaluates on its next period; this world on the next data). Alarms on metric math
or percentiles are not evaluated (they keep their state); the stack uses neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _dims(items: Any) -> frozenset[tuple[str, str]]:
    return frozenset((d.name, d.value) for d in items or [])


def metric_points(alarm: Any, data: list[Any]) -> list[Any]:
    """The datapoints of the alarm's metric (same namespace, name and dimensions)."""
    dims = _dims(alarm.dimensions)
    return [d for d in data if d.namespace == alarm.namespace and d.name == alarm.metric_name
            and _dims(d.dimensions) == dims]


def _statistic(points: list[Any], statistic: str) -> float | None:
    values: list[float] = []
    total = count = 0.0
    lows, highs = [], []
    for p in points:
        if hasattr(p, "value"):
            values.append(float(p.value))
            total, count = total + float(p.value), count + 1
            lows.append(float(p.value))
            highs.append(float(p.value))
        else:  # StatisticValues
            total, count = total + float(p.sum), count + float(p.sample_count)
            lows.append(float(p.min))
            highs.append(float(p.max))
    if not count:
        return None
    return {"Average": total / count, "Sum": total, "SampleCount": count,
            "Minimum": min(lows), "Maximum": max(highs)}.get(statistic)


def evaluate(alarm: Any, data: list[Any], now: datetime | None = None) -> Evaluation | None:
    """The state the alarm's metric data gives now, or None when it cannot be evaluated here."""
    compare = _COMPARE.get(alarm.comparison_operator)
    if compare is None or not alarm.metric_name or not alarm.statistic or not alarm.period:
        return None
    now = now or datetime.now(UTC)
    period, periods = int(alarm.period), max(1, int(alarm.evaluation_periods or 1))
    needed = int(alarm.datapoints_to_alarm or periods)
    treat = alarm.treat_missing_data or "missing"
    points = metric_points(alarm, data)
    windows: list[float | None] = []
    for k in range(periods):
        end, start = now - timedelta(seconds=k * period), now - timedelta(seconds=(k + 1) * period)
        windows.append(_statistic([p for p in points if start < _utc(p.timestamp) <= end], alarm.statistic))
    threshold = float(alarm.threshold)
    present = [v for v in windows if v is not None]
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in windows)
    if not present:
        if treat == "breaching":
            return Evaluation(ALARM, f"no data in {periods} period(s) of {period} s, treated as breaching")
        if treat == "notBreaching":
            return Evaluation(OK, f"no data in {periods} period(s) of {period} s, treated as not breaching")
        if treat == "ignore":
            return Evaluation(alarm.state_value, f"no data in {periods} period(s) of {period} s: state kept (ignore)")
        return Evaluation(INSUFFICIENT, f"no data in {periods} period(s) of {period} s (missing)")
    breaching = sum(1 for v in windows if (compare(v, threshold) if v is not None else treat == "breaching"))
    state = ALARM if breaching >= needed else OK
    return Evaluation(state, f"{breaching} of the last {periods} period(s) of {period} s breach "
                             f"{alarm.statistic} {alarm.comparison_operator} {threshold:g} ({needed} to alarm): "
                             f"[{shown}]")


def refresh(backend: Any, names: list[str] | None = None, now: datetime | None = None) -> None:
    """Re-evaluate the region's alarms (or `names`) and record any change in moto's alarm."""
    data = list(backend.metric_data)
    for name, alarm in list(backend.alarms.items()):
        if names is not None and name not in names:
            continue
        if getattr(alarm, "hastack_set_by_hand", False):
            continue
        result = evaluate(alarm, data, now)
        if result is not None and result.state != alarm.state_value:
            alarm.update_state(f"Threshold Crossed: {result.reason}", "{}", result.state)
