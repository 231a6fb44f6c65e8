"""`hastack local demo` (`make demo`): the whole story in one command, no AWS account needed.

1. **plan** — the real Pulumi program rendered offline (`hastack plan`);
2. **policy check** — the policy pack, as its own gRPC process, on that plan (`hastack policy check`);
3. **local up + regional drill** — the program deployed into a fresh embedded moto AWS, the primary
   region taken down the way regions usually fail — its endpoints, and Route 53's API with it,
   accept connections and never answer (`--outage hang`) — the real `dr scale-up` on the DR region,
   the end state checked from AWS's side (`hastack drill region`), on the DR command's simulated
   clock with AWS's documented durations (latency profile `aws`), so the RTO is the one AWS would give;
4. **one summary** — a line per phase, ending with the drill's RTO/RPO line and the picture's path.

The plan and the policy check run as the same CLI commands a user types (subprocesses); the drill
runs in this process. Exit code 0 only when every phase passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from hastack.local.drill import DrillOptions, print_drill, run_drill
from hastack.paths import REPO_ROOT


@dataclass
class Phase:
    name: str
    ok: bool
    line: str
    seconds: float


def _run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hastack", *args], cwd=REPO_ROOT, text=True,
                          capture_output=True, check=False)


def _plan(stack: str, build_dir: Path, console: Console) -> Phase:
    start = time.monotonic()
    done = _run_cli(["plan", "--stack", stack, "--build-dir", str(build_dir)])
    console.print(done.stdout, end="", highlight=False, soft_wrap=True)
    plan_path = build_dir / f"plan-{stack}.json"
    if done.returncode != 0 or not plan_path.is_file():
        return Phase("plan", False, f"hastack plan failed: {done.stderr.strip()[-300:]}", time.monotonic() - start)
    count = len(json.loads(plan_path.read_text())["resources"])
    return Phase("plan", True, f"{count} resources rendered offline -> {_rel(plan_path)}", time.monotonic() - start)


def _policy(stack: str, build_dir: Path, console: Console) -> Phase:
    start = time.monotonic()
    done = _run_cli(["policy", "check", str(build_dir / f"plan-{stack}.json"), "--json"])
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return Phase("policy check", False, f"hastack policy check failed: {done.stderr.strip()[-300:]}",
                     time.monotonic() - start)
    console.print(report.get("verdict", ""), highlight=False, soft_wrap=True)
    for v in report.get("violations", []):
        console.print(f"  {v.get('enforcementLevel')}: {v.get('policy')} on {v.get('resource')}", highlight=False,
                      soft_wrap=True)
    return Phase("policy check", bool(report.get("passed")), report.get("verdict", "?"), time.monotonic() - start)


def run_demo(stack: str, build_dir: Path, console: Console, latency_profile: str = "aws") -> bool:
    phases: list[Phase] = []
    console.rule(f"1/3 plan: the real Pulumi program, rendered offline (stack {stack})")
    phases.append(_plan(stack, build_dir, console))
    console.rule("2/3 policy check: the policy pack on the plan")
    phases.append(_policy(stack, build_dir, console) if phases[-1].ok else
                  Phase("policy check", False, "not run: no plan", 0.0))
    console.rule("3/3 local up + regional failover drill on the embedded moto AWS")
    start = time.monotonic()
    drill = run_drill(DrillOptions(stack=stack, latency_profile=latency_profile, outage="hang", build_dir=build_dir),
                      console, progress=sys.stdout)
    print_drill(drill, console)
    spent = time.monotonic() - start
    created = drill.deployment.created if drill.deployment else 0
    outputs = _rel(build_dir / f"outputs-{stack}-local.json")
    phases.append(Phase("local up", created > 0, f"{created} AWS resources created in moto -> {outputs}",
                        drill.deploy_seconds))
    phases.append(Phase("regional drill", drill.passed, drill.summary, spent - drill.deploy_seconds))

    console.rule("summary")
    for p in phases:
        mark = "[green]ok  [/]" if p.ok else "[bold red]FAIL[/]"
        console.print(f"{mark} {p.name:<15} {p.seconds:6.1f} s  {p.line}", soft_wrap=True, highlight=False)
    console.print(f"drill latency profile: {latency_profile}"
                  + (" (AWS's documented durations on a simulated clock; shared/aws-timings.md)"
                     if latency_profile == "aws" else " (moto's speed)"), highlight=False)
    console.print(drill.rto_rpo_line(), highlight=False, soft_wrap=True)
    console.print(f"picture: {_rel(drill.svg_path)}", highlight=False)
    return all(p.ok for p in phases)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
