"""An idle primary: the heartbeat keeps the DR replica's `ReplicaLag` a measure of data, not of idleness.

RDS for PostgreSQL computes `ReplicaLag` as `now() - pg_last_xact_replay_timestamp()`: with no
client writing, the newest replayed commit gets older and the lag grows although nothing is
missing — a gate would then refuse a failover that loses nothing. The stack's heartbeat commits a
row every `heartbeatSeconds`; the world runs it on the real primary. Asserted on what CloudWatch
holds (the world publishes the real replica's lag): with the heartbeat the lag stays within about
about one beat; with it off (world `heartbeatSeconds: 0`) the same idle replica's lag keeps growing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.outputs import DrOutputs, parse_outputs
from hastack.local.server import InProcessServer, WorldClient
from hastack.local.world.seed import seed_world
from hastack.plan.render import stack_output_json
from tests.dataplane_helpers import plane_config
from tests.world_helpers import client

#: The world's heartbeat and ReplicaLag publishing interval here (its defaults).
BEAT_SECONDS = 1.0


@pytest.fixture(scope="module")
def idle_world(prod_plan: Any) -> Iterator[tuple[InProcessServer, DrOutputs]]:
    with InProcessServer(dataplane=plane_config("heartbeat", one_way_delay_ms=70)) as server:
        seeded = seed_world(stack_output_json(prod_plan.outputs), lambda s, r: client(server, s, r),
                            replica_lag_seconds=None)
        WorldClient(server.endpoint).set_world(heartbeatSeconds=BEAT_SECONDS, replicaLagPublishSeconds=BEAT_SECONDS)
        yield server, parse_outputs(seeded, "prod")


def lags_since(server: InProcessServer, o: DrOutputs, since: dt.datetime) -> list[float]:
    """Every `ReplicaLag` datapoint of the DR replica published since `since` (one a second), oldest first."""
    stats = client(server, "cloudwatch", o.dr_region).get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": o.database.replica.identifier}],
        StartTime=since, EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5), Period=1,
        Statistics=["Maximum"])["Datapoints"]
    return [p["Maximum"] for p in sorted(stats, key=lambda p: p["Timestamp"])]


def idle_for(seconds: float) -> dt.datetime:
    start = dt.datetime.now(dt.UTC)
    time.sleep(seconds)
    return start


def test_heartbeat_keeps_an_idle_replicas_lag_honest(idle_world: tuple[InProcessServer, DrOutputs]) -> None:
    server, o = idle_world
    world = WorldClient(server.endpoint)
    idle_for(2)  # the first beats reach the replica
    with_beat = lags_since(server, o, idle_for(5))
    assert len(with_beat) >= 3, "the world publishes the real replica's lag about once a second"
    # Within a beat, plus the link's delay and a busy machine's scheduling (2 s of slack on a shared 2-core box).
    assert max(with_beat) < BEAT_SECONDS + 2.0, f"idle, with the heartbeat: lag within about a beat {with_beat}"

    world.set_world(heartbeatSeconds=0)
    try:
        without = lags_since(server, o, idle_for(7))
    finally:
        world.set_world(heartbeatSeconds=BEAT_SECONDS)
    assert without and max(without) > 5.0, f"idle, no heartbeat: the lag grows with idleness {without}"
    assert without[-1] == max(without), f"nothing replays, so the newest replayed commit only gets older {without}"
