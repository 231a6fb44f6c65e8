"""`hastack dr scale-up`: the plan (phases of steps) and one run of it on the shared runner.

Order is the safety argument (the steps are in `steps`):

1. readiness — everything read in the DR region, the RPO gate on fresh evidence (refuse early);
2. fence — revoke the writers' lease in the DR region, then wait until every lease granted before
   has expired; beside that wait, best effort and bounded, take the old database out of its
   clients' reach where AWS still answers;
3. recover, in parallel (the RTO is the longest branch, not the sum) — database: the RPO gate again,
   right before `PromoteReadReplica`, then serving, then Multi-AZ requested; cache: planned failover,
   or disassociation when refused; compute: node groups to prod size, healthy targets;
4. gate — the DR region can serve (database writable, cache primary, nodes ready, healthy targets),
   then the lease is granted to the DR region;
5. cutover, last — DrReady, then PrimaryFenced, then the record resolved until it answers the DR ALB:
   the RTO ends there, measured from the outage start (`--outage-start`, else the run start);
6. durability — the Multi-AZ conversion finishes after the cutover (not on the RTO path).

A step that fails stops the run after its phase: before the cutover that means no client was sent
to the DR region (DrReady never set, so Route 53's SECONDARY gate stays unhealthy). Every step is
idempotent: re-running converges.
"""

from __future__ import annotations

from typing import Any

from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import DrOutputs
from hastack.dr.runner import ALREADY, DONE, Phase, Run, RunResult, plan_rows, summary
from hastack.dr.steps import scale_up_steps

COMMAND = "dr scale-up"
#: The step at whose end the DR region is what clients are answered: the RTO ends there.
CUTOVER_STEP = "dns-on-dr"


def plan(o: DrOutputs, deployment: Deployment) -> list[Phase]:
    s = scale_up_steps(o, deployment)
    return [
        Phase.serial("readiness", s["readiness"]),
        Phase.serial("fence", s["revoke-lease"]),
        Phase.parallel("lease", fence=[s["lease-expired"]], isolate=[s["isolate-old-db"]]),
        Phase.parallel("recover", database=[s["promote-db"], s["db-serving"], s["db-to-prod"]],
                       cache=[s["cache-failover"]], compute=[s["scale-nodes"], s["compute-ready"]]),
        Phase.serial("gate", s["health-gate"], s["grant-lease"]),
        Phase.serial("cutover", s["dr-ready"], s["primary-off"], s["dns-on-dr"]),
        Phase.serial("durability", s["db-multi-az"]),
    ]


def rows(o: DrOutputs, deployment: Deployment) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return plan_rows(plan(o, deployment))


class ScaleUp(Run):
    """One `hastack dr scale-up` run (see module docstring)."""

    def __init__(self, outputs: DrOutputs, aws: ClientFactory, *, command: str = COMMAND, **kwargs: Any) -> None:
        super().__init__(command, outputs, aws, outputs.dr_region, **kwargs)

    def run(self) -> RunResult:
        result = self.execute(plan(self.outputs, self.deployment), lambda r: summarize(r, self.outputs))
        cut = result.record(CUTOVER_STEP)
        flipped = [r for r in result.records if r.name in ("dr-ready", "primary-off") and r.status == DONE]
        if cut is not None and cut.status in (DONE, ALREADY) and flipped and not result.dry_run:
            result.rto_seconds = result.outage_offset_seconds + cut.end  # this run moved the clients
        return result


def summarize(result: RunResult, o: DrOutputs) -> str:
    sent = result.record("dr-ready")
    where = (f"clients were not sent to {o.dr_region} (DrReady never set: traffic stays where it was)"
             if sent is None or sent.status not in (DONE, ALREADY) else f"DrReady is set: {o.dr_region} was declared "
                                                                           "ready")
    text = summary(result, f"ready — {o.dr_region} can be made production; nothing was changed",
                   "scale-up did not finish",
                   f"nothing to do: {o.dr_region} is already production (every step found its work done); nothing "
                   "was changed",
                   f"{o.dr_region} is now production: fenced, database promoted, cache primary, nodes at prod size, "
                   f"{o.dns.record_name} answers the {o.dr_region} ALB")
    return f"{text}; {where}" if result.blocking() and not result.dry_run else text
