"""The DR tests' world: the local world (`hastack.local.world`) seeded from the real offline plan.

Test infrastructure, reusable by anyone driving the DR command against the local world:

* `make_world(plan_outputs)` — in-process (`mock_aws`) with the world installed (what moto lacks:
  Global Datastore, node groups whose Auto Scaling groups launch capacity into the target groups,
  promotion, outages), seeded by `hastack.local.world.seed.seed_world`; yields a `World` with the
  raw and typed outputs, a client maker and what the tests assert about AWS.
* Run as a script it serves the same world on 127.0.0.1 (`hastack.local.server.InProcessServer`:
  moto plus the world's control endpoint), seeds it from an outputs file and writes the seeded
  outputs (see docs/dr.md).
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hastack.local.world.seed import put_replica_lag, seed_world

Client = Callable[[str, str], Any]

__all__ = ["World", "make_world", "put_replica_lag", "seed_world"]


# --- script: a seeded local world on 127.0.0.1 --------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the local world on 127.0.0.1, seeded with a pilot-light world")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--plan-outputs", type=Path, default=Path("build/outputs-prod.json"))
    parser.add_argument("--write-outputs", type=Path, default=Path("build/dr-world-outputs-prod.json"))
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop by itself after this many seconds")
    args = parser.parse_args(argv)

    import boto3

    from hastack.local.server import InProcessServer

    with InProcessServer(args.port) as server:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

        def client(service: str, region: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=server.endpoint)

        seeded = seed_world(json.loads(args.plan_outputs.read_text()), client)
        args.write_outputs.parent.mkdir(parents=True, exist_ok=True)
        args.write_outputs.write_text(json.dumps(seeded, indent=2, sort_keys=True))
        print(f"local world {server.endpoint} seeded; outputs: {args.write_outputs}", flush=True)
        stop = threading.Event()
        try:
            stop.wait(args.lifetime)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()


# --- pytest fixture ---------------------------------------------------------------------------


class World:
    """A seeded in-process world: raw + typed outputs, a client maker, what the tests assert."""

    def __init__(self, raw: dict[str, Any], client: Client, session: Any = None) -> None:
        from hastack.dr.outputs import parse_outputs
        self.raw, self.client = raw, client
        self.outputs = parse_outputs(raw, "prod")
        self.session = session
        self._resolver: Any = None

    # The world itself (one per process): its outages, call log and DNS resolver.
    @property
    def state(self) -> Any:
        """The process's world (`hastack.local.world.state.WORLD`): `update({...})`, `calls`, `heal()`."""
        from hastack.local.world.state import WORLD
        return WORLD

    def resolver(self) -> tuple[str, int]:
        """(host, port) of the world's DNS resolver on 127.0.0.1 (started on first use, stopped with the world)."""
        from hastack.local.world.resolver import DnsResolver
        if self._resolver is None:
            self._resolver = DnsResolver(self.state).start()
        return self._resolver.address

    def close(self) -> None:
        if self._resolver is not None:
            self._resolver.stop()
            self._resolver = None

    def factory(self, **kwargs: Any) -> Any:
        """The DR command's ClientFactory on the world's shared session."""
        from hastack.dr.aws import ClientFactory

        kwargs.setdefault("session", self.session)  # one session: service models are loaded once
        return ClientFactory(**kwargs)

    # What the tests assert the world looks like.
    def dr_db(self) -> dict[str, Any]:
        o = self.outputs
        return self.client("rds", o.dr_region).describe_db_instances(
            DBInstanceIdentifier=o.database.replica.identifier)["DBInstances"][0]

    def dr_sizes(self) -> list[tuple[int, int, int]]:
        eks = self.client("eks", self.outputs.dr_region)
        out = []
        for g in self.outputs.dr_node_groups:
            s = eks.describe_nodegroup(clusterName=g.cluster_name, nodegroupName=g.name)["nodegroup"]["scalingConfig"]
            out.append((s["minSize"], s["desiredSize"], s["maxSize"]))
        return out

    def cache_primary(self) -> str:
        g = self.client("elasticache", self.outputs.dr_region).describe_global_replication_groups(
            GlobalReplicationGroupId=self.outputs.cache.global_datastore_id, ShowMemberInfo=True)
        return next(m["ReplicationGroupRegion"] for m in g["GlobalReplicationGroups"][0]["Members"]
                    if m["Role"] == "PRIMARY")

    def coordination_item(self, key: str) -> dict[str, Any] | None:
        c = self.outputs.coordination
        return self.client("dynamodb", c.home_region).get_item(
            TableName=c.table_name, Key={c.key_attribute: {"S": key}}, ConsistentRead=True).get("Item")

    def lock_item(self) -> dict[str, Any] | None:
        return self.coordination_item(self.outputs.coordination.lock_key)

    def lease(self) -> dict[str, Any] | None:
        """The writers' lease as the coordination table holds it: {holder, epoch}."""
        item = self.coordination_item(self.outputs.coordination.lease_key)
        return None if item is None else {"holder": item["holder"]["S"], "epoch": int(item["epoch"]["N"])}

    def alarm_states(self) -> dict[str, str]:
        """The traffic switches' alarms (and any other alarm of the DR region) by name."""
        t = self.outputs.traffic_control
        return {a["AlarmName"]: a["StateValue"]
                for a in self.client("cloudwatch", t.region).describe_alarms()["MetricAlarms"]}

    def snapshot(self) -> dict[str, Any]:
        db = self.dr_db()
        return {"replicaOf": db.get("ReadReplicaSourceDBInstanceIdentifier"), "multiAz": db["MultiAZ"],
                "sizes": self.dr_sizes(), "cache": self.cache_primary(), "lock": self.lock_item(),
                "lease": self.lease(), "alarms": self.alarm_states()}


_SESSION: list[Any] = []


def _shared_session() -> Any:
    """One boto3 session per test process: a new session re-reads every service model from disk."""
    import boto3
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def make_world(plan_outputs: dict[str, Any]) -> Any:
    """Context manager: mock_aws active, the local world installed and healed, seeded (yields a World)."""
    import contextlib
    import os

    from moto import mock_aws

    from hastack.local.world import install
    from hastack.local.world.state import WORLD

    @contextlib.contextmanager
    def _world() -> Any:
        saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                "MOTO_EC2_LOAD_DEFAULT_AMIS")}
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # speed: 5000 AMIs per region otherwise
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
        install()
        try:
            with mock_aws():
                WORLD.heal()
                session = _shared_session()
                lock = threading.Lock()
                clients: dict[tuple[str, str], Any] = {}

                def client(service: str, region: str) -> Any:
                    with lock:
                        if (service, region) not in clients:
                            clients[(service, region)] = session.client(service, region_name=region)
                        return clients[(service, region)]

                world = World(seed_world(plan_outputs, client), client, session)
                try:
                    yield world
                finally:
                    world.close()
        finally:
            WORLD.heal()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return _world()
