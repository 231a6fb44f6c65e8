"""`hastack local up|down` and `hastack drill region`: the local AWS from the command line.

`local up` starts the local AWS (moto + the world layer, 127.0.0.1 only), deploys the stack into
it, writes `build/outputs-<stack>-local.json` and prints what exists per region and AZ. Without
`--detach` it keeps serving until Ctrl-C (so other tools can use it: `AWS_ENDPOINT_URL=...`);
with `--detach` the server runs as a child process recorded in `build/local-<stack>.json`, and
`local down` stops it. `drill region` always works on a fresh local AWS of its own.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from hastack.config import ConfigError
from hastack.errors import EXIT_REFUSED, UserError
from hastack.files import output_dir
from hastack.local.dataplane import DataPlaneError
from hastack.local.demo import run_demo
from hastack.local.deploy import LocalDeployError, deploy, fallback_summary, write_local_outputs
from hastack.local.drill import (
    DEFAULT_WRITE_RATE,
    LATENCY_PROFILES,
    OUTAGE_MODES,
    DrillError,
    DrillOptions,
    print_drill,
    run_drill,
)
from hastack.local.inventory import collect, print_inventory
from hastack.local.moto_mocks import AwsClients
from hastack.local.server import (
    InProcessServer,
    LocalAwsError,
    WorldClient,
    data_plane_name,
    read_detached,
    start_detached,
    stop_detached,
)
from hastack.paths import BUILD_DIR
from hastack.plan.render import available_stacks, read_stack_config, stack_file

if TYPE_CHECKING:
    from hastack.local.dataplane import DataPlane, DataPlaneConfig

local_app = typer.Typer(help="The stack deployed into an embedded moto AWS on 127.0.0.1 (no account needed).",
                        no_args_is_help=True, add_completion=False)
#: `hastack drill region` (hastack/cli.py puts it in the `drill` group, next to the AWS drills).
region_drill_app = typer.Typer(add_completion=False)
#: Bounds of the drill's data-plane knobs (a drill holds the WAL stream at most this long; the writers'
#: threads cannot sustain much more than this rate on a small machine).
MAX_REPLICA_BEHIND_SECONDS = 3600.0
MAX_WRITE_RATE = 2000.0
out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False)

#: Exit 1: the deploy or the drill ran and failed; user errors are `UserError` (exit 2).
EXIT_FAILED = EXIT_REFUSED
DEFAULT_PORT = 5000

STACK = typer.Option("prod", "--stack", "-s", help="Stack to deploy (reads Pulumi.<stack>.yaml).")
DATA_PLANE = typer.Option(True, "--data-plane/--no-data-plane",
                          help="Also run real PostgreSQL and Valkey servers, replicating from the primary region to "
                               "the DR region, bound to the stack's RDS instances and cache groups.")
ONE_WAY_DELAY = typer.Option(70.0, "--one-way-delay-ms", min=0.0, max=10_000.0,
                             help="Delay added to each direction of a cross-region data-plane link (ms).")
BUILD_DIR_OPTION = typer.Option(BUILD_DIR, "--build-dir", help="Where outputs, pid file and reports go.")


def _checked(stack: str, build_dir: Path, *, create: bool = False) -> Path:
    """Refuse an unknown stack or a --build-dir that is a file before anything starts or stops."""
    if not stack_file(stack).is_file():
        known = ", ".join(available_stacks()) or "none"
        raise UserError(f"unknown stack {stack!r}: {stack_file(stack)} does not exist (stacks here: {known})")
    if create:
        return output_dir(build_dir, "--build-dir")
    if build_dir.exists() and not build_dir.is_dir():
        raise UserError(f"--build-dir {build_dir}: is a file, not a directory")
    return build_dir


def _deploy_and_show(stack: str, endpoint: str, build_dir: Path) -> None:
    with _user_errors(stack):
        deployment = deploy(stack, endpoint)
    path = write_local_outputs(deployment, build_dir)
    print_inventory(collect(AwsClients(endpoint), deployment.regions()), out)
    rows = fallback_summary(deployment.fallbacks)
    if rows:
        out.print("not created in moto (offline values used instead):")
        for typ, count, reason in rows:
            out.print(f"  {count} x {typ}: {reason}", soft_wrap=True)
    out.print(f"deployed {deployment.created} AWS resources into {endpoint}; wrote {path}")


def data_plane_config(stack: str, build_dir: Path, one_way_delay_ms: float = 70.0) -> DataPlaneConfig:
    """The data plane of a stack's local world: its two regions (from Pulumi.<stack>.yaml), pids under build/."""
    from hastack.local.dataplane import DataPlaneConfig

    raw = read_stack_config(stack)  # an unreadable stack file is the user's error (exit 2)
    regions = {key: raw.get(f"hastack:{key}") for key in ("primaryRegion", "drRegion")}
    missing = [f"hastack:{key}" for key, value in regions.items() if not isinstance(value, str) or not value]
    if missing:
        raise UserError(f"stack {stack!r}: {', '.join(missing)} missing in {stack_file(stack).name}: the data plane "
                        "needs both regions (or run with --no-data-plane)")
    return DataPlaneConfig(name=data_plane_name(stack), primary_region=str(regions["primaryRegion"]),
                           dr_region=str(regions["drRegion"]), one_way_delay_ms=one_way_delay_ms, build_dir=build_dir)


