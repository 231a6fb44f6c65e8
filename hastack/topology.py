"""Topology: which region plays which part, computed once from the config and handed to the components.

Two facts are easy to mix up, so they have different names:

* a region's **role** is what it was *built* as — `primary` (primaryRegion) or `dr` (drRegion). It
  never changes: logical resource names and stack outputs are keyed by it, so a failover is an
  update, never a replacement.
* the **active** region is the one that serves traffic and takes writes now (`activeRegion`): the
  primary until `hastack dr scale-up` and the operator's `activeRegion: <drRegion>`, the DR region
  after that (the stack has *failed over*). The other one is the **standby**.

Every "who writes where" decision of the program (the database writer, the Global Datastore's
primary, which alarms page) reads this one value instead of deriving it again.
Pure data: importable without the Pulumi SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["primary", "dr"]
ROLES: tuple[Role, Role] = ("primary", "dr")


@dataclass(frozen=True)
class Topology:
    """The two regions by role, and which one is active."""

    primary_region: str
    dr_region: str
    active_region: str

    def __post_init__(self) -> None:
        if self.primary_region == self.dr_region:
            raise ValueError(f"Topology: the DR region must differ from the primary region ({self.primary_region})")
        if self.active_region not in self.regions:
            raise ValueError(f"Topology: active region {self.active_region!r} is neither {self.primary_region} "
                             f"nor {self.dr_region}")

    @property
    def regions(self) -> tuple[str, str]:
        """(primary region, DR region): by role, whatever is active."""
        return (self.primary_region, self.dr_region)

    @property
    def failed_over(self) -> bool:
        """True once the DR region serves (activeRegion == drRegion)."""
        return self.active_region == self.dr_region

    @property
    def active_role(self) -> Role:
        """The role of the region that serves traffic and takes writes now."""
        return "dr" if self.failed_over else "primary"

    @property
    def standby_role(self) -> Role:
        return "primary" if self.failed_over else "dr"

    @property
    def standby_region(self) -> str:
        return self.region_of(self.standby_role)

    def region_of(self, role: Role) -> str:
        """The region built as `role`."""
        return {"primary": self.primary_region, "dr": self.dr_region}[role]

    def role_of(self, region: str) -> Role:
        """The role `region` was built as."""
        if region not in self.regions:
            raise ValueError(f"Topology: {region!r} is neither {self.primary_region} nor {self.dr_region}")
        return "primary" if region == self.primary_region else "dr"

    def serves(self, role: Role) -> bool:
        """True for the role of the active region."""
        return role == self.active_role
