"""The readable summary `make plan` prints: resources per region and per AZ, then the outputs."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.plan.render import Plan


def resource_az(resource: dict[str, Any], subnet_azs: dict[str, str]) -> str | None:
    """The AZ a resource is pinned to: its own `availabilityZone`, else the one AZ of its subnets."""
    inputs = resource["inputs"]
    az = inputs.get("availabilityZone")
    if isinstance(az, str):
        return az
    ids = inputs.get("subnetIds") or ([inputs["subnetId"]] if isinstance(inputs.get("subnetId"), str) else [])
    azs = {subnet_azs.get(i) for i in ids if isinstance(i, str)}
    if len(azs) == 1:
        return azs.pop()
    return None


def subnet_az_map(plan: Plan) -> dict[str, str]:
    return {r["id"]: r["inputs"]["availabilityZone"] for r in plan.of_type("aws:ec2/subnet:Subnet")
            if r["id"] and "availabilityZone" in r["inputs"]}


def per_region_az(plan: Plan) -> dict[str, dict[str, Counter[str]]]:
    """region -> (AZ or "regional") -> Counter of short type names, for custom resources only."""
    subnet_azs = subnet_az_map(plan)
    out: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r in plan.resources:
        if not r["custom"] or r["type"].startswith("pulumi:providers:"):
            continue
        region = r["region"] or r["homeRegion"] or "global"
        az = resource_az(r, subnet_azs) or "regional"
        out[region][az][short_type(r["type"])] += 1
    return out


def short_type(typ: str) -> str:
    """`aws:ec2/natGateway:NatGateway` -> `ec2:NatGateway`; `kubernetes:apps/v1:Deployment` -> `k8s:Deployment`."""
    pkg, mod, name = (typ.split(":") + ["", ""])[:3]
    mod = mod.split("/")[0]
    if pkg == "kubernetes":
        return f"k8s:{name}"
    return f"{mod}:{name}" if mod and mod != "index" else name


def print_summary(plan: Plan, console: Console | None = None) -> None:
    console = console or Console()
    grid = per_region_az(plan)
    total = sum(1 for r in plan.resources if r["custom"])
    console.print(f"[bold]Plan {plan.project}/{plan.stack}[/]: {total} resources in {len(grid)} regions")
    for region in sorted(grid, key=lambda r: (r == "global", r)):
        zones = sorted(z for z in grid[region] if z != "regional")
        zones += ["regional"] if "regional" in grid[region] else []
        table = Table(title=f"{region}", title_justify="left", show_lines=False)
        table.add_column("resource type")
        for z in zones:
            table.add_column(z, justify="right")
        types = sorted({t for z in zones for t in grid[region][z]})
        for t in types:
            table.add_row(t, *[str(grid[region][z].get(t, "")) for z in zones])
        console.print(table)
    outputs = Table(title="stack outputs", title_justify="left")
    outputs.add_column("output")
    outputs.add_column("value", overflow="fold")
    for key in sorted(plan.outputs):
        value = plan.outputs[key]
        outputs.add_row(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
    console.print(outputs)
