"""`hastack drill region`: a regional failover, end to end, on a fresh local AWS with real data.

The story, each part real: the program is deployed into the embedded moto AWS (`local up`) beside
the world's data plane — a PostgreSQL primary and Valkey primary "in" the primary region, their
asynchronous replicas "in" the DR region, every cross-region link delayed (70 ms one way by
default); writers standing in for the model server's prediction log write in each region under the
stack's real lease (`hastack.local.workload`: only the lease holder's writers write); the primary
region goes down while writes flow — its links cut at an instant with acknowledged writes provably
not yet replicated, its API endpoints stop answering and its Route 53 health check turns red; the
real `hastack dr scale-up` (`hastack.dr.scale_up.ScaleUp`, the code behind the CLI) runs against
what is left, its RPO gate reading the `ReplicaLag` the world publishes from the real replica;
the DR region's writers write once the command grants them the lease; the end state is checked
through AWS's own APIs (`hastack.local.verify`), and the checker compares the writers' ledger with
the promoted database (`hastack.local.dataplane.checker`): the acknowledged writes the failover
lost, and their span, are the **measured RPO**, shown beside the gate's estimate and the budget.

`--latency-profile none` runs at moto's speed (what the drill proves is the behaviour);
`--latency-profile aws` drives the same run on the DR command's simulated clock with AWS's
documented durations (`hastack.dr.simulate`), so the RTO is the one AWS would give (the data, the
writers and the measured RPO stay real).
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

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from hastack.dr import report as dr_report
from hastack.dr import runner as dr_runner
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock, SimClock, WallClock
from hastack.dr.deployment import Deployment
from hastack.dr.failback import CAUGHT_UP_SECONDS, Failback
from hastack.dr.journal import RunJournal
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.progress import PlainProgress
from hastack.dr.runner import RunResult
from hastack.dr.scale_up import ScaleUp
from hastack.local.dataplane import DataPlane, DataPlaneConfig, DataPlaneError, LinkMode, postgres_sql
from hastack.local.dataplane.ledger import Outcome
from hastack.local.deploy import LocalDeployment, deploy, fallback_summary, write_local_outputs
from hastack.local.gantt import Bar, human_seconds, write_svg
from hastack.local.inventory import Inventory, collect, print_inventory
from hastack.local.moto_mocks import LOCAL_CREDENTIALS, AwsClients
from hastack.local.server import LOOPBACK, InProcessServer, WorldClient
from hastack.local.verify import Verdict, verify_failback, verify_failover, verify_not_promoted
from hastack.local.workload import Measured, Workload, WorldClients
from hastack.paths import REPO_ROOT
from hastack.timings import DNS_SETTLE_SECONDS, ROUTE53_DETECTION

LATENCY_PROFILES = ("none", "aws")
#: How the primary region's endpoints fail: close connections unanswered, or hold them unanswered.
OUTAGE_MODES = ("refuse", "hang")
#: Bound of every DR wait with latency profile "none": moto converges at once or never, but the world's
#: CloudWatch works in 60 s periods (an alarm reading a switch back, failback's fresh lag evidence, which
#: must come from a period that starts after the fence), so a wait may take up to two periods.
LOCAL_WAIT_SECONDS = 120.0
#: One-way delay of every cross-region link (about us-east-1 <-> us-west-2).
DEFAULT_ONE_WAY_DELAY_MS = 70.0
#: Writes a second each region's writer aims for.
DEFAULT_WRITE_RATE = 200.0
#: Before the cut the primary's writers write this long, and at least `MIN_ACKNOWLEDGED` writes each.
WRITE_BEFORE_OUTAGE_SECONDS = 1.5
MIN_ACKNOWLEDGED = 20
#: After the failover the DR region's writers write this long (and `MIN_ACKNOWLEDGED` writes) before the check.
WRITE_AFTER_SECONDS = 1.0
#: Bound of each wait on the writers (a busy machine slows them; a drill that cannot write says so).
WRITERS_TIMEOUT_SECONDS = 30.0


class DrillError(Exception):
    """The drill could not be set up (a user error or a local AWS that would not start)."""


@dataclass
class DrillOptions:
    stack: str = "prod"
    latency_profile: str = "none"
    outage: str = "refuse"
    build_dir: Path = REPO_ROOT / "build"
    report_path: Path | None = None
    svg_path: Path | None = None
    config: dict[str, Any] | None = None
    show_inventory: bool = True
    one_way_delay_ms: float = DEFAULT_ONE_WAY_DELAY_MS
    write_rate: float = DEFAULT_WRITE_RATE
    #: Hold the WAL stream to the DR replica this long before the outage: it falls that far behind.
    replica_behind_seconds: float = 0.0
    accept_data_loss: bool = False
    #: After the failover, heal the primary region and run the real `hastack dr failback` with writers.
    failback: bool = False
    #: Called with the live local AWS at the end of the drill, before it stops (a caller reads its servers).
    observe: Callable[[InProcessServer], None] | None = None

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
    #: The RPO gate's estimate at the promotion (from `ReplicaLag`); None when it did not get there.
    rpo_estimate_seconds: float | None = None
    #: What the checker measured on the promoted servers (None: nothing was promoted).
    measured: Measured | None = None
    workload: WorkloadFigures | None = None
    #: The return leg (`--failback`), None when not run.
    failback: FailbackLeg | None = None
    outage: str = "refuse"
    refusal: str | None = None
    phases: list[Bar] = field(default_factory=list)
    #: What was deployed and what moto held before the outage (for tests and the report).
    deployment: LocalDeployment | None = None
    inventory_before: Inventory | None = None

    def rpo_text(self) -> str:
        """The measured RPO beside the gate's estimate and the budget (one clause)."""
        o = self.outputs
        estimate = ("no estimate" if self.rpo_estimate_seconds is None
                    else f"gate's estimate {human_seconds(self.rpo_estimate_seconds)}")
        m = self.measured
        budget = f"budget {human_seconds(o.rpo_budget_seconds)}"
        if m is None:
            return f"RPO not measured: nothing was promoted; {budget}"
        delay = f" over a {self.workload.one_way_delay_ms:g} ms link" if self.workload else ""
        return (f"RPO measured {m.postgres.rpo_text if m.lost else '0 s'} ({m.lost} of {m.postgres.acknowledged} "
                f"acknowledged writes lost, real replication{delay}); {estimate}; {budget}")

    def rto_rpo_line(self) -> str:
        o = self.outputs
        if self.rto_seconds is None:
            return f"RTO: not reached — {self.refusal or self.summary}; {self.rpo_text()}"
        client = self.rto_seconds + DNS_SETTLE_SECONDS
        return (f"RTO {human_seconds(self.rto_seconds)} (outage -> DNS on {o.dr_region}; clients follow within "
                f"{human_seconds(client)}; budget {human_seconds(o.rto_budget_seconds)}), {self.rpo_text()}")


