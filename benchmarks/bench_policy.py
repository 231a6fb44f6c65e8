"""How long the policy check takes on the prod plan and on a synthetic 5,000-resource plan.

Figures, each the median of `--runs` (default 5) runs:

* **prod, running pack**: one `check` on a pack process that is already up — Configure, `Analyze`
  for every resource, `AnalyzeStack` for the graph. This is what the engine pays per preview
  (issue target: <= 1 s median).
* **prod, `hastack policy check`**: the whole command in a fresh subprocess (interpreter, imports,
  pack start-up, check, shutdown) — what `make policy` adds after rendering.
* **synthetic plans**: prod's resources cloned k times (URNs, names and ids renamed consistently so
  the graph stays a graph) up to >= 5,000 resources; the time per resource at each size shows
  whether the check grows linearly.

The pack's own cost is dominated by the policy SDK, which deserializes every resource once per
policy (resource policies in `Analyze`, stack policies in `AnalyzeStack`).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_seconds  # noqa: E402

from hastack.plan.render import render  # noqa: E402
from hastack.policy.config import derive_policy_config, facts_for_stack  # noqa: E402
from hastack.policy.runner import PolicyPackProcess  # noqa: E402


def synthetic_plan(plan: dict[str, Any], copies: int) -> dict[str, Any]:
    """`copies` renamed clones of every resource of `plan` (copy 0 is the original)."""
    resources = plan["resources"]
    tokens = sorted({r["urn"] for r in resources} | {r["id"] for r in resources if r.get("id")}, key=len,
                    reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in tokens))
    text = json.dumps(resources)
    out = list(copy.deepcopy(resources))
    for n in range(1, copies):
        clone = json.loads(pattern.sub(lambda m, n=n: f"{m.group(0)}-c{n}", text))
        for r in clone:
            r["name"] = f"{r['name']}-c{n}"
        out.extend(clone)
    return {**plan, "resources": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1,5,10,19", help="copies of prod's resources (19 x 274 > 5,000)")
    args = parser.parse_args()

    plan = render("prod").to_json()
    build = REPO_ROOT / "build"
    build.mkdir(exist_ok=True)
    plan_file = build / "plan-prod.json"
    plan_file.write_text(json.dumps(plan))

    print(f"policy check, median of {args.runs} runs (min-max)")
    with PolicyPackProcess() as pack:
        config = derive_policy_config(facts_for_stack("prod"), pack.policies())
        pack.check(plan, config)  # warm-up
        med, lo, hi = median_seconds(lambda: pack.check(plan, config), args.runs)
        print(f"  prod, running pack ({len(plan['resources'])} resources): {med:.3f} s ({lo:.3f}-{hi:.3f})")

        cmd = [sys.executable, "-m", "hastack", "policy", "check", str(plan_file)]
        med, lo, hi = median_seconds(lambda: subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, check=False),
                             args.runs)
        print(f"  prod, `hastack policy check` (fresh process, pack start-up included): {med:.3f} s "
              f"({lo:.3f}-{hi:.3f})")

        print("  growth (synthetic plans, prod cloned k times):")
        sizes = [int(s) for s in args.sizes.split(",")]
        for k in sizes:
            big = synthetic_plan(plan, k)
            n = len(big["resources"])
            # the end points get the full run count; intermediate sizes 3 runs (they only show the slope)
            runs = args.runs if k in (sizes[0], sizes[-1]) else min(3, args.runs)
            med, lo, hi = median_seconds(lambda big=big: pack.check(big, config), runs)
            print(f"    {n:>6} resources: {med:7.3f} s ({lo:.3f}-{hi:.3f}, {runs} runs)  "
                  f"{med / n * 1000:.3f} ms/resource")
    return 0


if __name__ == "__main__":
    sys.exit(main())
