"""The DR coordination table's layout: where its replicas live, and the keys of the items in it.

One DynamoDB table per deployment holds the writers' **lease** (the fence: docs/lease-contract.md),
the DR command's **lock** and its **run journals**. The lease must not make the DR region a
dependency of the primary's writes, so where the two regions belong to one DynamoDB multi-Region
strong consistency (MRSC) region set the table is a global table with MRSC: home in the DR region,
a STRONG replica in the primary region and a witness in a third region of the set. A strongly
consistent read or a conditional write then needs a majority of the three: a writer cut off from
both others loses its lease, and an outage of any one region (the DR region included) stops nobody.
Where the two regions are in no common set, the table is a single-region table in the DR region
(trade-off: a DR-region outage then stops the primary's writers, who cannot renew).

MRSC has no transactions and no TTL: nothing that uses the table may rely on either.

Pure and SDK-free: the config validates `leaseWitnessRegion` with it, the stack component builds the
table from it, the outputs contract checks the exported layout against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The region sets in which DynamoDB offers multi-Region strong consistency (a global table's
#: replicas and witness must all be in one set).
MRSC_REGION_SETS: dict[str, tuple[str, ...]] = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}

#: The table's partition (hash) key attribute, a string; items are told apart by its value.
KEY_ATTRIBUTE = "pk"

Consistency = Literal["STRONG", "single-region"]


def region_set(*regions: str) -> tuple[str, ...] | None:
    """The MRSC region set holding every one of `regions`, or None."""
    return next((members for members in MRSC_REGION_SETS.values() if all(r in members for r in regions)), None)


def witness_problem(primary: str, dr: str, witness: str) -> str | None:
    """Why `witness` cannot be the lease's witness region for this pair of regions (None: it can)."""
    members = region_set(primary, dr)
    if members is None:
        return (f"{primary} and {dr} are in no common DynamoDB MRSC region set, so the lease table is a single-region "
                f"table in {dr} and has no witness: remove the key (MRSC sets: "
                + "; ".join(", ".join(m) for m in MRSC_REGION_SETS.values()) + ")")
    if witness in (primary, dr):
        return f"a third region, not the primary ({primary}) or the DR region ({dr})"
    if witness not in members:
        others = ", ".join(m for m in members if m not in (primary, dr))
        return f"a region of the MRSC set of {primary} and {dr}: one of {others}"
    return None


@dataclass(frozen=True)
class Placement:
    """Where the coordination table lives."""

    #: The region the table is created in (the DR region: the DR command writes there).
    home_region: str
    #: Replicas besides the home region (the primary region, for MRSC; none for a single-region table).
    replica_regions: tuple[str, ...]
    #: The MRSC witness (a third region of the set), or None for a single-region table.
    witness_region: str | None

    @property
    def consistency(self) -> Consistency:
        return "STRONG" if self.witness_region else "single-region"


def placement(primary: str, dr: str, witness: str | None = None) -> Placement:
    """The table's layout for a stack whose regions are `primary` and `dr`.

    `witness` overrides the default witness (the first region of the set that is neither of the
    two); a witness that cannot be one raises ValueError with the reason (the config reports it
    as `hastack:dr.leaseWitnessRegion` before anything is built).
    """
    if witness is not None:
        problem = witness_problem(primary, dr, witness)
        if problem:
            raise ValueError(f"lease witness region {witness!r}: {problem}")
    members = region_set(primary, dr)
    if members is None:
        return Placement(home_region=dr, replica_regions=(), witness_region=None)
    chosen = witness or next(r for r in members if r not in (primary, dr))
    return Placement(home_region=dr, replica_regions=(primary,), witness_region=chosen)


def deployment_id(project: str, stack: str) -> str:
    """`<project>/<stack>`: the deployment's identity in every key and metric dimension."""
    return f"{project}/{stack}"


def lease_key(project: str, stack: str) -> str:
    """The writers' lease item (holder region, epoch, leaseSeconds, changedAt, changedBy, reason)."""
    return f"lease#{deployment_id(project, stack)}"


def lock_key(project: str, stack: str) -> str:
    """The DR command's lock item (one per deployment, whatever `--stack` spelling is used)."""
    return f"dr-lock#{deployment_id(project, stack)}"


def initial_lease_item(lease_key: str, holder: str, lease_seconds: int) -> dict[str, dict[str, str]]:
    """The lease item as the first deployment writes it (DynamoDB JSON): `holder` may write, epoch 1.

    Fields (docs/lease-contract.md): `holder`, `epoch`, `leaseSeconds`, `changedBy`, `reason`;
    `changedAt` (epoch seconds) is written by the DR command with every later change.
    """
    return {KEY_ATTRIBUTE: {"S": lease_key}, "holder": {"S": holder}, "epoch": {"N": "1"},
            "leaseSeconds": {"N": str(lease_seconds)}, "changedBy": {"S": "pulumi up (initial grant)"},
            "reason": {"S": f"the stack was deployed with {holder} serving"}}


def journal_key_prefix(project: str, stack: str) -> str:
    """The prefix of a run's journal item; the run id follows it."""
    return f"journal#{deployment_id(project, stack)}#"