@dataclass
class FailbackLeg:
    """The return leg: the real `hastack dr failback` with writers running throughout, checked like the failover."""

    run: RunResult
    verdicts: list[Verdict]
    measured: Measured | None
    seconds: float
    #: Runs refused before `run` (re-run as the runbook says: the new replica had no lag evidence yet).
    earlier: list[RunResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        m = self.measured
        return (self.run.ok and all(v.ok for v in self.verdicts) and m is not None and m.lost == 0
                and m.valkey.lost == 0 and not m.anomalies)

    def line(self) -> str:
        m = self.measured
        if m is None:
            return f"failback: not finished ({self.run.summary})"
        writable = ("" if m.dr_writable_after_s is None
                    else f", home writable {m.dr_writable_after_s:.2f} s after the fence")
        return (f"failback: {m.lost} of {m.postgres.acknowledged} acknowledged writes lost with writers running "
                f"throughout ({m.valkey.lost} of {m.valkey.acknowledged} cache writes){writable}; "
                f"{self.seconds:.1f} s")


@dataclass
class WorkloadFigures:
    """What the writers did during the drill (rates are acknowledged database writes a second)."""

    one_way_delay_ms: float
    aimed_rate: float
    primary_rate: float
    dr_rate: float
    acknowledged: int
    failed: int
    indeterminate: int
    #: Acknowledged writes provably not on the DR replica at the cut, per service.
    unreplicated_at_cut: dict[str, int]
    replica_behind_seconds: float
    #: Wall seconds from the cut to the first acknowledged write in the DR region (None: none).
    outage_to_dr_writable_seconds: float | None
    cache_reads: dict[str, int]
    #: When the primary region's links were cut (wall clock, epoch seconds).
    cut_at: float = 0.0


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
    """Deploy, write, break the primary region, run the real DR scale-up, verify from AWS, check the data."""
    if opts.latency_profile not in LATENCY_PROFILES:
        raise DrillError(f"--latency-profile {opts.latency_profile!r}: use one of {', '.join(LATENCY_PROFILES)}")
    if opts.outage not in OUTAGE_MODES:
        raise DrillError(f"--outage {opts.outage!r}: use one of {', '.join(OUTAGE_MODES)}")
    if opts.failback and opts.latency_profile != "none":
        raise DrillError(f"--failback with --latency-profile {opts.latency_profile!r}: the failback's fence must hold "
                         "on the writers' real clock, so it runs with latency profile none only")
    console.print(f"[bold]drill region[/] --stack {opts.stack}: fresh local AWS and data plane on {LOOPBACK} "
                  f"({opts.one_way_delay_ms:g} ms one way between regions), latency profile {opts.latency_profile}",
                  highlight=False)
    with InProcessServer(dataplane=data_plane_config(opts)) as server:
        plane = server.dataplane
        if plane is None:
            raise DrillError("the local AWS started without its data plane")
        world = WorldClient(server.endpoint)
        started = time.monotonic()
        deployment = _deploy(opts, server.endpoint, console)
        deploy_seconds = time.monotonic() - started
        o = _local_outputs(opts, deployment)
        clients = AwsClients(server.endpoint)
        before = collect(clients, deployment.regions())
        if opts.show_inventory:
            print_inventory(before, console, "local AWS after deploy")
        host, port = server.resolver_address
        dep = Deployment.of(o, (f"{host}:{port}",))  # DNS verified through the world's resolver
        aws = WorldClients(server.endpoint, on_client=loopback_guard)
        workload = Workload(plane, aws, dep.coordination, dep.bounds.lease_seconds, rate=opts.write_rate)
        with workload:
            cut = _write_then_cut(opts, o, plane, workload, world, console)
            detection, note = _detect(opts, world, cut.red)
            result = _scale_up(opts, o, dep, server.endpoint, progress)
            promoted = _promoted(result)
            if promoted:  # the DR region's writers write once the command granted them the lease
                workload.wait_acknowledged(o.dr_region, MIN_ACKNOWLEDGED, WRITERS_TIMEOUT_SECONDS)
                time.sleep(WRITE_AFTER_SECONDS)
        measured = None
        if promoted:
            measured = workload.check(o.dr_region, o.primary_region, fenced_at(aws, dep, result), since=cut.at,
                                      unreplicated_at_cut=cut.unreplicated)
            verdicts = verify_failover(clients, o, server.resolver_address,
                                       {s.name: s.replicas for s in o.services})
        else:
            verdicts = [*verify_not_promoted(clients, o), replica_still_in_recovery(plane, o.dr_region)]
        figures = _figures(opts, o, workload, cut, measured)
        if opts.show_inventory:
            # Route 53's API is still dark with the primary region: the DR region's resources only.
            print_inventory(collect(clients, [o.dr_region], route53=False), console, "local AWS after the drill")
        leg = None
        if opts.failback and result.ok and all(v.ok for v in verdicts):
            leg = fail_back(opts, o, dep, server, workload, console, progress)
        fallbacks = fallback_summary(deployment.fallbacks)
        if opts.observe is not None:
            opts.observe(server)

    drill = _result(opts, o, result, verdicts, deploy_seconds, detection, note, fallbacks, promoted, measured,
                    figures)
    drill.deployment, drill.inventory_before, drill.failback = deployment, before, leg
    if opts.failback:
        drill.passed = drill.passed and leg is not None and leg.passed
        if leg is None:
            drill.summary += "; failback not run (the failover did not pass)"
        elif not leg.passed:
            drill.summary = f"drill FAILED on the way back: {leg.line()}"
    write_report(drill)
    write_svg(drill.svg_path, drill.phases, f"hastack drill region --stack {opts.stack} "
              f"(latency profile {opts.latency_profile})", drill.rto_seconds, o.rto_budget_seconds)
    return drill


def data_plane_config(opts: DrillOptions) -> DataPlaneConfig:
    """The drill's own data plane: named after the stack, pids under the drill's build directory."""
    return DataPlaneConfig(name=f"drill-{opts.stack}", build_dir=opts.build_dir,
                           one_way_delay_ms=opts.one_way_delay_ms)


def _local_outputs(opts: DrillOptions, deployment: LocalDeployment) -> DrOutputs:
    o = load_outputs(opts.stack, write_local_outputs(deployment, opts.build_dir))
    if opts.latency_profile == "none":
        # moto answers at once and CloudWatch's periods are a minute: a wait that has not converged in
        # two never will. Fail fast instead of waiting out the stack's real bound (drTimeouts.waitTimeoutSeconds).
        wait = min(o.dr_timeouts.wait_timeout_seconds, LOCAL_WAIT_SECONDS)
        o = o.model_copy(update={"dr_timeouts": o.dr_timeouts.model_copy(update={"wait_timeout_seconds": wait})})
    return o


@dataclass
class Cut:
    """When and how the primary region went down."""

    at: float  # wall clock
    unreplicated: dict[str, int]
    red: list[str]  # the primary's ALB health checks


def _write_then_cut(opts: DrillOptions, o: DrOutputs, plane: DataPlane, workload: Workload, world: WorldClient,
                    console: Console) -> Cut:
    """Writers write in the primary region; optionally the DR replica falls behind; then the region goes dark.

    The links are cut at the first instant every writer has an acknowledged write its replica has
    provably not received (`Workload.cut_when_unreplicated`), then the world's APIs go dark.
    """
    primary = o.primary_region
    time.sleep(WRITE_BEFORE_OUTAGE_SECONDS)
    workload.wait_acknowledged(primary, MIN_ACKNOWLEDGED, WRITERS_TIMEOUT_SECONDS)
    if opts.replica_behind_seconds > 0:
        held = hold_replication(plane, primary)
        console.print(f"the WAL stream to the DR replica is held ({held}): it falls behind for "
                      f"{opts.replica_behind_seconds:g} s while writes go on", highlight=False)
        time.sleep(opts.replica_behind_seconds)
    unreplicated, at = workload.cut_when_unreplicated(primary, opts.outage, within=WRITERS_TIMEOUT_SECONDS)
    red = take_region_down(world, o, opts.outage)
    console.print(f"[bold red]outage:[/] {primary} stops answering ({opts.outage}) with writes in flight "
                  f"({unreplicated.get('postgres', 0)} acknowledged database writes not yet on the replica); Route 53 "
                  f"health check {', '.join(c[:8] for c in red)} of the primary ALB turns red", highlight=False)
    return Cut(at, unreplicated, red)


def hold_replication(plane: DataPlane, primary: str) -> str:
    """Hold the WAL link to the DR replica (it receives, so replays, nothing more); returns the link's name.

    Pausing replay alone would not lose anything: a promotion replays the WAL the replica received.
    """
    link = plane.replication_link("postgres", primary)
    plane.hub.set_mode([link], LinkMode.HANG)
    return link.name


def _detect(opts: DrillOptions, world: WorldClient, red: list[str]) -> tuple[float, str]:
    if opts.latency_profile == "none":
        return (detect(world, red[0]),
                "measured: Route 53's checkers saw the primary unhealthy (the local world evaluates them at once)")
    return modelled_detection()


def _scale_up(opts: DrillOptions, o: DrOutputs, dep: Deployment, endpoint: str, progress: IO[str] | None) -> RunResult:
    return _run_command(ScaleUp, opts, o, dep, endpoint, progress, accept_data_loss=opts.accept_data_loss)


def _run_command(command: type[ScaleUp] | type[Failback], opts: DrillOptions, o: DrOutputs, dep: Deployment,
                 endpoint: str, progress: IO[str] | None, accept_data_loss: bool = False) -> RunResult:
    """One real DR command run against the local AWS (boto3's standard chain pointed at it, loopback only)."""
    clock, latency_hook, poll = _latency(opts.latency_profile)
    with local_aws_env(endpoint):
        aws = ClientFactory(dep.bounds.call_timeout_seconds, on_client=_hooks(loopback_guard, latency_hook))
        options = dr_runner.Options(poll_seconds=poll, accept_data_loss=accept_data_loss)
        run = command(o, aws, clock=clock, deployment=dep, options=options,
                      observer=PlainProgress(progress) if progress is not None else None)
        return run.run()


def fail_back(opts: DrillOptions, o: DrOutputs, dep: Deployment, server: InProcessServer, failover: Workload,
              console: Console, progress: IO[str] | None) -> FailbackLeg:
    """The return leg: heal the primary region, then the real `hastack dr failback` with writers throughout.

    The writers of this leg are new processes of the model server (new leases: a writer that lost
    its lease never writes again under it), started before the failback, so the DR region's writer
    writes until the failback fences it and the home region's writer from when it is granted the
    lease; the checker then reads the promoted home database: nothing acknowledged may be missing.
    """
    plane = server.dataplane
    assert plane is not None
    world = WorldClient(server.endpoint)
    world.heal()
    console.print(f"[bold green]heal:[/] {o.primary_region} answers again; failing back with writers running",
                  highlight=False)
    started = time.monotonic()
    aws = WorldClients(server.endpoint, on_client=loopback_guard)
    load = Workload(plane, aws, dep.coordination, dep.bounds.lease_seconds, rate=opts.write_rate,
                    first_id=failover.next_id())
    with load:
        load.wait_acknowledged(o.dr_region, MIN_ACKNOWLEDGED, WRITERS_TIMEOUT_SECONDS)
        run = _run_command(Failback, opts, o, dep, server.endpoint, progress)
        refused = run.record("caught-up")
        earlier = []
        if refused is not None and refused.status == dr_runner.REFUSED:
            # As the runbook says: the new replica has no lag evidence yet; wait for it, run the same command again.
            earlier.append(run)
            console.print(f"failback refused at caught-up ({refused.sentence}); waiting for the new replica's "
                          "ReplicaLag, then running it again", highlight=False, soft_wrap=True)
            wait_for_lag_evidence(AwsClients(server.endpoint), o.primary_region, o.database.primary.identifier,
                                  WRITERS_TIMEOUT_SECONDS)
            run = _run_command(Failback, opts, o, dep, server.endpoint, progress)
        if run.ok:
            load.wait_acknowledged(o.primary_region, MIN_ACKNOWLEDGED, WRITERS_TIMEOUT_SECONDS)
            time.sleep(WRITE_AFTER_SECONDS)
    fence = fenced_at(aws, dep, run)
    measured = None
    if run.ok and fence is not None:
        measured = load.check(o.primary_region, o.dr_region, fence, since=fence.timestamp(), known=failover.ids())
    verdicts = verify_failback(AwsClients(server.endpoint), o, server.resolver_address)
    verdicts.append(primary_writable(plane, o.primary_region))
    return FailbackLeg(run, verdicts, measured, time.monotonic() - started, earlier)


def wait_for_lag_evidence(clients: AwsClients, region: str, identifier: str, timeout: float,
                          within: float = CAUGHT_UP_SECONDS) -> None:
    """Until CloudWatch in `region` holds a `ReplicaLag` datapoint of `identifier` at most `within` seconds
    (what `hastack dr status` shows an operator before re-running failback); DrillError after `timeout`."""
    cloudwatch = clients.get("cloudwatch", region)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = dt.datetime.now(dt.UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1), Period=60,
            Statistics=["Maximum"])["Datapoints"]
        if points and max(points, key=lambda p: p["Timestamp"])["Maximum"] <= within:
            return
        time.sleep(0.5)
    raise DrillError(f"no ReplicaLag datapoint of {identifier!r} in {region} within {within:g} s appeared in "
                     f"{timeout:.0f} s: the re-protected replica is not replicating")


