"""DR lock: the DynamoDB table `hastack dr` takes its lock in, so two operators never fail over at once.

Why in the DR region: the lock is needed exactly when the primary region is down, so it must not
live there. Why DynamoDB: conditional writes give a compare-and-swap lock with no server to run,
on-demand billing costs nothing while idle, and point-in-time recovery keeps the lock's history
(who held it, when) restorable after an incident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid

HASH_KEY = "lockId"
#: DynamoDB table names: 3-255 letters, digits, '_', '-' and '.'.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass
class DrLockArgs:
    """Inputs of `DrLock`."""

    #: Physical table name, e.g. "hastack-prod-dr-lock" (the DR command reads it from the outputs).
    table_name: str
    #: The DR region (where the table lives) and its provider.
    region: str
    provider: aws.Provider

    def __post_init__(self) -> None:
        require_valid("DrLockArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if not TABLE_NAME.match(self.table_name):
            yield ArgProblem("table_name", self.table_name,
                             "a DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'")


class DrLock(pulumi.ComponentResource):
    """A pay-per-request DynamoDB table with PITR and encryption, keyed by `lockId` (string)."""

    table: aws.dynamodb.Table

    def __init__(self, name: str, args: DrLockArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:dr_lock:DrLock", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=HASH_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=HASH_KEY, type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=True,
            tags={"Name": args.table_name, "hastack:purpose": "dr-command-lock"},
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.outputs = {"name": self.table.name, "region": args.region}
        self.register_outputs({**self.outputs, "arn": self.table.arn})
