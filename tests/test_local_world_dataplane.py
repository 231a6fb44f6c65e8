"""The local world owns a real data plane: what the emulated AWS does reaches real PostgreSQL and Valkey.

Each test asserts what the world shows: rows and keys read through the endpoints that boto3's
describes answer, CloudWatch datapoints, link behaviour seen by a bounded client, processes and
ports. One served world with its data plane is shared by the module (per test worker); each test
deploys its own instances into it after a reset (a server a previous test promoted is rebuilt as a
replica by the world itself, as failback's re-protect does).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import valkey
from botocore.config import Config
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from hastack.cli import app
from hastack.local.dataplane.plane import read_record, record_path
from hastack.local.dataplane.postgres_sql import conninfo
from hastack.local.dataplane.processes import Endpoint, alive, port_is_bound
from hastack.local.deploy import deploy
from hastack.local.server import InProcessServer, LocalAwsError, WorldClient, pid_file, start_detached
from tests.dataplane_helpers import eventually, plane_config

PRIMARY, DR = "us-east-1", "us-west-2"
DB_ID, GROUP_ID = "hastack-t-db", "hastack-t-cache"


@pytest.fixture(scope="module")
def served() -> Iterator[InProcessServer]:
    with InProcessServer(dataplane=plane_config("world", one_way_delay_ms=20)) as server:
        yield server


@pytest.fixture()
def world(served: InProcessServer) -> Iterator[InProcessServer]:
    """The shared world, reset: no resources, healed, lag published often, heartbeat on."""
    client = WorldClient(served.endpoint)
    client.reset()
    client.set_world(replicaLagPublishSeconds=0.1, heartbeatSeconds=0.2)
    yield served
    client.heal()


def aws(server: InProcessServer, service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=server.endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5,
                                      read_timeout=60))


def deploy_database(server: InProcessServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stack's database as the program creates it: a primary, and a cross-region read replica of it,
    each with its region's own parameter group."""
    for region in (PRIMARY, DR):
        aws(server, "rds", region).create_db_parameter_group(
            DBParameterGroupName=f"params-{region}", DBParameterGroupFamily="postgres16", Description="t")
    primary = aws(server, "rds", PRIMARY).create_db_instance(
        DBInstanceIdentifier=DB_ID, Engine="postgres", DBInstanceClass="db.r6g.large", AllocatedStorage=20,
        MasterUsername="hastack", ManageMasterUserPassword=True, MultiAZ=True,
        DBParameterGroupName=f"params-{PRIMARY}")["DBInstance"]
    replica = aws(server, "rds", DR).create_db_instance_read_replica(
        DBInstanceIdentifier=f"{DB_ID}-dr", SourceDBInstanceIdentifier=primary["DBInstanceArn"],
        DBParameterGroupName=f"params-{DR}")["DBInstance"]
    # `creating` while the world rebuilds a server an earlier test promoted (as a new RDS replica is)
    eventually(lambda: described(server, DR, f"{DB_ID}-dr")["DBInstanceStatus"] == "available", timeout=30)
    return primary, replica