def primary_writable(plane: DataPlane, region: str) -> Verdict:
    """The real home database after a failback: a primary again (not in recovery)."""
    server = plane.direct("postgres", region)
    check = "home PostgreSQL is a primary (not in recovery)"
    try:
        recovering = postgres_sql.in_recovery(server)
    except DataPlaneError as exc:
        return Verdict(check, False, str(exc))
    return Verdict(check, not recovering, f"{server.server}: pg_is_in_recovery() = {str(recovering).lower()}")


def _promoted(result: RunResult) -> bool:
    record = result.record("promote-db")
    return record is not None and record.status == dr_runner.DONE


def fenced_at(aws: ClientFactory, dep: Deployment, result: RunResult) -> dt.datetime | None:
    """When every lease granted before the revocation had expired, as the run journalled it (None: unknown)."""
    try:
        journal = RunJournal(aws, dep.coordination, result.run_id, read_only=True).read(result.run_id)
    except (ClientError, BotoCoreError):
        return None
    value = (journal or {}).get("facts", {}).get("fencedAt")
    return None if value is None else dt.datetime.fromtimestamp(float(value), dt.UTC)


def replica_still_in_recovery(plane: DataPlane, region: str) -> Verdict:
    """The real DR database after a refused run: still a replica, replaying (nothing was promoted)."""
    server = plane.direct("postgres", region)
    try:
        recovering = postgres_sql.in_recovery(server)
    except DataPlaneError as exc:
        return Verdict("DR PostgreSQL still a replica (in recovery)", False, str(exc))
    return Verdict("DR PostgreSQL still a replica (in recovery)", recovering,
                   f"{server.server}: pg_is_in_recovery() = {str(recovering).lower()}")


