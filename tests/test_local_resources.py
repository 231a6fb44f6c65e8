"""The local AWS creates exactly what the program declares: no handler for a type it never declares,
no declared AWS type without a handler or a stated reason (`hastack/local/aws_resources.py`,
`hastack/local/moto_mocks.UNMODELLED`).

Checked against the rendered prod, staging, failed-over and ARC plans (the program's every shape here).
"""

from __future__ import annotations

import pytest

from hastack.local.aws_resources import HANDLERS
from hastack.local.moto_mocks import UNMODELLED
from hastack.plan.render import Plan


@pytest.fixture(scope="module")
def declared(prod_plan: Plan, staging_plan: Plan, failed_over_plan: Plan, arc_plan: Plan) -> set[str]:
    return {r["type"] for plan in (prod_plan, staging_plan, failed_over_plan, arc_plan) for r in plan.resources
            if r["custom"] and not r["type"].startswith("pulumi:providers:")}


def test_every_handler_is_for_a_declared_type(declared: set[str]) -> None:
    assert sorted(set(HANDLERS) - declared) == []


def test_every_declared_aws_type_is_created_or_has_a_reason(declared: set[str]) -> None:
    unhandled = {t for t in declared if t not in HANDLERS}
    assert sorted(t for t in unhandled if not any(t.startswith(prefix) for prefix in UNMODELLED)) == []
    assert sorted(p for p in UNMODELLED if not any(t.startswith(p) for t in unhandled)) == []
