"""The RTO model: the real scale-up in virtual time must achieve the critical path, not the sum.

Drives the real runner, steps, probes, actions and botocore waiters against the local world
(seeded from the prod plan) with the documented AWS durations of `hastack.dr.simulate.Durations`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.clock import SimClock
from hastack.dr.runner import Options
from hastack.dr.scale_up import ScaleUp
from hastack.dr.simulate import Durations, simulate
from hastack.plan.render import stack_output_json
from tests.dr_runs import hostile_world
from tests.dr_world import World


@pytest.fixture()
def world(prod_plan: Any) -> Iterator[World]:
    with hostile_world(stack_output_json(prod_plan.outputs)) as w:
        yield w


def simulated_run(world: World, durations: Durations) -> Any:
    dep = world.dep  # type: ignore[attr-defined]
    dep = dataclasses.replace(dep, bounds=dep.bounds.with_overrides(wait_timeout_seconds=2700))  # virtual time

    def run(on_client: Any, clock: SimClock) -> Any:
        factory = world.factory(on_client=on_client, call_timeout_seconds=5)
        return ScaleUp(world.outputs, factory, clock=clock, deployment=dep, options=Options(poll_seconds=15)).run()

    result, _ = simulate(run, durations)
    return result


def fence_seconds(world: World) -> float:
    b = world.dep.bounds  # type: ignore[attr-defined]
    return b.lease_seconds + b.lease_margin_seconds


def test_simulated_rto_is_the_critical_path_not_the_sum(world: World) -> None:
    d = Durations()
    result = simulated_run(world, d)
    assert result.ok, result.summary
    rto = result.rto_seconds + d.dns_settle_seconds
    critical = d.critical_path(fence_seconds(world))
    assert abs(rto - critical) / critical < 0.06, (rto, critical)
    assert rto < 0.75 * d.sequential(fence_seconds(world)), (rto, d.sequential())
    steps = {r.name: r for r in result.records}
    # The three branches really overlapped: each started before any of them ended.
    starts = [steps[n].start for n in ("promote-db", "cache-failover", "scale-nodes")]
    ends = [steps[n].end for n in ("db-serving", "cache-failover", "compute-ready")]
    assert max(starts) < min(ends)
    assert steps["db-serving"].duration == pytest.approx(d.promote_replica_seconds, abs=2)
    # The fence came first, the cutover last; Multi-AZ finishes after the cutover: total time, not RTO.
    assert steps["lease-expired"].end <= steps["promote-db"].start
    assert steps["dr-ready"].start >= steps["grant-lease"].end >= steps["health-gate"].end
    assert steps["db-multi-az"].start >= steps["dns-on-dr"].end
    assert steps["db-multi-az"].end >= steps["db-to-prod"].end + d.multi_az_seconds * 0.9 > result.rto_seconds


def test_the_slowest_branch_sets_the_rto(world: World) -> None:
    d = Durations(promote_replica_seconds=60.0, node_launch_seconds=400.0)
    result = simulated_run(world, d)
    assert result.ok, result.summary
    assert max(d.branches(), key=d.branches().get) == "compute"
    rto = result.rto_seconds + d.dns_settle_seconds
    critical = d.critical_path(fence_seconds(world))
    assert abs(rto - critical) / critical < 0.06
