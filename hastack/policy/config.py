"""Policy config per stack: what the pack needs to know about a stack, derived from Pulumi.<stack>.yaml.

The pack never reads the stack's config itself; like any Pulumi policy pack it is configured through
`--policy-pack-config FILE`. Nothing derived is kept in the repository: `hastack policy check` (and so
`make plan`, `make policy`, CI) derives the config from the stack file on every run, so changing the
stack config (a failover sets `hastack:activeRegion` to the DR region) can never leave a stale copy
behind. For the Pulumi CLI, `hastack policy config --stack <stack> --output FILE` (or `make
policy-config`) writes the same JSON to pass as `--policy-pack-config`. How each value is derived:

| setting             | from                                                                          |
|---------------------|-------------------------------------------------------------------------------|
| production          | the stack is named `prod` (or starts with `prod-`): stricter minimums        |
| primaryRegion       | hastack:primaryRegion                                                         |
| drRegion            | hastack:drRegion                                                              |
| activeRegion        | hastack:activeRegion (the DR region after a failover)                         |
| drMode              | hastack:drMode                                                                |
| pilotLightRegions   | the region that is not active, while drMode is pilot-light                    |
| availabilityTarget  | hastack:slo.availability (percent)                                            |
| rtoMinutes          | hastack:slo.rtoMinutes                                                        |
| kubernetesApiAccessCidrs | hastack:kubernetesApiAccessCidrs (the EKS API endpoint's allow-list)     |
| awsTimings          | `hastack.timings.FOR_AVAILABILITY_MODEL`: AWS durations with their sources    |
| enforcementLevel    | `advisory` for the rules in `NEED_A_STANDBY` while failed over (below)        |

Each policy receives only the settings its config schema declares (as the engine validates them).

While failed over (activeRegion is not primaryRegion) the serving region has no standby of its own
until `hastack dr failback` re-protects the old primary region: no cross-region replica of the new
writer, no DR credit in the availability budget. The rules that can only pass with a standby are
then derived as advisory: they are still reported, but they do not block the `pulumi up` that
records the failover (a policy must not block recording the outage it would report). Every other
rule keeps its level.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hastack import timings
from hastack.config import NAMESPACE, StackConfig, parse_config
from hastack.files import read_json
from hastack.paths import REPO_ROOT
from hastack.plan.render import read_stack_config
from hastack.policy.runner import PolicyInfo

#: Rules that can only pass while a standby region protects the serving one (advisory while failed over).
NEED_A_STANDBY = ("cross-region-replica", "availability-budget")
#: Stack outputs that must agree with the policy config (a config for another stack shape is an error).
CHECKED_OUTPUTS = ("primaryRegion", "drRegion", "activeRegion", "drMode")


def is_production(stack: str) -> bool:
    return stack == "prod" or stack.startswith("prod-")


def stack_facts(config: StackConfig, stack: str) -> dict[str, Any]:
    """Everything the pack's settings are derived from, for one stack (see the module table)."""
    standby = [r for r in config.regions if r != config.active_region] if config.dr_mode == "pilot-light" else []
    return {
        "production": is_production(stack),
        "primaryRegion": config.primary_region,
        "drRegion": config.dr_region,
        "activeRegion": config.active_region,
        "drMode": config.dr_mode,
        "pilotLightRegions": standby,
        "availabilityTarget": config.slo.availability,
        "rtoMinutes": config.slo.rto_minutes,
        "kubernetesApiAccessCidrs": list(config.kubernetes_api_access_cidrs),
        "awsTimings": timings.availability_model_settings(),
    }


def facts_for_stack(stack: str, root: Path = REPO_ROOT, config_path: Path | None = None) -> dict[str, Any]:
    """`stack_facts` of `Pulumi.<stack>.yaml` (or of another file of the same shape)."""
    raw = read_stack_config(stack, root, config_path)
    prefix = f"{NAMESPACE}:"
    return stack_facts(parse_config({k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}), stack)


def derive_policy_config(facts: Mapping[str, Any], policies: Iterable[PolicyInfo]) -> dict[str, dict[str, Any]]:
    """The --policy-pack-config JSON: for each policy, the facts its schema declares (policies sorted);
    while failed over, the mandatory rules of `NEED_A_STANDBY` at the advisory level."""
    failed_over = bool(facts.get("activeRegion")) and facts.get("activeRegion") != facts.get("primaryRegion")
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(policies, key=lambda p: p.name):
        props: dict[str, Any] = {k: facts[k] for k in sorted(p.config_schema) if k in facts}
        if failed_over and p.name in NEED_A_STANDBY and p.enforcement_level == "mandatory":
            props["enforcementLevel"] = "advisory"
        if props:
            out[p.name] = props
    return out


def render_config(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def load_policy_config(path: Path) -> dict[str, Any]:
    """A --policy-pack-config file; ValueError with the reason when it isn't a JSON object."""
    data = read_json(path, "policy config")  # a UserError when missing, a directory, not UTF-8 or not JSON
    if not isinstance(data, dict):
        raise ValueError(f"policy config {path} must be a JSON object of policy name -> settings")
    return data


def mismatches(config: Mapping[str, Any], outputs: Mapping[str, Any]) -> list[str]:
    """Settings of the policy config that contradict the plan's stack outputs (regions, DR mode)."""
    problems = []
    for key in CHECKED_OUTPUTS:
        wanted = outputs.get(key)
        if wanted is None:
            continue
        for name, entry in sorted(config.items()):
            if isinstance(entry, dict) and key in entry and entry[key] != wanted:
                problems.append(f"{name}.{key} is {entry[key]!r} but the plan's {key} output is {wanted!r}")
                break
    return problems
