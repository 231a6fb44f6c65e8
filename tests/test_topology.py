"""The topology: roles stay put, the active region moves with a failover; every derived fact from one value."""

from __future__ import annotations

import pytest

from hastack.topology import Topology

EAST, WEST = "us-east-1", "us-west-2"


def test_before_a_failover_the_primary_serves_and_the_dr_region_stands_by() -> None:
    t = Topology(EAST, WEST, EAST)
    assert not t.failed_over
    assert (t.active_role, t.standby_role, t.standby_region) == ("primary", "dr", WEST)
    assert t.serves("primary") and not t.serves("dr")


def test_after_a_failover_roles_keep_their_regions_and_the_dr_region_serves() -> None:
    t = Topology(EAST, WEST, WEST)
    assert t.failed_over
    assert (t.active_role, t.standby_role, t.standby_region) == ("dr", "primary", EAST)
    assert t.serves("dr") and not t.serves("primary")
    assert (t.region_of("primary"), t.region_of("dr")) == (EAST, WEST) == t.regions
    assert (t.role_of(EAST), t.role_of(WEST)) == ("primary", "dr")


@pytest.mark.parametrize(("primary", "dr", "active", "message"), [
    (EAST, EAST, EAST, "must differ from the primary region"),
    (EAST, WEST, "eu-west-1", "active region 'eu-west-1' is neither us-east-1 nor us-west-2"),
])
def test_inconsistent_topologies_are_refused(primary: str, dr: str, active: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Topology(primary, dr, active)


def test_a_region_outside_the_topology_has_no_role() -> None:
    with pytest.raises(ValueError, match="'eu-west-1' is neither"):
        Topology(EAST, WEST, EAST).role_of("eu-west-1")
