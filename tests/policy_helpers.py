"""Helpers for the policy tests: one pack process per test module, plan mutations, single-rule configs.

Why single-rule configs: the pack is configured the way the engine configures it, so a scenario
that tests one rule disables every other one (`"all": "disabled"`, then the rule at its own level).
The SDK then skips the others entirely, which keeps a scenario to a fraction of a full check while
still going through Handshake/Configure/Analyze/AnalyzeStack on the real process.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hastack.policy.config import derive_policy_config, facts_for_stack
from hastack.policy.runner import PolicyInfo, PolicyPackProcess, PolicyReport

DELETE = object()
Mutation = Callable[[dict[str, Any]], None]


def start_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess() as pack:
        yield pack


@functools.cache
def _policies() -> tuple[PolicyInfo, ...]:
    with PolicyPackProcess() as pack:
        return tuple(pack.policies())


def stack_config(stack: str) -> dict[str, Any]:
    """The policy config `hastack policy check` derives from `Pulumi.<stack>.yaml`."""
    return derive_policy_config(facts_for_stack(stack), _policies())


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


@dataclass(frozen=True)
class Set:
    """Set `path` of resource `name` in its inputs and outputs together (as a preview shows a change)."""

    name: str
    path: str
    value: Any

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.name})

    def __call__(self, plan: dict[str, Any]) -> None:
        set_prop(plan, self.name, self.path, self.value)


@dataclass(frozen=True)
class Drop:
    name: str

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.name})

    def __call__(self, plan: dict[str, Any]) -> None:
        drop(plan, self.name)


@dataclass(frozen=True)
class Add:
    """Add a resource of `type` named `name` next to resource `like` (same parent and provider)."""

    like: str
    type: str
    name: str
    inputs: dict[str, Any]
    id: str | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.name})

    def __call__(self, plan: dict[str, Any]) -> None:
        model = resource(plan, self.like)
        parent_type = model["urn"].split("::")[-2].rsplit("$", 1)[0]
        urns = {r["name"]: r["urn"] for r in plan["resources"]}
        plan["resources"].append({
            **copy.deepcopy(model), "urn": f"urn:pulumi:{plan['stack']}::{plan['project']}::{parent_type}${self.type}"
                                           f"::{self.name}",
            "type": self.type, "name": self.name, "id": self.id or f"{self.name}-id",
            "dependencies": [urns[d] for d in self.depends_on], "propertyDependencies": {},
            "inputs": copy.deepcopy(self.inputs), "outputs": copy.deepcopy(self.inputs)})


def adds(like: str, type: str, name: str, inputs: dict[str, Any], **kw: Any) -> Mutation:  # noqa: A002
    return Add(like, type, name, inputs, **kw)


def sets(name: str, path: str, value: Any) -> Mutation:
    return Set(name, path, value)


def drops(name: str) -> Mutation:
    return Drop(name)


def touching(*names: str) -> Callable[[Mutation], Mutation]:
    """Declare which resources a hand-written mutation changes (so it can share a batch)."""

    def mark(fn: Mutation) -> Mutation:
        fn.touches = frozenset(names)  # type: ignore[attr-defined]
        return fn

    return mark


def touched(mutations: Sequence[Mutation]) -> frozenset[str] | None:
    """Resource names the mutations change; None when one of them doesn't say."""
    names: set[str] = set()
    for m in mutations:
        t = getattr(m, "touches", None)
        if t is None:
            return None
        names |= t
    return frozenset(names)


def prop(plan: dict[str, Any], name: str, path: str) -> Any:
    cur: Any = resource(plan, name)["inputs"]
    for k in path.split("."):
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    return cur


def violations_of(report: PolicyReport, policy: str) -> list[str]:
    return [v.message for v in report.violations if v.policy == policy]