def _print_data_plane(plane: DataPlane | None) -> None:
    if plane is None:
        return
    primary, dr = plane.regions
    servers = ", ".join(f"{name} ({plane.roles[name]}, pid {server.pid})" for name, server in plane.servers.items())
    out.print(f"data plane {plane.config.name!r}: {servers}; cross-region links delay "
              f"{plane.config.one_way_delay_ms:g} ms each way (pids in "
              f"{plane.config.build_dir / f'dataplane-{plane.config.name}.json'})", soft_wrap=True)


@local_app.command("up")
def up(
    stack: str = STACK,
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", min=1, max=65535, help="Port on 127.0.0.1."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run the local AWS in the background "
                                                              "(pid file under build/; stop with `local down`)."),
    data_plane: bool = DATA_PLANE,
    one_way_delay_ms: float = ONE_WAY_DELAY,
    build_dir: Path = BUILD_DIR_OPTION,
) -> None:
    """Start the local AWS (and its data plane), deploy the stack into it, print what exists per region and AZ."""
    _checked(stack, build_dir, create=True)
    plane_config = data_plane_config(stack, build_dir, one_way_delay_ms) if data_plane else None
    try:
        if detach:
            record = start_detached(build_dir, stack, port, plane_config)
            out.print(f"local AWS running in the background: pid {record['pid']}, {record['endpoint']}, DNS resolver "
                      f"udp {record['resolver']} (log {record['log']})")
            if record.get("dataPlane"):
                out.print(f"data plane {record['dataPlane']!r} owned by it (pids in "
                          f"{build_dir / ('dataplane-' + record['dataPlane'] + '.json')})", soft_wrap=True)
            try:
                _deploy_and_show(stack, record["endpoint"], build_dir)
            except (typer.Exit, UserError):
                out.print(stop_detached(build_dir, stack))
                raise
            out.print(f"use it: AWS_ENDPOINT_URL={record['endpoint']} AWS_ACCESS_KEY_ID=testing "
                      f"AWS_SECRET_ACCESS_KEY=testing ...; stop it: hastack local down --stack {stack}")
            return
        server = InProcessServer(port, dataplane=plane_config).start()
    except LocalAwsError as exc:
        raise UserError(str(exc)) from None
    try:
        _print_data_plane(server.dataplane)
        _deploy_and_show(stack, server.endpoint, build_dir)
        host, resolver_port = server.resolver_address
        out.print(f"serving on {server.endpoint} (DNS resolver udp {host}:{resolver_port}) until Ctrl-C "
                  f"(AWS_ENDPOINT_URL={server.endpoint})")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        server.stop()
        out.print("local AWS stopped")


