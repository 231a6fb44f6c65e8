"""What is broken in the local world right now, and the verdict on each AWS request.

One `World` per process (`WORLD`), as moto's backends are one per process: the in-process path
(`mock_aws`, through `hastack.local.world.inprocess`) and the server path (the WSGI layer of
`hastack.local.world.wsgi`) ask the same object whether a request is answered.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from hastack.local.world.global_datastore import GlobalDatastores

#: Services AWS runs from one global endpoint: a regional outage does not take them away.
GLOBAL_SERVICES = frozenset({"route53", "iam", "sts", "cloudfront", "organizations"})

ANSWER = "answered"
REFUSE = "refused"

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


def signing_scope(authorization: str) -> tuple[str, str] | None:
    """(region, service) of a SigV4-signed request, from its Authorization header."""
    match = _SCOPE_RE.search(authorization or "")
    return (match.group(1), match.group(2)) if match else None


@dataclass
class Verdict:
    """What the world does with one request: answer it, or not (and how)."""

    outcome: str


class World:
    """Outages, red health checks and the Global Datastores of the local world (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.down_regions: set[str] = set()
        self.red_health_checks: set[str] = set()
        self.datastores = GlobalDatastores()

    # --- reading ------------------------------------------------------------------------------

    def region_is_dark(self, region: str) -> bool:
        with self.lock:
            return region in self.down_regions

    def is_red(self, health_check_id: str) -> bool:
        with self.lock:
            return health_check_id in self.red_health_checks

    def verdict(self, service: str, region: str) -> Verdict:
        """Answer, or refuse: requests signed for a dark region, except global services'."""
        with self.lock:
            if service not in GLOBAL_SERVICES and region in self.down_regions:
                return Verdict(REFUSE)
            return Verdict(ANSWER)

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"downRegions": sorted(self.down_regions), "redHealthChecks": sorted(self.red_health_checks)}

    # --- changing -----------------------------------------------------------------------------

    def update(self, change: dict[str, Any]) -> None:
        with self.lock:
            if "downRegions" in change:
                self.down_regions = set(change["downRegions"])
            if "redHealthChecks" in change:
                self.red_health_checks = set(change["redHealthChecks"])
            if change.get("resetEmulation"):
                self.datastores.reset()

    def heal(self) -> None:
        """No outage, no red check, no emulated state (moto's own reset is separate)."""
        self.update({"downRegions": [], "redHealthChecks": [], "resetEmulation": True})


#: The world of this process.
WORLD = World()
