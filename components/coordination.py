"""The DR coordination table: the writers' lease, the DR command's lock and its run journals.

Why one table: the three belong together (the DR command takes its lock, revokes the lease, journals
each step) and all three must survive the region the failover leaves. Why DynamoDB: conditional
writes give compare-and-swap with no server to run; on demand it costs nothing while idle.

Where it lives (`hastack.coordination.placement`): a global table with multi-Region strong
consistency (MRSC) — home in the DR region, a STRONG replica in the primary region, a witness in a
third region of the MRSC set — when both regions are in one set; otherwise a single-region table in
the DR region (the trade-off is in docs/lease-contract.md and in the `coordination` output). Every
replica keeps point-in-time recovery and deletion protection; the table is encrypted at rest with
DynamoDB's KMS key. Nothing that uses it may rely on transactions or TTL: MRSC has neither.

The program also writes the lease item once — the initial grant to the region that serves when the
stack is first deployed (epoch 1) — and never again (`ignore_changes`): the DR command owns it after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from hastack import coordination

#: DynamoDB table names: 3-255 letters, digits, '_', '-' and '.'.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass
class CoordinationTableArgs:
    """Inputs of `CoordinationTable`."""

    #: Physical table name, e.g. "hastack-prod-dr-coordination" (the DR command reads it from the outputs).
    table_name: str
    #: Where the table and its replicas live (home: the DR region).
    placement: coordination.Placement
    #: The provider of the home region (the DR region).
    provider: aws.Provider
    #: The writers' lease item (`hastack.coordination.lease_key`), granted once to `initial_holder`.
    lease_key: str
    #: The region whose writers hold the lease when the stack is first deployed (the active region).
    initial_holder: str
    lease_seconds: int

    def __post_init__(self) -> None:
        require_valid("CoordinationTableArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if not TABLE_NAME.match(self.table_name):
            yield ArgProblem("table_name", self.table_name,
                             "a DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'")
        if not self.lease_key.startswith("lease#"):
            yield ArgProblem("lease_key", self.lease_key, "the lease item key (hastack.coordination.lease_key)")
        if self.lease_seconds < 3:
            yield ArgProblem("lease_seconds", self.lease_seconds, "at least 3 seconds")
        where = self.placement
        if (where.witness_region is None) != (not where.replica_regions):
            yield ArgProblem("placement", where, "a STRONG replica with a witness, or neither (single-region)")


class CoordinationTable(pulumi.ComponentResource):
    """A pay-per-request DynamoDB table keyed by `pk` (string): MRSC global table or single-region."""

    table: aws.dynamodb.Table

    def __init__(self, name: str, args: CoordinationTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:coordination:CoordinationTable", name, None, opts)
        where = args.placement
        global_table = where.witness_region is not None
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=coordination.KEY_ATTRIBUTE,
            attributes=[aws.dynamodb.TableAttributeArgs(name=coordination.KEY_ATTRIBUTE, type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=True,
            # A global table (version 2019.11.21) replicates through streams.
            stream_enabled=True if global_table else None,
            stream_view_type="NEW_AND_OLD_IMAGES" if global_table else None,
            replicas=[aws.dynamodb.TableReplicaArgs(
                region_name=region, consistency_mode="STRONG", point_in_time_recovery=True,
                deletion_protection_enabled=True, propagate_tags=True) for region in where.replica_regions] or None,
            global_table_witness=aws.dynamodb.TableGlobalTableWitnessArgs(region_name=where.witness_region)
            if global_table else None,
            tags={"Name": args.table_name, "hastack:purpose": "dr-coordination (lease, lock, journals)",
                  "hastack:consistency": where.consistency},
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        # The initial grant: without a lease item no writer may write. Created once and never touched
        # again by the program (ignore_changes): from then on the DR command owns it (epoch +1 per change).
        aws.dynamodb.TableItem(
            f"{name}-lease",
            table_name=self.table.name,
            hash_key=coordination.KEY_ATTRIBUTE,
            item=json.dumps(coordination.initial_lease_item(args.lease_key, args.initial_holder, args.lease_seconds)),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, ignore_changes=["item"]),
        )
        self.outputs = {"tableName": self.table.name, "homeRegion": where.home_region,
                        "replicaRegions": list(where.replica_regions), "witnessRegion": where.witness_region,
                        "consistency": where.consistency}
        self.register_outputs({**self.outputs, "arn": self.table.arn})