@contextmanager
def _user_errors(stack: str) -> Iterator[None]:
    """Errors a user can act on become `UserError` (exit 2); a refused deploy is a failure (exit 1)."""
    try:
        yield
    except ConfigError as exc:
        raise UserError(f"stack {stack!r}: {exc.render()}") from None
    except (DrillError, LocalAwsError) as exc:
        raise UserError(str(exc)) from None
    except LocalDeployError as exc:  # the deploy ran and moto refused resources: a failure, not a mistake
        err.print(f"[bold red]local deploy failed:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    except DataPlaneError as exc:  # the real servers or the writers could not do their part: a failed drill
        err.print(f"[bold red]data plane:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None


@local_app.command("down")
def down(stack: str = STACK, build_dir: Path = BUILD_DIR_OPTION) -> None:
    """Stop the detached local AWS of the stack and its data plane (nothing is left running)."""
    _checked(stack, build_dir)
    try:
        out.print(stop_detached(build_dir, stack))
    except LocalAwsError as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None


@local_app.command("status")
def status(stack: str = STACK, build_dir: Path = BUILD_DIR_OPTION) -> None:
    """Is a detached local AWS running for the stack, where, and what is broken in its world."""
    _checked(stack, build_dir)
    record = read_detached(build_dir, stack)
    if record is None:
        out.print(f"no detached local AWS for stack {stack!r}")
        raise typer.Exit(EXIT_FAILED)
    client = WorldClient(record["endpoint"])
    if not client.is_up():
        out.print(f"pid file {build_dir / f'local-{stack}.json'} names {record['endpoint']}, which does not answer")
        raise typer.Exit(EXIT_FAILED)
    world = client.world()
    plane = world.pop("dataPlane", None)
    out.print(f"local AWS of stack {stack!r}: pid {record['pid']}, {record['endpoint']}, world {world}", soft_wrap=True)
    if plane:
        servers = ", ".join(f"{name} {s['role']} (pid {s['pid']})" for name, s in plane["servers"].items())
        cut = sorted(name for name, link in plane["links"].items() if link["mode"] != "up")
        out.print(f"data plane {plane['name']!r}: {servers}; links cut: {', '.join(cut) or 'none'}", soft_wrap=True)


@local_app.command("demo")
def demo(
    stack: str = STACK,
    latency_profile: str = typer.Option("aws", "--latency-profile", help="Latency profile of the drill."),
    build_dir: Path = BUILD_DIR_OPTION,
) -> None:
    """The whole story (what `make demo` runs): plan, policy check, local up, regional drill, one summary."""
    if latency_profile not in LATENCY_PROFILES:
        raise UserError(f"--latency-profile {latency_profile!r} is not one of {', '.join(LATENCY_PROFILES)}")
    with _user_errors(stack):
        ok = run_demo(stack, build_dir, out, latency_profile)
    if not ok:
        raise typer.Exit(EXIT_FAILED)


@region_drill_app.command("region")
def drill_region(
    stack: str = STACK,
    latency_profile: str = typer.Option("none", "--latency-profile",
                                        help=f"{' | '.join(LATENCY_PROFILES)}: moto's speed, or AWS's documented "
                                             "durations on the DR command's simulated clock."),
    replica_behind: float = typer.Option(0.0, "--replica-behind",
                                         help="Hold the WAL stream to the DR replica this many seconds before the "
                                              "outage: the replica falls that far behind (the RPO gate reads it)."),
    accept_data_loss: bool = typer.Option(False, "--accept-data-loss",
                                          help="Run the scale-up with --accept-data-loss (promote past the RPO "
                                               "budget)."),
    delay_ms: float = ONE_WAY_DELAY,
    write_rate: float = typer.Option(DEFAULT_WRITE_RATE, "--write-rate",
                                     help="Writes a second each region's writer aims for."),
    outage: str = typer.Option("refuse", "--outage", help=f"{' | '.join(OUTAGE_MODES)}: the primary region's endpoints "
                                                          "close connections unanswered, or hold them unanswered."),
    report: Path | None = typer.Option(None, "--report", help="JSON report (default build/drill-<stack>.json)."),
    svg: Path | None = typer.Option(None, "--svg", help="Gantt chart (default build/drill-<stack>.svg)."),
    failback: bool = typer.Option(False, "--failback", help="Then heal the primary region and run the real "
                                                            "`dr failback` with writers throughout (latency profile "
                                                            "none only)."),
    build_dir: Path = BUILD_DIR_OPTION,
) -> None:
    """Regional failover on a fresh local AWS with real data: deploy, write, kill the primary region, real DR
    scale-up, verify from AWS, count the acknowledged writes lost (and, with --failback, the way back)."""
    if latency_profile not in LATENCY_PROFILES:
        raise UserError(f"--latency-profile {latency_profile!r} is not one of {', '.join(LATENCY_PROFILES)}")
    if outage not in OUTAGE_MODES:
        raise UserError(f"--outage {outage!r} is not one of {', '.join(OUTAGE_MODES)}")
    if not 0 <= replica_behind <= MAX_REPLICA_BEHIND_SECONDS:
        raise UserError(f"--replica-behind {replica_behind:g}: seconds from 0 to {MAX_REPLICA_BEHIND_SECONDS:g}")
    if not 1 <= write_rate <= MAX_WRITE_RATE:
        raise UserError(f"--write-rate {write_rate:g}: writes a second from 1 to {MAX_WRITE_RATE:g}")
    opts = DrillOptions(stack=stack, latency_profile=latency_profile, outage=outage, build_dir=build_dir,
                        report_path=report, svg_path=svg, one_way_delay_ms=delay_ms, write_rate=write_rate,
                        replica_behind_seconds=replica_behind, accept_data_loss=accept_data_loss, failback=failback)
    with _user_errors(stack):
        drill = run_drill(opts, out, progress=sys.stdout)
    print_drill(drill, out)
    if not drill.passed:
        raise typer.Exit(EXIT_FAILED)
