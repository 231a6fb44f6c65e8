"""`hastack drill region`: a regional failover, end to end, on a fresh local AWS.

The story, each part real: the program is deployed into the embedded moto AWS (`local up`);
the world is seeded with what AWS would report (the cross-region replica's `ReplicaLag`); the
primary region goes down — its API endpoints stop answering and its Route 53 health check turns
red; the real `hastack dr scale-up` (`hastack.dr.scale_up.ScaleUp`, the code behind the CLI)
runs against what is left; and the end state is checked through AWS's own APIs
(`hastack.local.verify`), not through the command's report. The run ends with the timeline, the
RTO (outage → DNS answers with the DR region) and the RPO (the estimated data loss), a JSON
report and a Gantt chart.

`--latency-profile none` runs at moto's speed (what the drill proves is the behaviour);
`--latency-profile aws` drives the same run on the DR command's simulated clock with AWS's
documented durations (`hastack.dr.simulate`), so the RTO is the one AWS would give.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from hastack.dr import report as dr_report
from hastack.dr import runner as dr_runner
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock, SimClock, WallClock
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.progress import PlainProgress
from hastack.dr.runner import RunResult
from hastack.dr.scale_up import ScaleUp
from hastack.local.deploy import LocalDeployment, deploy, fallback_summary, write_local_outputs
from hastack.local.gantt import Bar, human_seconds, write_svg
from hastack.local.inventory import Inventory, collect, print_inventory
from hastack.local.moto_mocks import LOCAL_CREDENTIALS, AwsClients
from hastack.local.server import LOOPBACK, InProcessServer, WorldClient
from hastack.local.verify import Verdict, verify_failover, verify_not_promoted
from hastack.paths import REPO_ROOT
from hastack.timings import DNS_SETTLE_SECONDS, ROUTE53_DETECTION

LATENCY_PROFILES = ("none", "aws")
#: How the primary region's endpoints fail: close connections unanswered, or hold them unanswered.
OUTAGE_MODES = ("refuse", "hang")
#: Replica lag the local world reports unless told otherwise: a healthy cross-region replica.
DEFAULT_REPLICA_LAG_SECONDS = 2.0
#: Bound of every DR wait with latency profile "none" (moto converges at once or never).
LOCAL_WAIT_SECONDS = 60.0


class DrillError(Exception):
    """The drill could not be set up (a user error or a local AWS that would not start)."""


@dataclass
class DrillOptions:
    stack: str = "prod"
    latency_profile: str = "none"
    outage: str = "refuse"
    replica_lag_seconds: float = DEFAULT_REPLICA_LAG_SECONDS
    build_dir: Path = REPO_ROOT / "build"
    report_path: Path | None = None
    svg_path: Path | None = None
    config: dict[str, Any] | None = None
    show_inventory: bool = True

    def report_file(self) -> Path:
        return self.report_path or self.build_dir / f"drill-{self.stack}.json"

    def svg_file(self) -> Path:
        return self.svg_path or self.build_dir / f"drill-{self.stack}.svg"


@dataclass
class DrillResult:
    stack: str
    profile: str
    passed: bool
    summary: str
    deploy_seconds: float
    detection_seconds: float
    detection_note: str
    scale_up: RunResult
    verdicts: list[Verdict]
    outputs: DrOutputs
    fallbacks: list[tuple[str, int, str]]
    report_path: Path
    svg_path: Path
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    outage: str = "refuse"
    refusal: str | None = None
    phases: list[Bar] = field(default_factory=list)
    #: What was deployed and what moto held before the outage (for tests and the report).
    deployment: LocalDeployment | None = None
    inventory_before: Inventory | None = None

    def rto_rpo_line(self) -> str:
        o = self.outputs
        if self.rto_seconds is None:
            return (f"RTO: not reached — {self.refusal or self.summary}; RPO budget {o.rpo_budget_seconds:g} s, "
                    f"lag {self.rpo_seconds if self.rpo_seconds is not None else 'unknown'}")
        client = self.rto_seconds + DNS_SETTLE_SECONDS
        rpo = "unknown" if self.rpo_seconds is None else human_seconds(self.rpo_seconds)
        return (f"RTO {human_seconds(self.rto_seconds)} (outage -> DNS on {o.dr_region}; clients follow within "
                f"{human_seconds(client)}; budget {human_seconds(o.rto_budget_seconds)}), "
                f"RPO {rpo} (estimated data loss at promotion; budget {human_seconds(o.rpo_budget_seconds)})")


# ---------------------------------------------------------------------------------------------
# Talking to the local AWS only
# ---------------------------------------------------------------------------------------------

_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@contextmanager
def local_aws_env(endpoint: str) -> Iterator[None]:
    """boto3's standard chain pointed at the local AWS (and only at it) for the DR command's run."""
    saved = {k: os.environ.get(k) for k in os.environ if k in _ENV_KEYS or k.startswith("AWS_ENDPOINT_URL_")}
    try:
        for key in saved:
            os.environ.pop(key, None)
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                           "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
                           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        yield
    finally:
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE",
                    "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(key, None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})


class NotLoopbackError(Exception):
    """A request was about to leave 127.0.0.1 — refused before anything is sent."""


def loopback_guard(client: Any, service: str, region: str, fast: bool) -> None:
    """Attach to every DR client: any request to a host other than 127.0.0.1 is refused unsent."""

    def check(request: Any, **_: Any) -> None:
        host = request.url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if host != LOOPBACK:
            raise NotLoopbackError(f"refusing to send {service} request to {request.url}: the drill talks only to "
                              f"{LOOPBACK}")

    client.meta.events.register("before-send", check)


# ---------------------------------------------------------------------------------------------
# The world: what AWS would report, and the outage
# ---------------------------------------------------------------------------------------------


def publish_replica_lag(clients: AwsClients, o: DrOutputs, lag_seconds: float, minutes: int = 5) -> None:
    """`ReplicaLag` datapoints for the DR replica over the last minutes, as RDS publishes every minute."""
    now = dt.datetime.now(dt.UTC)
    clients.get("cloudwatch", o.dr_region).put_metric_data(Namespace="AWS/RDS", MetricData=[
        {"MetricName": "ReplicaLag", "Value": float(lag_seconds), "Unit": "Seconds",
         "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": o.database.replica.identifier}],
         "Timestamp": now - dt.timedelta(minutes=i)} for i in range(minutes)])


#: What the world lets the DR command get away with during the outage: nothing. Route 53's API goes
#: dark with us-east-1 and the planned Global Datastore failover is refused while the primary is
#: dark, as in a real outage; the command needs neither (static stability).
DRILL_CONCESSIONS: dict[str, str] = {}


def take_region_down(world: WorldClient, o: DrOutputs, mode: str = "refuse") -> list[str]:
    """The primary region goes dark (its endpoints `refuse` or `hang`); its ALB health check turns
    unhealthy by itself (the world evaluates it). Returns the primary's ALB checks."""
    world.set_world(downRegions=[o.primary_region], outageMode=mode, **DRILL_CONCESSIONS)
    return [hc for region, hc in o.dns.health_check_ids.items() if region == o.primary_region]


