"""The availability model and FMEA table of a rendered plan, for `make plan`.

The model lives in the policy pack (`policies/availability.py`), which is the single source of its
numbers and sources; this module loads it as a plain module (the pack never imports `hastack`), feeds
it the plan's resources exactly as the engine shows them to AnalyzeStack (final outputs, ids,
providers), and writes the result: `build/fmea-<stack>.md` and the `availability` key of the plan
JSON. It prints the FMEA table after the plan summary.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.policy.runner import POLICY_PACK_DIR, engine_resources, provider_urn, stack_properties


def pack_module(name: str, pack_dir: Path = POLICY_PACK_DIR) -> ModuleType:
    """Import a module of the policy pack (its modules import each other by top-level name)."""
    path = str(pack_dir)
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    try:
        return importlib.import_module(name)
    finally:
        if added:
            sys.path.remove(path)


def plan_graph(plan: Mapping[str, Any]) -> Any:
    """The pack's `Graph` of a plan, built from what AnalyzeStack receives for each resource."""
    util = pack_module("_util")
    resources = engine_resources(plan)
    by_urn = {r["urn"]: r for r in resources}
    nodes = []
    for r in resources:
        provider = provider_urn(r.get("provider"))
        provider_region = None
        if provider in by_urn and by_urn[provider]["type"] == util.AWS_PROVIDER:
            provider_region = (by_urn[provider].get("inputs") or {}).get("region")
        nodes.append(util.Node(urn=r["urn"], type=r["type"], name=r["name"], props=stack_properties(r),
                               parent=r.get("parent"), dependencies=list(r.get("dependencies") or []),
                               property_dependencies=dict(r.get("propertyDependencies") or {}),
                               provider=provider, provider_region=provider_region))
    return util.Graph(nodes)


def availability_model(plan: Mapping[str, Any], settings: Mapping[str, Any]) -> Any:
    """The pack's availability `Model` of the plan with the given availability-budget settings."""
    availability = pack_module("availability")
    return availability.build_model(plan_graph(plan), dict(settings))


def write_fmea(plan: Mapping[str, Any], settings: Mapping[str, Any], build_dir: Path,
               console: Console | None = None) -> dict[str, Path]:
    """Write build/fmea-<stack>.md, add `availability` to build/plan-<stack>.json, print the table."""
    availability = pack_module("availability")
    model = availability_model(plan, settings)
    stack = plan["stack"]
    md_path = build_dir / f"fmea-{stack}.md"
    md_path.write_text(availability.fmea_markdown(model, f"FMEA: {plan['project']}/{stack}"))
    plan_path = build_dir / f"plan-{stack}.json"
    if plan_path.is_file():
        data = json.loads(plan_path.read_text())
        data["availability"] = model.to_json()
        plan_path.write_text(json.dumps(data, indent=2) + "\n")
    if console is not None:
        print_fmea(model, availability, console)
    return {"fmea": md_path}


def print_fmea(model: Any, availability: ModuleType, console: Console) -> None:
    table = Table(title=f"FMEA — serving path in {model.region} (DR: {model.standby or 'none'})",
                  title_justify="left", show_lines=True)
    for header, _ in availability.FMEA_COLUMNS:
        table.add_column(header, overflow="fold")
    for row in availability.fmea_rows(model):
        table.add_row(*(str(row[key]) for _, key in availability.FMEA_COLUMNS))
    wide = Console(width=max(console.width, 180), file=console.file)
    wide.print(table)
    verdict = "meets" if model.composite * 100 >= model.target - 1e-9 else "is BELOW"
    wide.print(f"composite availability {model.composite * 100:.4f}% "
               f"({availability.human_duration(model.downtime_seconds)} downtime/yr) {verdict} the SLO "
               f"{model.target:g}%; weakest: {model.weakest.name if model.weakest else '-'}", highlight=False)
