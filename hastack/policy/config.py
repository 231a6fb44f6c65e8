"""Policy config per stack: what the pack needs to know about a stack, derived from Pulumi.<stack>.yaml.

The pack never reads the stack's config itself; like any Pulumi policy pack it is configured through
`pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`. Those
files are derived from the stack config and shipped; a test keeps them equal to the derivation
(`hastack policy config --stack <stack> --write` regenerates one). How each value is derived:

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

Each policy receives only the settings its config schema declares (as the engine validates them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hastack.config import NAMESPACE, StackConfig, parse_config
from hastack.paths import REPO_ROOT
from hastack.plan.render import read_stack_config
from hastack.policy.runner import POLICY_CONFIG_DIR, PolicyInfo

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
    }


def facts_for_stack(stack: str, root: Path = REPO_ROOT, config_path: Path | None = None) -> dict[str, Any]:
    """`stack_facts` of `Pulumi.<stack>.yaml` (or of another file of the same shape)."""
    raw = read_stack_config(stack, root, config_path)
    prefix = f"{NAMESPACE}:"
    return stack_facts(parse_config({k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}), stack)


def derive_policy_config(facts: Mapping[str, Any], policies: Iterable[PolicyInfo]) -> dict[str, dict[str, Any]]:
    """The --policy-pack-config JSON: for each policy, the facts its schema declares (policies sorted)."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(policies, key=lambda p: p.name):
        props = {k: facts[k] for k in sorted(p.config_schema) if k in facts}
        if props:
            out[p.name] = props
    return out


def config_path(stack: str, directory: Path = POLICY_CONFIG_DIR) -> Path:
    return directory / f"{stack}.json"


def render_config(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def load_policy_config(path: Path) -> dict[str, Any]:
    """A --policy-pack-config file; ValueError with the reason when it isn't a JSON object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"policy config {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy config {path} is not JSON: {exc}") from None
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