def _figures(opts: DrillOptions, o: DrOutputs, workload: Workload, cut: Cut, measured: Measured | None
             ) -> WorkloadFigures:
    counts = workload.ledger.counts()
    readers = {r.region: r.reader.stats for r in workload.regions.values()}
    return WorkloadFigures(
        one_way_delay_ms=opts.one_way_delay_ms, aimed_rate=opts.write_rate,
        primary_rate=workload.write_rate(o.primary_region, since=workload.started_at, until=cut.at),
        dr_rate=workload.write_rate(o.dr_region),
        acknowledged=counts[Outcome.OK], failed=counts[Outcome.FAILED], indeterminate=counts[Outcome.INDETERMINATE],
        unreplicated_at_cut=cut.unreplicated, replica_behind_seconds=opts.replica_behind_seconds,
        outage_to_dr_writable_seconds=measured.dr_writable_after_s if measured else None,
        cache_reads={"hits": sum(r.hits for r in readers.values()), "misses": sum(r.misses for r in readers.values()),
                     "errors": sum(r.errors for r in readers.values())},
        cut_at=cut.at)


def _deploy(opts: DrillOptions, endpoint: str, console: Console) -> LocalDeployment:
    started = time.monotonic()
    deployment = deploy(opts.stack, endpoint, config=opts.config)
    console.print(f"deployed stack {opts.stack} into the local AWS: {deployment.created} AWS resources in "
                  f"{time.monotonic() - started:.1f} s ({len(deployment.fallbacks)} answered offline)",
                  highlight=False)
    return deployment


