"""Golden plans: what the prod and staging programs declare, kept in the repository.

A refactor must not change what `pulumi up` would do. The golden files hold, for every resource,
its type, name and inputs as the engine sees them, and every stack output, as JSON with sorted
keys. `tests/test_golden_plans.py` renders the program again and diffs against them.

When a change is *meant* to change the plan, regenerate and review the diff in the commit:

    .venv/bin/python -m tests.golden_plans --write
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from hastack.plan.render import Plan, read_stack_config, render

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

#: name -> how to render it. The failed-over render (activeRegion = DR region) exercises the
#: other side of every "who writes where" decision.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "staging": ("staging", {}),
    "prod-failed-over": ("prod", {"hastack:activeRegion": "hastack:drRegion"}),
}


def render_case(case: str) -> Plan:
    stack, overrides = CASES[case]
    config = copy.deepcopy(read_stack_config(stack))
    for key, value_of in overrides.items():
        config[key] = config[value_of]
    return render(stack, config=config)


def golden_view(plan: Plan) -> dict[str, Any]:
    """The part of a plan that a refactor must keep: resources' type, name, inputs; the outputs."""
    resources = sorted(({"type": r["type"], "name": r["name"], "inputs": r["inputs"]} for r in plan.resources),
                       key=lambda r: (r["type"], r["name"]))
    return json.loads(json.dumps({"resources": resources, "outputs": plan.outputs}, sort_keys=True))


def golden_path(case: str) -> Path:
    return GOLDEN_DIR / f"plan-{case}.json"


def write_all() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for case in CASES:
        path = golden_path(case)
        path.write_text(json.dumps(golden_view(render_case(case)), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.golden_plans --write")
    write_all()