def described(server: InProcessServer, region: str, identifier: str) -> dict[str, Any]:
    return aws(server, "rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def endpoint_of(instance: dict[str, Any]) -> Endpoint:
    address = instance["Endpoint"]
    return Endpoint(address["Address"], int(address["Port"]), instance["DBInstanceIdentifier"])


def sql(endpoint: Endpoint, statement: str, params: tuple[Any, ...] = (), timeout: float = 3.0
        ) -> list[tuple[Any, ...]]:
    """One bounded statement through `endpoint` (what a client of the instance does)."""
    with psycopg.connect(conninfo(endpoint, connect_timeout=timeout, statement_timeout=timeout),
                         autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def write_row(endpoint: Endpoint, row_id: int) -> None:
    sql(endpoint, "INSERT INTO hastack_predictions (id, writer) VALUES (%s, 'test')", (row_id,))


def has_row(endpoint: Endpoint, row_id: int) -> bool:
    return bool(sql(endpoint, "SELECT 1 FROM hastack_predictions WHERE id = %s", (row_id,)))


def new_id() -> int:
    return time.time_ns()


def lag_datapoints(server: InProcessServer, region: str, identifier: str) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return list(aws(server, "cloudwatch", region).get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}], StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Maximum", "SampleCount"])["Datapoints"])


def samples(points: list[dict[str, Any]]) -> int:
    return int(sum(p["SampleCount"] for p in points))


def test_rds_endpoints_are_the_real_servers_and_promote_read_replica_promotes_the_real_replica(
        world: InProcessServer) -> None:
    plane = world.dataplane
    assert plane is not None
    primary, replica = deploy_database(world)
    # Each instance answers the loopback link a client in its own region uses.
    assert (primary["Endpoint"]["Address"], primary["Endpoint"]["Port"]) == (
        "127.0.0.1", plane.endpoint("postgres", PRIMARY, client_region=PRIMARY).port)
    assert described(world, DR, f"{DB_ID}-dr")["Endpoint"]["Port"] == plane.endpoint(
        "postgres", DR, client_region=DR).port
    primary_ep, replica_ep = endpoint_of(primary), endpoint_of(replica)
    before = new_id()
    write_row(primary_ep, before)
    eventually(lambda: has_row(replica_ep, before))  # replicated across the delayed WAL link
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write_row(replica_ep, new_id())  # a replica refuses writes

    promoted = aws(world, "rds", DR).promote_read_replica(DBInstanceIdentifier=f"{DB_ID}-dr")["DBInstance"]

    assert "ReadReplicaSourceDBInstanceIdentifier" not in described(world, DR, f"{DB_ID}-dr")
    after = new_id()
    write_row(endpoint_of(promoted), after)  # the real server is a primary now: the write commits
    assert has_row(replica_ep, after) and has_row(replica_ep, before)
    assert not has_row(primary_ep, after)  # promoted means detached: nothing flows back


def test_replica_lag_comes_from_the_real_replica_none_while_null_and_stops_at_promotion(
        world: InProcessServer) -> None:
    plane = world.dataplane
    assert plane is not None
    client = WorldClient(world.endpoint)
    client.set_world(heartbeatSeconds=0)  # nothing writes
    primary, _ = deploy_database(world)
    # A fresh replica (a new DR replica after a failover: rebuilt from a base backup) has replayed nothing.
    dr_rds = aws(world, "rds", DR)
    dr_rds.promote_read_replica(DBInstanceIdentifier=f"{DB_ID}-dr")
    dr_rds.delete_db_instance(DBInstanceIdentifier=f"{DB_ID}-dr", SkipFinalSnapshot=True)
    replica = dr_rds.create_db_instance_read_replica(DBInstanceIdentifier=f"{DB_ID}-new",
                                                     SourceDBInstanceIdentifier=primary["DBInstanceArn"])["DBInstance"]
    assert replica["DBInstanceStatus"] == "creating"  # its server is being rebuilt from a base backup
    eventually(lambda: described(world, DR, f"{DB_ID}-new")["DBInstanceStatus"] == "available", timeout=30)
    time.sleep(1.0)  # ten publishing rounds
    assert plane.replica_lag_seconds(DR) is None
    assert lag_datapoints(world, DR, f"{DB_ID}-new") == [], "NULL lag is no datapoint, never 0"

    client.set_world(heartbeatSeconds=0.2)  # the heartbeat beats on the real primary; the replica replays it
    eventually(lambda: lag_datapoints(world, DR, f"{DB_ID}-new"), timeout=10)
    beats = sql(endpoint_of(replica), "SELECT seq, writer FROM hastack_heartbeat WHERE id = 1")
    assert beats and beats[0][1] == f"heartbeat-{PRIMARY}"
    eventually(lambda: sql(endpoint_of(replica), "SELECT seq FROM hastack_heartbeat")[0][0] > beats[0][0])
    points = lag_datapoints(world, DR, f"{DB_ID}-new")
    assert all(0 <= p["Maximum"] < 5 for p in points), points
    assert lag_datapoints(world, PRIMARY, DB_ID) == [], "a primary has no ReplicaLag"

    dr_rds.promote_read_replica(DBInstanceIdentifier=f"{DB_ID}-new")
    time.sleep(0.3)  # a round in flight at the promotion may still land
    published = samples(lag_datapoints(world, DR, f"{DB_ID}-new"))
    time.sleep(1.0)
    assert samples(lag_datapoints(world, DR, f"{DB_ID}-new")) == published, "no ReplicaLag once promoted"


def test_the_worlds_outage_and_partition_reach_the_links(world: InProcessServer) -> None:
    primary, replica = deploy_database(world)
    primary_ep, replica_ep = endpoint_of(primary), endpoint_of(replica)
    client = WorldClient(world.endpoint)

    client.outage([PRIMARY], "hang")
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        sql(primary_ep, "SELECT 1", timeout=1)  # accepted and never answered: only the client's bound ends it
    assert time.monotonic() - started >= 0.9
    assert sql(replica_ep, "SELECT 1") == [(1,)]  # the DR region answers

    client.set_world(outageMode="refuse")
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        sql(primary_ep, "SELECT 1", timeout=3)
    assert time.monotonic() - started < 2.5, "refused at once, not held"

    client.heal()
    healed = new_id()
    write_row(primary_ep, healed)
    eventually(lambda: has_row(replica_ep, healed))

    client.partition([DR])  # DR's clients reach DR's server, but nothing crosses regions
    assert sql(replica_ep, "SELECT 1") == [(1,)]
    cut = new_id()
    write_row(primary_ep, cut)
    time.sleep(0.5)
    assert not has_row(replica_ep, cut), "the WAL stream is cut by the partition"
    client.set_world(partitionedRegions=[])
    eventually(lambda: has_row(replica_ep, cut))


def test_failback_reprotect_rebuilds_the_old_primary_as_a_replica_of_the_dr_writer(world: InProcessServer) -> None:
    primary, replica = deploy_database(world)
    home_rds, dr_rds = aws(world, "rds", PRIMARY), aws(world, "rds", DR)
    dr_rds.promote_read_replica(DBInstanceIdentifier=f"{DB_ID}-dr")
    written_in_dr = new_id()
    write_row(endpoint_of(replica), written_in_dr)
    # failback: the old primary renamed aside, a replica of the DR writer created under the original name
    home_rds.modify_db_instance(DBInstanceIdentifier=DB_ID, NewDBInstanceIdentifier=f"{DB_ID}-pre-failover",
                                ApplyImmediately=True)
    home_rds.create_db_instance_read_replica(DBInstanceIdentifier=DB_ID,
                                             SourceDBInstanceIdentifier=replica["DBInstanceArn"])
    # as AWS does, without DBParameterGroupName the new replica has its own region's default group
    # (not the DR writer's, which lives in the DR region)
    eventually(lambda: described(world, PRIMARY, DB_ID)["DBInstanceStatus"] == "available", timeout=30)

    home = described(world, PRIMARY, DB_ID)
    assert home["ReadReplicaSourceDBInstanceIdentifier"]
    assert [g["DBParameterGroupName"].startswith("default.postgres") for g in home["DBParameterGroups"]] == [True]
    assert endpoint_of(home).port == endpoint_of(primary).port  # the region's server, rebuilt
    assert described(world, PRIMARY, f"{DB_ID}-pre-failover")["Endpoint"]["Address"] != "127.0.0.1", \
        "the instance renamed aside lost its server to the new replica"
    assert has_row(endpoint_of(home), written_in_dr)  # rebuilt from the DR writer's data
    followed = new_id()
    write_row(endpoint_of(replica), followed)
    eventually(lambda: has_row(endpoint_of(home), followed))
    eventually(lambda: lag_datapoints(world, PRIMARY, DB_ID), timeout=10)  # failback's catch-up evidence

    home_rds.promote_read_replica(DBInstanceIdentifier=DB_ID)
    back_home = new_id()
    write_row(endpoint_of(home), back_home)
    assert has_row(endpoint_of(home), back_home)


def test_global_datastore_failover_and_disassociate_drive_valkey(world: InProcessServer) -> None:
    home_ec, dr_ec = aws(world, "elasticache", PRIMARY), aws(world, "elasticache", DR)

    def group(ec: Any, gid: str | None = None) -> valkey.Valkey:
        created = ec.create_replication_group(ReplicationGroupId=GROUP_ID, ReplicationGroupDescription="t",
                                              Engine="valkey", CacheNodeType="cache.r7g.large", NumCacheClusters=2,
                                              **({"GlobalReplicationGroupId": gid} if gid else {}))
        primary = created["ReplicationGroup"]["NodeGroups"][0]["PrimaryEndpoint"]
        assert primary["Address"] == "127.0.0.1"
        return valkey.Valkey(host=primary["Address"], port=primary["Port"], socket_timeout=3, socket_connect_timeout=3)

    home = group(home_ec)
    gid = home_ec.create_global_replication_group(GlobalReplicationGroupIdSuffix="t",
                                                  PrimaryReplicationGroupId=GROUP_ID)["GlobalReplicationGroup"][
        "GlobalReplicationGroupId"]
    dr = group(dr_ec, gid)
    home.set("k1", "v1")
    eventually(lambda: dr.get("k1") == b"v1")
    with pytest.raises(valkey.exceptions.ReadOnlyError):
        dr.set("k", "v")

    dr_ec.disassociate_global_replication_group(GlobalReplicationGroupId=gid, ReplicationGroupId=GROUP_ID,
                                                ReplicationGroupRegion=DR)
    assert dr.info("replication")["role"] == "master"
    dr.set("k2", "v2")  # a standalone primary takes writes

    # failback's cache re-protect: the stale home group is dropped, DR leads a new datastore, home follows
    home_ec.delete_global_replication_group(GlobalReplicationGroupId=gid, RetainPrimaryReplicationGroup=True)
    home_ec.delete_replication_group(ReplicationGroupId=GROUP_ID)
    dr_ec.create_global_replication_group(GlobalReplicationGroupIdSuffix="t", PrimaryReplicationGroupId=GROUP_ID)
    client = WorldClient(world.endpoint)
    client.partition([PRIMARY])
    with pytest.raises(ClientError, match="InvalidGlobalReplicationGroupState.*cut off"):
        group(home_ec, gid)  # its Valkey could not follow the DR primary: refused, nothing created
    assert home_ec.describe_replication_groups()["ReplicationGroups"] == []
    client.set_world(partitionedRegions=[])
    home = group(home_ec, gid)
    eventually(lambda: home.get("k2") == b"v2")
    assert home.info("replication")["role"] == "slave"

    home_ec.failover_global_replication_group(GlobalReplicationGroupId=gid, PrimaryRegion=PRIMARY,
                                              PrimaryReplicationGroupId=GROUP_ID)
    home.set("k3", "v3")
    eventually(lambda: dr.get("k3") == b"v3")  # the old primary follows the new one (its region is up)
    assert dr.info("replication")["role"] == "slave"


def test_a_new_replica_is_creating_while_its_region_is_cut_off_and_available_once_it_streams(
        world: InProcessServer) -> None:
    primary, _ = deploy_database(world)
    dr_rds = aws(world, "rds", DR)
    dr_rds.promote_read_replica(DBInstanceIdentifier=f"{DB_ID}-dr")
    dr_rds.delete_db_instance(DBInstanceIdentifier=f"{DB_ID}-dr", SkipFinalSnapshot=True)
    written = new_id()
    write_row(endpoint_of(primary), written)
    client = WorldClient(world.endpoint)
    client.partition([DR])
    dr_rds.create_db_instance_read_replica(DBInstanceIdentifier=f"{DB_ID}-dr2",
                                           SourceDBInstanceIdentifier=primary["DBInstanceArn"])
    time.sleep(1.5)
    assert described(world, DR, f"{DB_ID}-dr2")["DBInstanceStatus"] == "creating", "no base backup across a partition"

    client.set_world(partitionedRegions=[])

    eventually(lambda: described(world, DR, f"{DB_ID}-dr2")["DBInstanceStatus"] == "available", timeout=30)
    assert has_row(endpoint_of(described(world, DR, f"{DB_ID}-dr2")), written)


def test_the_deployed_stack_is_bound_to_the_real_servers(world: InProcessServer) -> None:
    """`local up`'s deploy: the program's own RDS instances and cache groups are the servers."""
    deployment = deploy("prod", world.endpoint)
    outputs = deployment.outputs
    db, cache = outputs["database"], outputs["cache"]
    assert db["primary"]["endpoint"] == db["replica"]["endpoint"] == "127.0.0.1"
    shown = WorldClient(world.endpoint).data_plane()
    assert shown is not None
    bound = {(b["service"], b["identifier"]): b["server"] for b in shown["bindings"]}
    assert bound == {("rds", db["primary"]["identifier"]): f"postgres-{PRIMARY}",
                     ("rds", db["replica"]["identifier"]): f"postgres-{DR}",
                     ("elasticache", cache["primary"]["replicationGroupId"]): f"valkey-{PRIMARY}",
                     ("elasticache", cache["secondary"]["replicationGroupId"]): f"valkey-{DR}"}
    assert shown["heartbeat"]["beats"][PRIMARY] > 0, "the heartbeat beats on the deployed primary"
    primary = described(world, PRIMARY, db["primary"]["identifier"])
    replica = described(world, DR, db["replica"]["identifier"])
    written = new_id()
    write_row(endpoint_of(primary), written)
    eventually(lambda: has_row(endpoint_of(replica), written))


def test_a_second_world_with_a_data_plane_in_one_process_is_refused_before_any_server_starts(
        world: InProcessServer, tmp_path: Path) -> None:
    second = InProcessServer(dataplane=plane_config("second", build_dir=tmp_path))
    with pytest.raises(LocalAwsError, match="already serves a world with a data plane"):
        second.start()
    assert second.dataplane is None and not list(tmp_path.iterdir()), "no server was started, nothing recorded"
    assert WorldClient(world.endpoint).data_plane() is not None, "the running world keeps its data plane"


def test_the_publishing_and_heartbeat_intervals_are_checked(world: InProcessServer) -> None:
    client = WorldClient(world.endpoint)
    with pytest.raises(urllib.error.HTTPError) as refused:
        client.set_world(replicaLagPublishSeconds=0, heartbeatSeconds=-1)
    text = refused.value.read().decode()
    assert "replicaLagPublishSeconds = 0: a number of seconds > 0" in text
    assert "heartbeatSeconds = -1: a number of seconds >= 0" in text
    assert client.world()["replicaLagPublishSeconds"] == 0.1, "a refused change changes nothing"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_local_down_stops_the_data_plane_of_a_server_that_died(tmp_path: Path) -> None:
    """The detached server owns the servers; killed without a chance to stop them, `local down` still
    stops every one by its pid record: no process and no bound port are left."""
    config = plane_config("detached", build_dir=tmp_path, one_way_delay_ms=5)
    record = start_detached(tmp_path, "prod", _free_port(), config)
    assert record["dataPlane"] == config.name
    plane = read_record(tmp_path, config.name)
    assert plane is not None and plane.owner_pid == record["pid"]
    ports = [s.port for s in plane.servers] + list(plane.links.values())
    assert all(alive(s.pid, s.start_ticks) for s in plane.servers) and all(port_is_bound(p) for p in ports)
    world = WorldClient(record["endpoint"]).world()
    assert sorted(world["dataPlane"]["servers"]) == sorted(s.name for s in plane.servers)

    status = CliRunner().invoke(app, ["local", "status", "--stack", "prod", "--build-dir", str(tmp_path)])
    assert status.exit_code == 0, status.output
    assert f"data plane {config.name!r}: " in status.output and f"postgres-{DR} replica" in status.output

    os.kill(int(record["pid"]), signal.SIGKILL)  # a crash: the servers outlive their owner
    eventually(lambda: not WorldClient(record["endpoint"]).is_up())
    assert any(alive(s.pid, s.start_ticks) for s in plane.servers)

    result = CliRunner().invoke(app, ["local", "down", "--stack", "prod", "--build-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert f"stopped the data plane {config.name!r}" in result.output
    assert not [s.name for s in plane.servers if alive(s.pid, s.start_ticks)]
    assert not [p for p in ports if port_is_bound(p)]
    assert not pid_file(tmp_path, "prod").exists() and not record_path(tmp_path, config.name).exists()


def test_a_detached_server_whose_data_plane_cannot_start_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    config = plane_config("refused", build_dir=tmp_path, primary_region=DR, dr_region=DR)
    with pytest.raises(LocalAwsError, match="did not start: primary_region and dr_region must differ"):
        start_detached(tmp_path, "prod", _free_port(), config)
    assert not pid_file(tmp_path, "prod").exists() and not record_path(tmp_path, config.name).exists()
