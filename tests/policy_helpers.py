"""Helpers for the policy tests: one pack process per test module, plan mutations, single-rule configs.

Why single-rule configs: the pack is configured the way the engine configures it, so a scenario
that tests one rule disables every other one (`"all": "disabled"`, then the rule at its own level).
The SDK then skips the others entirely, which keeps a scenario to a fraction of a full check while
still going through Handshake/Configure/Analyze/AnalyzeStack on the real process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from hastack.policy.config import config_path, load_policy_config
from hastack.policy.runner import PolicyPackProcess, PolicyReport

DELETE = object()
Mutation = Callable[[dict[str, Any]], None]


def start_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess() as pack:
        yield pack


def stack_config(stack: str) -> dict[str, Any]:
    return load_policy_config(config_path(stack))


def only(pack: PolicyPackProcess, policy: str, base: dict[str, Any]) -> dict[str, Any]:
    """A policy config enabling just `policy` (at its default level) with the stack's settings."""
    level = next(p.enforcement_level for p in pack.policies() if p.name == policy)
    return {"all": "disabled", policy: {**base.get(policy, {}), "enforcementLevel": level}}


def resource(plan: dict[str, Any], name: str) -> dict[str, Any]:
    for r in plan["resources"]:
        if r["name"] == name:
            return r
    raise KeyError(f"no resource named {name!r} in the plan")


def _walk(props: dict[str, Any], keys: list[str]) -> Any:
    cur: Any = props
    for k in keys:
        if isinstance(cur, list):
            cur = cur[int(k)]
        else:
            cur = cur.setdefault(k, {})
    return cur


def set_prop(plan: dict[str, Any], name: str, path: str, value: Any) -> None:
    """Set (or DELETE) `path` (dotted, list indexes as numbers) in a resource's inputs and outputs."""
    r = resource(plan, name)
    keys = path.split(".")
    for props in (r["inputs"], r["outputs"]):
        parent = _walk(props, keys[:-1])
        last: Any = int(keys[-1]) if isinstance(parent, list) else keys[-1]
        if value is DELETE:
            if isinstance(parent, dict):
                parent.pop(last, None)
            else:
                parent.pop(last)
        else:
            parent[last] = copy.deepcopy(value)


def drop(plan: dict[str, Any], name: str) -> None:
    resource(plan, name)  # must exist
    plan["resources"] = [r for r in plan["resources"] if r["name"] != name]


def mutated(plan: dict[str, Any], *mutations: Mutation) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    for m in mutations:
        m(out)
    return out


def sets(name: str, path: str, value: Any) -> Mutation:
    return lambda plan: set_prop(plan, name, path, value)


def drops(name: str) -> Mutation:
    return lambda plan: drop(plan, name)


def prop(plan: dict[str, Any], name: str, path: str) -> Any:
    cur: Any = resource(plan, name)["inputs"]
    for k in path.split("."):
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    return cur


def violations_of(report: PolicyReport, policy: str) -> list[str]:
    return [v.message for v in report.violations if v.policy == policy]
