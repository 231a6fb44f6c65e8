"""Shared fixtures: the real program rendered offline once per test session (per xdist worker), and
a served local world per test module."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hastack.plan.render import Plan, read_stack_config, render
from hastack.policy.runner import PolicyPackProcess


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return render("prod")


@pytest.fixture(scope="session")
def staging_plan() -> Plan:
    return render("staging")


@pytest.fixture()
def prod_config() -> dict[str, Any]:
    """A fresh, mutable copy of Pulumi.prod.yaml's config map (keys with namespace)."""
    return copy.deepcopy(read_stack_config("prod"))


@pytest.fixture(scope="session")
def render_config() -> Callable[[dict[str, Any]], Plan]:
    """Render the program with a modified config map (e.g. activeRegion flipped)."""

    def _render(config: dict[str, Any], stack: str = "prod") -> Plan:
        return render(stack, config=config)

    return _render


@pytest.fixture(scope="session")
def failed_over_plan() -> Plan:
    """prod after `hastack dr` and the operator's `activeRegion: <drRegion>` (the reconciling render)."""
    config = copy.deepcopy(read_stack_config("prod"))
    config["hastack:activeRegion"] = config["hastack:drRegion"]
    return render("prod", config=config)


@pytest.fixture(scope="session")
def arc_plan() -> Plan:
    """prod with `hastack:dr.trafficControl: arc` (Route 53 ARC routing controls instead of alarms)."""
    config = copy.deepcopy(read_stack_config("prod"))
    config["hastack:dr"] = {**config.get("hastack:dr", {}), "trafficControl": "arc"}
    return render("prod", config=config)


@pytest.fixture(scope="session")
def policy_pack() -> Iterator[PolicyPackProcess]:
    """One running policy pack per test session (per xdist worker), shared by the policy test modules."""
    with PolicyPackProcess() as pack:
        yield pack


@pytest.fixture(scope="session")
def prod_plan_json(prod_plan: Plan) -> dict[str, Any]:
    """The prod plan as the runner reads it (do not mutate: scenario helpers copy it)."""
    return prod_plan.to_json()


@pytest.fixture(scope="module")
def scenario_runner(request: pytest.FixtureRequest, policy_pack: PolicyPackProcess,
                    prod_plan_json: dict[str, Any]) -> Any:
    """The `ScenarioRunner` of the requesting test module's `SCENARIOS` table, on the prod plan."""
    from tests.policy_helpers import ScenarioRunner, stack_config

    return ScenarioRunner(policy_pack, prod_plan_json, request.module.SCENARIOS, stack_config("prod"))


@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    """The local world served on 127.0.0.1, once per test module (`InProcessServer`)."""
    from hastack.local.server import InProcessServer

    with InProcessServer() as server:
        yield server


@pytest.fixture()
def server(served: Any) -> Any:
    """The module's served world, reset: no resource, no outage, an empty call log."""
    from hastack.local.server import WorldClient

    WorldClient(served.endpoint).reset()
    return served
