"""Small queries over a rendered plan shared by the component tests (ancestry, lookups by id)."""

from __future__ import annotations

from typing import Any

from hastack.plan.render import Plan


def region_component(plan: Plan, role: str) -> dict[str, Any]:
    """The `hastack:region:Region` component named `role` ("primary" or "dr")."""
    [region] = [r for r in plan.of_type("hastack:region:Region") if r["name"] == role]
    return region


def descendants(plan: Plan, ancestor_urn: str) -> list[dict[str, Any]]:
    """Every resource whose parent chain reaches `ancestor_urn`."""
    by_urn = plan.by_urn()

    def under(r: dict[str, Any]) -> bool:
        parent = r["parent"]
        while parent:
            if parent == ancestor_urn:
                return True
            parent = by_urn[parent]["parent"] if parent in by_urn else None
        return False

    return [r for r in plan.resources if under(r)]


def in_role(plan: Plan, role: str, typ: str) -> list[dict[str, Any]]:
    """Resources of type `typ` built by the primary or the DR `Region`."""
    urn = region_component(plan, role)["urn"]
    return [r for r in descendants(plan, urn) if r["type"] == typ]


def by_id(plan: Plan, typ: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in plan.of_type(typ)}


def by_arn(plan: Plan, typ: str) -> dict[str, dict[str, Any]]:
    return {r["outputs"]["arn"]: r for r in plan.of_type(typ)}


def subnet_az(plan: Plan) -> dict[str, str]:
    """subnet id -> AZ, for every subnet in the plan."""
    return {r["id"]: r["inputs"]["availabilityZone"] for r in plan.of_type("aws:ec2/subnet:Subnet")}


def is_private_subnet(subnet: dict[str, Any]) -> bool:
    return subnet["inputs"].get("tags", {}).get("kubernetes.io/role/internal-elb") == "1"