def detect(world: WorldClient, check_id: str, timeout: float = 30.0) -> float:
    """Seconds until Route 53's checkers see the primary's health check failing (a real poll of the world's
    data plane: Route 53's API may be dark with the primary region, its health checkers are not)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not world.health().get(check_id, {}).get("healthy", True):
            return time.monotonic() - start
        time.sleep(0.05)
    raise DrillError(f"Route 53's checkers did not see health check {check_id} failing within {timeout:.0f} s")


def modelled_detection() -> tuple[float, str]:
    """Route 53's documented detection time for the stack's checks: request interval x failure threshold."""
    return ROUTE53_DETECTION.seconds, f"modelled: {ROUTE53_DETECTION.source}"


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _latency(profile: str) -> tuple[Clock, Callable[..., None] | None, int]:
    """(clock, extra client hook, poll seconds) of a latency profile.

    "aws" is the DR command's own RTO model (`hastack.dr.simulate`): a `SimClock` plus botocore hooks
    that charge each call and each operation its documented AWS duration and answer describes as
    AWS does mid-operation. Must be built in the thread that then runs the scale-up.
    """
    if profile == "none":
        return WallClock(), None, 1
    from hastack.dr.simulate import SimulatedAws  # noqa: PLC0415 - only this profile needs it

    clock = SimClock()
    return clock, SimulatedAws(clock).attach, 15


def _hooks(*hooks: Callable[..., None] | None) -> Callable[..., None]:
    def on_client(client: Any, service: str, region: str, fast: bool) -> None:
        for hook in hooks:
            if hook is not None:
                hook(client, service, region, fast)
    return on_client


def run_drill(opts: DrillOptions, console: Console, progress: IO[str] | None = None) -> DrillResult:
    """Deploy, break the primary region, run the real DR scale-up, verify from AWS, report (see module doc)."""
    if opts.latency_profile not in LATENCY_PROFILES:
        raise DrillError(f"--latency-profile {opts.latency_profile!r}: use one of {', '.join(LATENCY_PROFILES)}")
    if opts.outage not in OUTAGE_MODES:
        raise DrillError(f"--outage {opts.outage!r}: use one of {', '.join(OUTAGE_MODES)}")
    console.print(f"[bold]drill region[/] --stack {opts.stack}: fresh local AWS on {LOOPBACK}, latency profile "
                  f"{opts.latency_profile}", highlight=False)
    with InProcessServer() as server:
        world = WorldClient(server.endpoint)
        world.reset()
        started = time.monotonic()
        deployment = _deploy(opts, server.endpoint, console)
        deploy_seconds = time.monotonic() - started
        outputs_path = write_local_outputs(deployment, opts.build_dir)
        o = load_outputs(opts.stack, outputs_path)
        if opts.latency_profile == "none":
            # moto answers at once: a wait that has not converged in a minute never will. Fail fast
            # instead of waiting out the stack's real bound (drTimeouts.waitTimeoutSeconds).
            wait = min(o.dr_timeouts.wait_timeout_seconds, LOCAL_WAIT_SECONDS)
            o = o.model_copy(update={"dr_timeouts": o.dr_timeouts.model_copy(update={"wait_timeout_seconds": wait})})
        clients = AwsClients(server.endpoint)
        before = collect(clients, deployment.regions())
        if opts.show_inventory:
            print_inventory(before, console, "local AWS after deploy")

        publish_replica_lag(clients, o, opts.replica_lag_seconds)
        red = take_region_down(world, o, opts.outage)
        console.print(f"[bold red]outage:[/] {o.primary_region} APIs stop answering ({opts.outage}); Route 53 "
                      f"health check {', '.join(c[:8] for c in red)} of the primary ALB turns red", highlight=False)
        if opts.latency_profile == "none":
            detection = detect(world, red[0])
            note = "measured: Route 53's checkers saw the primary unhealthy (the local world evaluates them at once)"
        else:
            detection, note = modelled_detection()

        clock, latency_hook, poll = _latency(opts.latency_profile)
        host, port = server.resolver_address
        dep = Deployment.of(o, (f"{host}:{port}",))  # DNS verified through the world's resolver
        with local_aws_env(server.endpoint):
            aws = ClientFactory(dep.bounds.call_timeout_seconds, on_client=_hooks(loopback_guard, latency_hook))
            run = ScaleUp(o, aws, clock=clock, deployment=dep, options=dr_runner.Options(poll_seconds=poll),
                          observer=PlainProgress(progress) if progress is not None else None)
            result = run.run()
        promoted = result.record("promote-db")
        if result.ok:
            verdicts = verify_failover(clients, o, server.resolver_address,
                                       {s.name: s.replicas for s in o.services})
        else:
            verdicts = verify_not_promoted(clients, o)
        if opts.show_inventory:
            # Route 53's API is still dark with the primary region: the DR region's resources only.
            print_inventory(collect(clients, [o.dr_region], route53=False), console, "local AWS after the drill")
        fallbacks = fallback_summary(deployment.fallbacks)

    drill = _result(opts, o, result, verdicts, deploy_seconds, detection, note, fallbacks, promoted is not None and
                    promoted.status == dr_runner.DONE)
    drill.deployment, drill.inventory_before = deployment, before
    write_report(drill)
    write_svg(drill.svg_path, drill.phases, f"hastack drill region --stack {opts.stack} "
              f"(latency profile {opts.latency_profile})", drill.rto_seconds, o.rto_budget_seconds)
    return drill


def _deploy(opts: DrillOptions, endpoint: str, console: Console) -> LocalDeployment:
    started = time.monotonic()
    deployment = deploy(opts.stack, endpoint, config=opts.config)
    console.print(f"deployed stack {opts.stack} into the local AWS: {deployment.created} AWS resources in "
                  f"{time.monotonic() - started:.1f} s ({len(deployment.fallbacks)} answered offline)",
                  highlight=False)
    return deployment


def _result(opts: DrillOptions, o: DrOutputs, result: RunResult, verdicts: list[Verdict], deploy_seconds: float,
            detection: float, note: str, fallbacks: list[tuple[str, int, str]], promoted: bool) -> DrillResult:
    phases = [Bar("outage + detection", "drill", "done", 0.0, detection)]
    phases += [Bar(r.name, r.branch, r.status, detection + r.start, detection + r.end) for r in result.records]
    rto = None if result.rto_seconds is None else detection + result.rto_seconds
    refusal = next((r.sentence for r in result.records if r.status in (dr_runner.REFUSED, dr_runner.FAILED)), None)
    checks_ok = all(v.ok for v in verdicts)
    within = rto is not None and rto + DNS_SETTLE_SECONDS <= o.rto_budget_seconds
    rpo = result.report.get("rpoEstimateSeconds") if promoted else opts.replica_lag_seconds
    if result.ok and checks_ok and within:
        summary = f"drill passed: {o.dr_region} serves production; every end-state check passed from AWS's side"
    elif result.ok and checks_ok:
        summary = f"drill FAILED: the failover worked but the RTO is over the {o.rto_budget_seconds:g} s budget"
    elif not result.ok and not promoted and checks_ok:
        summary = f"drill stopped before promoting (nothing promoted, DNS unchanged, lock released): {refusal}"
    else:
        bad = "; ".join(f"{v.check}: {v.detail}" for v in verdicts if not v.ok)
        summary = f"drill FAILED: {refusal or bad}"
    return DrillResult(
        stack=opts.stack, profile=opts.latency_profile, passed=result.ok and checks_ok and within, summary=summary,
        deploy_seconds=deploy_seconds, detection_seconds=detection, detection_note=note, scale_up=result,
        verdicts=verdicts, outputs=o, fallbacks=fallbacks, report_path=opts.report_file(), svg_path=opts.svg_file(),
        rto_seconds=rto, rpo_seconds=rpo, refusal=refusal, phases=phases, outage=opts.outage)


def as_json(drill: DrillResult) -> dict[str, Any]:
    o = drill.outputs
    return {
        "drill": "region", "stack": drill.stack, "latencyProfile": drill.profile, "passed": drill.passed,
        "summary": drill.summary, "rtoRpo": drill.rto_rpo_line(),
        "primaryRegion": o.primary_region, "drRegion": o.dr_region,
        "outage": {"mode": drill.outage, "primaryRegion": o.primary_region,
                   "worldConcessions": DRILL_CONCESSIONS,
                   "why": "none: Route 53's API is dark with the primary and the planned Global Datastore failover "
                          "is refused, as in a real outage; the DR command needs neither"},
        "rtoSeconds": None if drill.rto_seconds is None else round(drill.rto_seconds, 3),
        "clientVisibleRtoSeconds": None if drill.rto_seconds is None
        else round(drill.rto_seconds + DNS_SETTLE_SECONDS, 3),
        "rtoBudgetSeconds": o.rto_budget_seconds, "rpoSeconds": drill.rpo_seconds,
        "rpoBudgetSeconds": o.rpo_budget_seconds,
        "deploySeconds": round(drill.deploy_seconds, 3),
        "detection": {"seconds": round(drill.detection_seconds, 3), "how": drill.detection_note},
        "timeline": [{"step": b.name, "branch": b.branch, "status": b.status, "startSeconds": round(b.start, 3),
                      "endSeconds": round(b.end, 3), "durationSeconds": round(b.end - b.start, 3)}
                     for b in drill.phases],
        "verification": [{"check": v.check, "ok": v.ok, "detail": v.detail} for v in drill.verdicts],
        "scaleUp": dr_report.as_json(drill.scale_up),
        "notModelledByMoto": [{"type": t, "count": n, "reason": r} for t, n, r in drill.fallbacks],
        "picture": str(drill.svg_path),
    }


def write_report(drill: DrillResult) -> Path:
    drill.report_path.parent.mkdir(parents=True, exist_ok=True)
    drill.report_path.write_text(json.dumps(as_json(drill), indent=2) + "\n")
    return drill.report_path


def print_drill(drill: DrillResult, console: Console) -> None:
    """The timeline table (from the outage), the end-state checks, then the verdict and RTO/RPO."""
    from rich.table import Table

    table = Table(title=f"timeline (from the outage, latency profile {drill.profile})", title_justify="left")
    for col in ("step", "branch", "start", "end", "duration", "result"):
        table.add_column(col, no_wrap=True)
    for b in drill.phases:
        table.add_row(b.name, b.branch, human_seconds(b.start), human_seconds(b.end),
                      human_seconds(b.end - b.start), b.status)
    console.print(table)
    console.print(f"detection: {drill.detection_note}", highlight=False)
    checks = Table(title="end state, as AWS reports it", title_justify="left")
    for col in ("check", "ok", "detail"):
        checks.add_column(col, overflow="fold")
    for v in drill.verdicts:
        checks.add_row(v.check, "[green]yes[/]" if v.ok else "[bold red]NO[/]", v.detail)
    console.print(checks)
    console.print(drill.summary, highlight=False, soft_wrap=True)
    console.print(drill.rto_rpo_line(), highlight=False, soft_wrap=True)
    console.print(f"report: {_rel(drill.report_path)}  picture: {_rel(drill.svg_path)}", highlight=False)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
