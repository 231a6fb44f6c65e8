"""The local world: one fake AWS (moto plus what moto lacks) for `local up`, drills and the DR tests.

Owns: the world's state (`state.WORLD`: outages and their modes, Route 53's API, throttles, red
health checks, held connections, partitions, Global Datastores, DynamoDB global tables, the call
log `calls`), moto's missing behaviour patched into moto itself (`extensions`: Global Datastore,
node groups, RDS replicas, managed policies, alarm health checks, alarms evaluated from data by
`alarms`, DynamoDB global tables with multi-Region strong consistency and their quorum by
`global_tables`), Route 53's data
plane (`route53`: check health and DNS answers; `resolver`: the loopback UDP name server), the
verdict on each request in-process (`inprocess`, for `mock_aws`) and in a server (`wsgi`, the layer
in front of moto's WSGI app with the control endpoint `/_hastack/world`), AWS error answers the
world gives (`errors`), what an account holds before the stack (`preexisting`), a pilot-light
world seeded from stack outputs (`seed`), and the world's side of a real data plane (`data_plane`:
RDS instances and cache groups bound to real PostgreSQL/Valkey servers, promoted by the emulated
APIs, ReplicaLag published from the real replica, the heartbeat, outages reaching the links).

May import: moto, boto3/botocore, the standard library, `hastack.local.dataplane` (the servers it
drives). The world is what the DR command, the plan and the CLI are tested against, so it never
depends on them.
Never imports: hastack.dr, hastack.plan, hastack.policy, hastack.cli.

`install()` makes one process's moto the local world, for both paths.
"""

from __future__ import annotations


def install() -> None:
    """Patch moto with the world's extensions and wrap its in-process stubber (idempotent)."""
    from hastack.local.world import extensions, inprocess

    extensions.install()
    inprocess.install()
