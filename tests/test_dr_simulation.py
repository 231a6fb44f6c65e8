"""The RTO model: the real scale-up in virtual time must achieve the critical path, not the sum.

Drives the real orchestrator, steps, probes, actions and botocore waiters against moto (seeded
from the prod plan) with the documented AWS durations of `hastack.dr.simulate.Durations`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hastack.dr.aws import ClientFactory
from hastack.dr.clock import SimClock
from hastack.dr.orchestrator import ScaleUp
from hastack.dr.simulate import Durations, simulate
from hastack.plan.render import stack_output_json
from tests.dr_world import World, make_world


@pytest.fixture()
def world(prod_plan: Any) -> Iterator[World]:
    with make_world(stack_output_json(prod_plan.outputs)) as w:
        yield w


def simulated_run(world: World, durations: Durations) -> Any:
    def run(on_client: Any, clock: SimClock) -> Any:
        factory = ClientFactory(on_client=on_client, session=world.session)
        return ScaleUp(world.outputs, factory, clock=clock, poll_seconds=15).run()

    result, sim = simulate(run, durations)
    return result, sim


def test_simulated_rto_is_the_critical_path_not_the_sum(world: World) -> None:
    d = Durations()
    result, sim = simulated_run(world, d)
    assert result.ok, result.summary
    rto = result.rto_seconds + d.dns_settle_seconds
    assert abs(rto - d.critical_path()) / d.critical_path() < 0.05, (rto, d.critical_path())
    assert rto < 0.7 * d.sequential(), (rto, d.sequential())
    steps = {r.name: r for r in result.records}
    # The three branches really overlapped: each started before any of them ended.
    starts = [steps[n].start for n in ("promote-db", "cache-failover", "scale-nodes")]
    ends = [steps[n].end for n in ("db-serving", "cache-failover", "compute-ready")]
    assert max(starts) < min(ends)
    assert steps["db-serving"].duration == pytest.approx(d.promote_replica_seconds, abs=2)
    assert steps["compute-ready"].end - steps["scale-nodes"].start == pytest.approx(d.compute_ready_seconds, abs=2)
    # Multi-AZ finishes after the switch: it costs total time, not RTO.
    assert steps["db-multi-az"].start >= steps["dns-switch"].end
    assert result.total_seconds > result.rto_seconds + d.multi_az_seconds * 0.9


def test_the_slowest_branch_sets_the_rto(world: World) -> None:
    d = Durations(promote_replica_seconds=60.0, node_launch_seconds=400.0)
    result, _ = simulated_run(world, d)
    assert result.ok, result.summary
    assert max(d.branches(), key=d.branches().get) == "compute"
    rto = result.rto_seconds + d.dns_settle_seconds
    assert abs(rto - d.critical_path()) / d.critical_path() < 0.05