def _result(opts: DrillOptions, o: DrOutputs, result: RunResult, verdicts: list[Verdict], deploy_seconds: float,
            detection: float, note: str, fallbacks: list[tuple[str, int, str]], promoted: bool,
            measured: Measured | None, figures: WorkloadFigures) -> DrillResult:
    phases = [Bar("outage + detection", "drill", "done", 0.0, detection)]
    phases += [Bar(r.name, r.branch, r.status, detection + r.start, detection + r.end) for r in result.records]
    rto = None if result.rto_seconds is None else detection + result.rto_seconds
    refusal = next((r.sentence for r in result.records if r.status in (dr_runner.REFUSED, dr_runner.FAILED)), None)
    checks_ok = all(v.ok for v in verdicts)
    within = rto is not None and rto + DNS_SETTLE_SECONDS <= o.rto_budget_seconds
    anomalies = measured.anomalies if measured else []
    over_rpo = measured is not None and measured.rpo_seconds > o.rpo_budget_seconds and not opts.accept_data_loss
    passed = result.ok and checks_ok and within and not anomalies and not over_rpo
    if passed:
        summary = (f"drill passed: {o.dr_region} serves production; every end-state check passed from AWS's side; "
                   "the checker found no anomaly in the data")
    elif result.ok and checks_ok and anomalies:
        summary = f"drill FAILED: the data is wrong: {'; '.join(anomalies)}"
    elif result.ok and checks_ok and over_rpo:
        summary = f"drill FAILED: the measured RPO is over the {o.rpo_budget_seconds:g} s budget"
    elif result.ok and checks_ok:
        summary = f"drill FAILED: the failover worked but the RTO is over the {o.rto_budget_seconds:g} s budget"
    elif not result.ok and not promoted and checks_ok:
        summary = f"drill stopped before promoting (nothing promoted, DNS unchanged, lock released): {refusal}"
    else:
        bad = "; ".join(f"{v.check}: {v.detail}" for v in verdicts if not v.ok)
        summary = f"drill FAILED: {refusal or bad}"
    return DrillResult(
        stack=opts.stack, profile=opts.latency_profile, passed=passed, summary=summary,
        deploy_seconds=deploy_seconds, detection_seconds=detection, detection_note=note, scale_up=result,
        verdicts=verdicts, outputs=o, fallbacks=fallbacks, report_path=opts.report_file(), svg_path=opts.svg_file(),
        rto_seconds=rto, rpo_estimate_seconds=result.report.get("rpoEstimateSeconds") if promoted else None,
        measured=measured, workload=figures, refusal=refusal, phases=phases, outage=opts.outage)


