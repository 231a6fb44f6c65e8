"""Helpers of the DR command's tests: a seeded hostile world with its resolver, short bounds, and
what the tests read back from the world (AWS state, DNS answers, the call log) — never from our
own report only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

from hastack.dr.deployment import Deployment
from hastack.dr.runner import Options, StepRecord
from hastack.dr.scale_up import ScaleUp
from hastack.dr.traffic import answered_region
from tests.dr_world import World, make_world

PRIMARY, DR = "us-east-1", "us-west-2"

#: Bounds short enough for a test, long enough for a loaded 2-core machine.
TEST_BOUNDS = {"lease_seconds": 1.5, "lease_renew_seconds": 0.5, "lock_ttl_seconds": 6.0, "call_timeout_seconds": 2.0,
               "wait_timeout_seconds": 30.0, "dns_ttl_seconds": 0.5, "dns_propagation_seconds": 0.5,
               "fence_timeout_seconds": 3.0, "status_timeout_seconds": 4.0, "lag_evidence_max_age_seconds": 180.0}


@contextlib.contextmanager
def moto_only() -> Iterator[None]:
    """moto in-process (`mock_aws`) with fake credentials and no endpoint override, restored afterwards."""
    import os

    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def coordination_table(region: str, table: str, key: str) -> None:
    """An empty coordination table, keyed as the outputs say."""
    import boto3

    boto3.client("dynamodb", region_name=region).create_table(
        TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def deployment(world: World, resolver: tuple[str, int], **bounds: float) -> Deployment:
    dep = Deployment.of(world.outputs, (f"{resolver[0]}:{resolver[1]}",))
    return dataclasses.replace(dep, bounds=dep.bounds.with_overrides(**{**TEST_BOUNDS, **bounds}))


@contextlib.contextmanager
def hostile_world(plan_outputs: dict[str, Any]) -> Iterator[World]:
    """The in-process world, seeded, with its DNS resolver on 127.0.0.1 and the run's deployment
    (`world.dep`: short bounds, the world's resolver)."""
    with make_world(plan_outputs) as world:
        world.dep = deployment(world, world.resolver())  # type: ignore[attr-defined]
        yield world


def scale_up(world: World, observer: Any = None, dep: Deployment | None = None, **options: Any) -> Any:
    options.setdefault("poll_seconds", 0.2)
    return ScaleUp(world.outputs, world.factory(call_timeout_seconds=TEST_BOUNDS["call_timeout_seconds"]),
                   options=Options(**options), deployment=dep or world.dep, observer=observer).run()  # type: ignore


def answers(world: World) -> str | None:
    """The region whose ALB the record answers now, resolved through the world's resolver."""
    o = world.outputs
    albs = {region: ing.alb_dns_name for region, ing in o.ingress.items()}
    host, port = world.resolver()
    region, _ = answered_region(o.dns.record_name, albs, (f"{host}:{port}",), 2.0)
    return region


class DnsWatcher:
    """Resolves the record every `interval` seconds in the background: what clients were told, when."""

    def __init__(self, world: World, interval: float = 0.05) -> None:
        self.world, self.interval = world, interval
        self.seen: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dns-watcher", daemon=True)

    def _sample(self) -> None:
        try:
            self.seen.append((time.time(), answers(self.world)))
        except Exception:  # noqa: BLE001 - a missed sample is not an answer
            return

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> DnsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()  # what clients are told when the run returns (a run may end inside one interval)

    def first(self, region: str) -> float | None:
        return next((at for at, got in self.seen if got == region), None)


class ReplicaHeartbeat:
    """What the heartbeat writer and RDS do together, as CloudWatch shows it: a `ReplicaLag` datapoint of
    the replica every `interval` seconds, `lag` seconds behind (a writer commits every few seconds)."""

    def __init__(self, world: World, region: str, identifier: str, lag: float = 0.2, interval: float = 0.2) -> None:
        self.world, self.region, self.identifier, self.lag, self.interval = world, region, identifier, lag, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="replica-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                put_lag_history(self.world, self.region, self.identifier, [(0, self.lag)])
            except Exception:  # noqa: BLE001 - a missed beat is what a real heartbeat has too
                continue

    def __enter__(self) -> ReplicaHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class StepClock:
    """An observer noting the wall-clock moment each step finished (and running hooks after some)."""

    def __init__(self, hooks: dict[str, Any] | None = None) -> None:
        self.ended: dict[str, float] = {}
        self.hooks = hooks or {}

    def started(self, name: str, branch: str, at: float) -> None:
        return None

    def finished(self, record: StepRecord) -> None:
        self.ended[record.name] = time.time()
        hook = self.hooks.get(record.name)
        if hook is not None:
            hook()


def lease(world: World) -> dict[str, Any] | None:
    c = world.dep.coordination  # type: ignore[attr-defined]
    item = world.client("dynamodb", c.region).get_item(TableName=c.table, Key={c.key: {"S": c.lease_id}},
                                                       ConsistentRead=True).get("Item")
    return None if item is None else {"holder": item["holder"]["S"], "epoch": int(item["epoch"]["N"])}


def lock_item(world: World) -> dict[str, Any] | None:
    c = world.dep.coordination  # type: ignore[attr-defined]
    return world.client("dynamodb", c.region).get_item(TableName=c.table, Key={c.key: {"S": c.lock_id}},
                                                       ConsistentRead=True).get("Item")


def put_lag_history(world: World, region: str, identifier: str, points: list[tuple[float, float]]) -> None:
    """`ReplicaLag` datapoints (seconds ago, lag), as RDS publishes them in `region`."""
    now = dt.datetime.now(dt.UTC)
    world.client("cloudwatch", region).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}],
        "Timestamp": now - dt.timedelta(seconds=ago), "Value": float(lag), "Unit": "Seconds"} for ago, lag in points])


def time_passes(world: World, seconds: float) -> None:
    """Age the traffic switches' datapoints: a failback comes hours after the scale-up, not seconds
    (an alarm's 60 s window would otherwise still hold the scale-up's PrimaryFenced = 1)."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends["123456789012"][world.dep.traffic.region]  # type: ignore[attr-defined]
    for datum in backend.metric_data:
        if datum.namespace == world.dep.traffic.namespace:  # type: ignore[attr-defined]
            datum.timestamp = datum.timestamp - dt.timedelta(seconds=seconds)


def statuses(result: Any) -> dict[str, str]:
    return {r.name: r.status for r in result.records}


def sentence(result: Any, name: str) -> str:
    rec = result.record(name)
    assert rec is not None, f"step {name} was not recorded: {[r.name for r in result.records]}"
    return str(rec.sentence)