# ---------------------------------------------------------------------------------------------
# Scenario tables, run in batches
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One row of a rule's table: a change of the prod plan and the exact messages the rule must report.

    `on` names the resource whose URN the messages are reported on (None: wherever the rule reports,
    e.g. the stack). `expected` empty means the variant must pass.
    """

    id: str
    policy: str
    mutations: tuple[Mutation, ...]
    expected: tuple[str, ...] = ()
    on: str | None = None
    config: dict[str, Any] | None = None
    #: What ConfigureStack carries: the stack config (decrypted) and the keys declared secret.
    stack_config: dict[str, str] | None = None
    secret_keys: tuple[str, ...] = ()

    @property
    def touches(self) -> frozenset[str] | None:
        return touched(self.mutations)


def scenario(id: str, policy: str, *mutations: Mutation, on: str | None = None,  # noqa: A002
             expect: Sequence[str] = (), config: dict[str, Any] | None = None,
             stack_config: dict[str, str] | None = None, secret_keys: Sequence[str] = ()) -> Scenario:
    return Scenario(id, policy, tuple(mutations), tuple(expect), on, config, stack_config, tuple(secret_keys))


def merged_config(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    if not extra:
        return base
    return {k: {**base.get(k, {}), **extra.get(k, {})} for k in {*base, *extra}}


@dataclass
class ScenarioRunner:
    """Runs scenario tables through the real pack, several scenarios per check where that is safe.

    Scenarios of *resource* rules whose changes touch disjoint resources (and that report on a
    resource they touch) share one plan and one check: a resource rule only sees its own resource,
    so their verdicts cannot mix. Everything else (stack rules, config overrides, hand-written
    mutations that don't say what they touch) runs alone. Batches are computed lazily and cached, so
    each parametrized test triggers at most one check.
    """

    pack: PolicyPackProcess
    plan: dict[str, Any]
    scenarios: Sequence[Scenario]
    base_config: dict[str, Any]
    _batches: list[list[Scenario]] = field(default_factory=list)
    _results: dict[int, tuple[PolicyReport, dict[str, Any]]] = field(default_factory=dict)
    _baseline: set[tuple[str, str, str]] | None = None

    def __post_init__(self) -> None:
        kinds = {p.name: p.kind for p in self.pack.policies()}
        unknown = sorted({s.policy for s in self.scenarios} - set(kinds))
        assert not unknown, f"scenarios name policies the pack doesn't have: {unknown}"
        ids = [s.id for s in self.scenarios]
        assert len(ids) == len(set(ids)), "scenario ids must be unique"
        used: list[set[str]] = []
        for s in self.scenarios:
            names = s.touches
            alone = (kinds[s.policy] != "resource" or s.config or s.stack_config or names is None or s.on is None
                     or s.on not in names)
            if not alone:
                assert names is not None
                for batch, taken in zip(self._batches, used, strict=True):
                    if taken is not None and not (taken & names):
                        batch.append(s)
                        taken |= names
                        break
                else:
                    self._batches.append([s])
                    used.append(set(names))
                continue
            self._batches.append([s])
            used.append(None)  # type: ignore[arg-type]

    def batch_of(self, scenario_id: str) -> int:
        return next(i for i, b in enumerate(self._batches) if any(s.id == scenario_id for s in b))

    def report(self, scenario_id: str) -> tuple[PolicyReport, dict[str, Any]]:
        """The check of the scenario's batch (run on first use) and the plan it checked."""
        index = self.batch_of(scenario_id)
        if index not in self._results:
            batch = self._batches[index]
            plan = mutated(self.plan, *(m for s in batch for m in s.mutations))
            config = merged_config(self.base_config, batch[0].config if len(batch) == 1 else None)
            solo = batch[0] if len(batch) == 1 else None
            report = self.pack.check(plan, self._policy_config(batch, config),
                                     stack_config=solo.stack_config if solo else None,
                                     secret_keys=solo.secret_keys if solo else ())
            self._results[index] = (report, plan)
        return self._results[index]

    def _policy_config(self, batch: Sequence[Scenario], config: dict[str, Any]) -> dict[str, Any]:
        """Only the batch's rules, each at its default level with the stack's settings."""
        levels = {p.name: p.enforcement_level for p in self.pack.policies()}
        policy_config: dict[str, Any] = {"all": "disabled"}
        for s in batch:
            policy_config[s.policy] = {**config.get(s.policy, {}), "enforcementLevel": levels[s.policy]}
        return policy_config

    def baseline(self) -> set[tuple[str, str, str]]:
        """(policy, urn, message) the unchanged plan already reports for the table's rules (advisories)."""
        if self._baseline is None:
            report = self.pack.check(self.plan, self._policy_config(self.scenarios, self.base_config))
            self._baseline = {(v.policy, v.urn, v.message) for v in report.violations}
        return self._baseline

    def messages(self, scenario_id: str) -> list[str]:
        s = next(s for s in self.scenarios if s.id == scenario_id)
        report, plan = self.report(scenario_id)
        urn = resource(plan, s.on)["urn"] if s.on is not None else None
        return [v.message for v in report.violations if v.policy == s.policy and (urn is None or v.urn == urn)]

    def collateral(self, scenario_id: str) -> list[str]:
        """Violations of the batch's policies on resources no scenario of the batch touched."""
        batch = self._batches[self.batch_of(scenario_id)]
        if len(batch) == 1:
            return []
        report, plan = self.report(scenario_id)
        urns = {r["name"]: r["urn"] for r in plan["resources"]}
        allowed = {urns[n] for s in batch for n in (s.touches or ()) if n in urns}
        baseline = self.baseline()
        return [f"{v.policy} on {v.urn}: {v.message}" for v in report.violations
                if v.urn not in allowed and (v.policy, v.urn, v.message) not in baseline]


def assert_scenario(runner: ScenarioRunner, case: Scenario) -> None:
    """The rule reports exactly the row's messages on its resource, and nothing new anywhere else."""
    assert runner.messages(case.id) == list(case.expected)
    assert runner.collateral(case.id) == []