def as_json(drill: DrillResult) -> dict[str, Any]:
    o = drill.outputs
    m = drill.measured
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
        "rtoBudgetSeconds": o.rto_budget_seconds,
        "rpo": {
            "measuredSeconds": None if m is None else m.rpo_seconds,
            "lostAcknowledgedWrites": None if m is None else m.lost,
            "estimateSeconds": drill.rpo_estimate_seconds,
            "budgetSeconds": o.rpo_budget_seconds,
            "how": "measured: the writers' ledger against the promoted database (lost = acknowledged but missing; "
                   "span from the first lost write sent to the last write acknowledged on the old primary); "
                   "estimate: the DR command's RPO gate on the ReplicaLag the world publishes from the real replica",
        },
        "checker": None if m is None else {"postgres": m.postgres.model_dump(mode="json"),
                                          "valkey": m.valkey.model_dump(mode="json"),
                                          "summary": [m.postgres.summary, m.valkey.summary]},
        "workload": None if drill.workload is None else {
            "oneWayDelayMs": drill.workload.one_way_delay_ms, "aimedWritesPerSecond": drill.workload.aimed_rate,
            "primaryWritesPerSecond": drill.workload.primary_rate, "drWritesPerSecond": drill.workload.dr_rate,
            "acknowledged": drill.workload.acknowledged, "failed": drill.workload.failed,
            "indeterminate": drill.workload.indeterminate, "unreplicatedAtCut": drill.workload.unreplicated_at_cut,
            "replicaBehindSeconds": drill.workload.replica_behind_seconds,
            "outageToDrWritableSeconds": drill.workload.outage_to_dr_writable_seconds,
            "cacheReads": drill.workload.cache_reads,
            "cutAt": dt.datetime.fromtimestamp(drill.workload.cut_at, dt.UTC).isoformat(timespec="milliseconds")},
        "failback": None if drill.failback is None else failback_json(drill.failback),
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


