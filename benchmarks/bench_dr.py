"""DR scale-up RTO model: simulated RTO vs the critical path vs the sum of the steps.

Runs the real `hastack dr scale-up` code (runner, steps, botocore waiters) against the local world seeded
from the offline prod plan, in virtual time with the documented AWS durations of
`hastack.dr.simulate.Durations` (shared/aws-timings.md; the replica-promotion time is an ASSUMPTION:
AWS publishes none). Five runs; the simulated figures are deterministic, the wall time is a median.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hastack.dr.clock import SimClock  # noqa: E402
from hastack.dr.runner import Options  # noqa: E402
from hastack.dr.scale_up import ScaleUp  # noqa: E402
from hastack.dr.simulate import Durations, simulate  # noqa: E402
from hastack.plan.render import render, stack_output_json  # noqa: E402
from tests.dr_runs import hostile_world  # noqa: E402

RUNS = 5


def one_run(plan_outputs: dict[str, Any], d: Durations) -> tuple[Any, float, float]:
    """(result, wall seconds, fence seconds) of one simulated scale-up with the stack's lease bounds."""
    with hostile_world(plan_outputs) as world:
        dep = world.dep  # type: ignore[attr-defined]
        dep = dataclasses.replace(dep, bounds=dep.bounds.with_overrides(lease_seconds=15, lease_renew_seconds=5,
                                                                        wait_timeout_seconds=2700))

        def run(on_client: Any, clock: SimClock) -> Any:
            factory = world.factory(on_client=on_client, call_timeout_seconds=5)
            return ScaleUp(world.outputs, factory, clock=clock, deployment=dep, options=Options(poll_seconds=15)).run()

        start = time.perf_counter()
        result, _ = simulate(run, d)
        return result, time.perf_counter() - start, dep.bounds.lease_seconds + dep.bounds.lease_margin_seconds


def main() -> None:
    d = Durations()
    outputs = stack_output_json(render("prod").outputs)
    rtos, walls, steps_sum = [], [], []
    fence = 0.0
    for _ in range(RUNS):
        result, wall, fence = one_run(outputs, d)
        assert result.ok, result.summary
        rtos.append(result.rto_seconds + d.dns_settle_seconds)
        walls.append(wall)
        steps_sum.append(sum(r.duration for r in result.records if r.end <= result.rto_seconds))
    rto = statistics.median(rtos)
    print(f"assumed durations (s): promote {d.promote_replica_seconds:.0f} [ASSUMPTION], cache failover "
          f"{d.cache_failover_seconds:.0f}, compute ready {d.compute_ready_seconds:.0f} "
          f"(node {d.node_launch_seconds:.0f} + pull {d.image_pull_seconds:.0f} [ASSUMPTION] + readiness "
          f"{d.readiness_seconds:.0f} + ALB check "
          f"{d.alb_check_seconds:.0f}), fence (lease + margin) {fence:.0f}, alarm evaluation "
          f"{d.alarm_evaluation_seconds:.0f} x 2, DNS propagation+TTL {d.dns_settle_seconds:.0f}")
    print(f"simulated RTO (client-visible)   : {rto:8.1f} s   "
          f"(median of {RUNS}; min {min(rtos):.1f}, max {max(rtos):.1f})")
    print(f"critical path (fence+branch+cut) : {d.critical_path(fence):8.1f} s   "
          f"(RTO/critical = {rto / d.critical_path(fence):.3f})")
    print(f"sum of steps (sequential model)  : {d.sequential(fence):8.1f} s   "
          f"(RTO/sum = {rto / d.sequential(fence):.3f})")
    print(f"sum of recorded step durations   : {statistics.median(steps_sum):8.1f} s   (up to the cutover)")
    print(f"wall time per simulated run      : {statistics.median(walls):8.2f} s   (median)")


if __name__ == "__main__":
    main()
