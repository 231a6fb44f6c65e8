"""DR lock table: DynamoDB in the DR region, on-demand, PITR, encrypted, keyed by `lockId` (S)."""

from __future__ import annotations

from typing import Any

from components.dr_lock import DrLockArgs
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import one

TABLE = "aws:dynamodb/table:Table"


def test_lock_table_lives_in_the_dr_region(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    [table] = prod_plan.of_type(TABLE)
    assert table["region"] == prod_config["hastack:drRegion"] != prod_config["hastack:primaryRegion"]


def test_lock_table_is_on_demand_recoverable_and_encrypted(prod_plan: Plan) -> None:
    i = one(prod_plan, TABLE, "dr-lock-table")["inputs"]
    assert i["billingMode"] == "PAY_PER_REQUEST"
    assert "readCapacity" not in i and "writeCapacity" not in i
    assert i["pointInTimeRecovery"]["enabled"] is True
    assert i["serverSideEncryption"]["enabled"] is True
    assert i["hashKey"] == "lockId" and "rangeKey" not in i
    assert i["attributes"] == [{"name": "lockId", "type": "S"}]
    assert i["deletionProtectionEnabled"] is True


def test_lock_table_output(prod_plan: Plan, staging_plan: Plan) -> None:
    for plan, stack in ((prod_plan, "prod"), (staging_plan, "staging")):
        [table] = plan.of_type(TABLE)
        assert plan.outputs["lockTable"] == {"name": table["outputs"]["name"], "region": table["region"]}
        assert plan.outputs["lockTable"]["name"] == f"hastack-{stack}-dr-lock"
        assert table["outputs"]["arn"] == (f"arn:aws:dynamodb:{table['region']}:123456789012:table/"
                                           f"hastack-{stack}-dr-lock")


def test_lock_args_refuse_a_table_name_dynamodb_would_refuse() -> None:
    DrLockArgs(table_name="hastack-prod-dr-lock", region="us-west-2", provider=None)  # type: ignore[arg-type]
    assert invalid_arguments(lambda: DrLockArgs(table_name="dr lock", region="us-west-2",
                                                provider=None)) == [  # type: ignore[arg-type]
        ("table_name", "'dr lock' is invalid: a DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'")]