def failback_json(leg: FailbackLeg) -> dict[str, Any]:
    m = leg.measured
    return {"passed": leg.passed, "line": leg.line(), "seconds": round(leg.seconds, 3),
            "lostAcknowledgedWrites": None if m is None else m.lost,
            "checker": None if m is None else {"postgres": m.postgres.model_dump(mode="json"),
                                               "valkey": m.valkey.model_dump(mode="json")},
            "verification": [{"check": v.check, "ok": v.ok, "detail": v.detail} for v in leg.verdicts],
            "failback": dr_report.as_json(leg.run),
            "refusedRunsBefore": [dr_report.as_json(run) for run in leg.earlier]}


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
    if drill.measured is not None:
        for line in (drill.measured.postgres.summary, drill.measured.valkey.summary):
            console.print(f"checker: {line}", highlight=False, soft_wrap=True)
    if drill.workload is not None:
        w = drill.workload
        writable = ("never" if w.outage_to_dr_writable_seconds is None
                    else f"{w.outage_to_dr_writable_seconds:.2f} s after the cut")
        console.print(f"writers: {w.primary_rate:.0f} writes/s in the primary before the outage (aimed "
                      f"{w.aimed_rate:.0f}), {w.dr_rate:.0f} writes/s in DR after the grant; DR writable {writable}",
                      highlight=False, soft_wrap=True)
    if drill.failback is not None:
        for v in drill.failback.verdicts:
            console.print(f"failback check: {'ok' if v.ok else 'NO'} {v.check}: {v.detail}", highlight=False,
                          soft_wrap=True)
        if drill.failback.measured is not None:
            console.print(f"checker (failback): {drill.failback.measured.postgres.summary}", highlight=False,
                          soft_wrap=True)
        console.print(drill.failback.line(), highlight=False, soft_wrap=True)
    console.print(drill.summary, highlight=False, soft_wrap=True)
    console.print(drill.rto_rpo_line(), highlight=False, soft_wrap=True)
    console.print(f"report: {_rel(drill.report_path)}  picture: {_rel(drill.svg_path)}", highlight=False)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
