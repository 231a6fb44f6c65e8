"""The DR coordination table (lease, DR lock, journals): an MRSC global table where the regions allow it.

Prod (us-east-1 / us-west-2) and staging (eu-west-1 / eu-central-1) both sit in an MRSC region set:
home in the DR region, a STRONG replica in the primary region, a witness in a third region. Regions in
no common set fall back to a single-region table in the DR region.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.coordination import CoordinationTableArgs
from hastack import coordination
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import one

TABLE = "aws:dynamodb/table:Table"
ITEM = "aws:dynamodb/tableItem:TableItem"


@pytest.mark.parametrize(("plan_name", "stack", "home", "replica", "witness"), [
    ("prod_plan", "prod", "us-west-2", "us-east-1", "us-east-2"),
    ("staging_plan", "staging", "eu-central-1", "eu-west-1", "eu-west-2"),
])
def test_coordination_table_is_an_mrsc_global_table_homed_in_the_dr_region(
        plan_name: str, stack: str, home: str, replica: str, witness: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(plan_name)
    [table] = plan.of_type(TABLE)
    i = table["inputs"]
    assert table["region"] == home and i["name"] == f"hastack-{stack}-dr-coordination"
    assert i["replicas"] == [{"regionName": replica, "consistencyMode": "STRONG", "pointInTimeRecovery": True,
                              "deletionProtectionEnabled": True, "propagateTags": True}]
    assert i["globalTableWitness"] == {"regionName": witness}
    assert i["streamEnabled"] is True and i["streamViewType"] == "NEW_AND_OLD_IMAGES"
    out = plan.outputs["coordination"]
    assert (out["tableName"], out["homeRegion"], out["replicaRegions"], out["witnessRegion"], out["consistency"]) == (
        i["name"], home, [replica], witness, "STRONG")


def test_coordination_table_is_on_demand_recoverable_protected_and_encrypted(prod_plan: Plan) -> None:
    i = one(prod_plan, TABLE, "coordination-table")["inputs"]
    assert i["billingMode"] == "PAY_PER_REQUEST" and "readCapacity" not in i and "writeCapacity" not in i
    assert i["pointInTimeRecovery"]["enabled"] is True
    assert i["serverSideEncryption"]["enabled"] is True
    assert i["deletionProtectionEnabled"] is True
    assert i["hashKey"] == "pk" == prod_plan.outputs["coordination"]["keyAttribute"] and "rangeKey" not in i
    assert i["attributes"] == [{"name": "pk", "type": "S"}]
    assert "ttl" not in i, "MRSC has no TTL: nothing may rely on it"


def test_coordination_keys_carry_the_deployment(prod_plan: Plan, staging_plan: Plan) -> None:
    for plan, stack in ((prod_plan, "prod"), (staging_plan, "staging")):
        out = plan.outputs["coordination"]
        assert plan.outputs["deployment"] == {"project": "hastack", "stack": stack}
        assert out["leaseKey"] == f"lease#hastack/{stack}"
        assert out["lockKey"] == f"dr-lock#hastack/{stack}"
        assert out["journalKeyPrefix"] == f"journal#hastack/{stack}#"
        assert (out["leaseSeconds"], out["leaseRenewSeconds"]) == (plan.outputs["drTimeouts"]["leaseSeconds"],
                                                                   plan.outputs["drTimeouts"]["leaseRenewSeconds"])


def test_the_first_deployment_grants_the_lease_to_the_serving_region_once(prod_plan: Plan,
                                                                         failed_over_plan: Plan) -> None:
    item = one(prod_plan, ITEM, "coordination-lease")
    assert item["region"] == "us-west-2" and item["ignoreChanges"] == ["item"], "the DR command owns it after"
    assert item["inputs"]["hashKey"] == "pk" and item["inputs"]["tableName"] == "hastack-prod-dr-coordination"
    assert json.loads(item["inputs"]["item"]) == {
        "pk": {"S": "lease#hastack/prod"}, "holder": {"S": "us-east-1"}, "epoch": {"N": "1"},
        "leaseSeconds": {"N": "15"}, "changedBy": {"S": "pulumi up (initial grant)"},
        "reason": {"S": "the stack was deployed with us-east-1 serving"}}
    # A stack first deployed failed over grants it to the DR region; an existing one keeps what it has.
    after = one(failed_over_plan, ITEM, "coordination-lease")
    assert json.loads(after["inputs"]["item"])["holder"] == {"S": "us-west-2"} and after["ignoreChanges"] == ["item"]


def test_failed_over_render_keeps_the_table(prod_plan: Plan, failed_over_plan: Plan) -> None:
    assert one(failed_over_plan, TABLE, "coordination-table")["inputs"] == one(prod_plan, TABLE,
                                                                               "coordination-table")["inputs"]
    assert failed_over_plan.outputs["coordination"] == prod_plan.outputs["coordination"]


PLACEMENTS: list[tuple[str, str, str | None, tuple[str, tuple[str, ...], str | None, str]]] = [
    ("us-east-1", "us-west-2", None, ("us-west-2", ("us-east-1",), "us-east-2", "STRONG")),
    ("us-west-2", "us-east-1", None, ("us-east-1", ("us-west-2",), "us-east-2", "STRONG")),
    ("eu-west-1", "eu-central-1", "eu-west-3", ("eu-central-1", ("eu-west-1",), "eu-west-3", "STRONG")),
    ("ap-northeast-1", "ap-northeast-3", None, ("ap-northeast-3", ("ap-northeast-1",), "ap-northeast-2", "STRONG")),
    # Not in one set: single-region table in the DR region (a DR-region outage stops the primary's writers).
    ("us-east-1", "eu-west-1", None, ("eu-west-1", (), None, "single-region")),
    ("ap-southeast-2", "ap-southeast-1", None, ("ap-southeast-1", (), None, "single-region")),
]


@pytest.mark.parametrize(("primary", "dr", "witness", "expected"), PLACEMENTS)
def test_placement(primary: str, dr: str, witness: str | None, expected: tuple[Any, ...]) -> None:
    p = coordination.placement(primary, dr, witness)
    assert (p.home_region, p.replica_regions, p.witness_region, p.consistency) == expected


@pytest.mark.parametrize(("primary", "dr", "witness", "message"), [
    ("us-east-1", "us-west-2", "us-east-1", "a third region, not the primary (us-east-1) or the DR region"),
    ("us-east-1", "us-west-2", "eu-west-1", "a region of the MRSC set of us-east-1 and us-west-2: one of us-east-2"),
    ("us-east-1", "eu-west-1", "us-east-2", "us-east-1 and eu-west-1 are in no common DynamoDB MRSC region set"),
])
def test_a_witness_that_cannot_be_one_is_refused(primary: str, dr: str, witness: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"lease witness region '{witness}': {message}")):
        coordination.placement(primary, dr, witness)


def test_table_args_refuse_a_name_dynamodb_would_refuse_and_a_half_global_table() -> None:
    CoordinationTableArgs("hastack-prod-dr-coordination", coordination.placement("us-east-1", "us-west-2"),
                          None, "lease#hastack/prod", "us-east-1", 15)  # type: ignore[arg-type]
    half = coordination.Placement(home_region="us-west-2", replica_regions=("us-east-1",), witness_region=None)
    assert invalid_arguments(lambda: CoordinationTableArgs(
        "dr lock", half, None, "hastack/prod", "us-east-1", 1)) == [  # type: ignore[arg-type]
        ("table_name", "'dr lock' is invalid: a DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'"),
        ("lease_key", "'hastack/prod' is invalid: the lease item key (hastack.coordination.lease_key)"),
        ("lease_seconds", "1 is invalid: at least 3 seconds"),
        ("placement", f"{half!r} is invalid: a STRONG replica with a witness, or neither (single-region)")]
