"""The local AWS server: its lifecycle (nothing left running), the outage layer, the emulated APIs."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from typer.testing import CliRunner

from hastack.cli import app
from hastack.local.moto_mocks import unwrap_secrets
from hastack.local.server import InProcessServer, WorldClient, pid_file, start_detached, stop_detached


@pytest.fixture()
def server() -> Iterator[InProcessServer]:
    with InProcessServer() as srv:
        WorldClient(srv.endpoint).reset()
        yield srv


def _client(endpoint: str, service: str, region: str) -> object:
    return boto3.client(service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2,
                                      read_timeout=5))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    return state != "Z"


def test_down_region_stops_answering_but_global_services_and_other_regions_do(server: InProcessServer) -> None:
    r53 = _client(server.endpoint, "route53", "us-east-1")
    check = r53.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": "alb.example.com", "Port": 443, "ResourcePath": "/"})
    check_id = check["HealthCheck"]["Id"]
    WorldClient(server.endpoint).set_world(downRegions=["us-west-2"], redHealthChecks=[check_id])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        _client(server.endpoint, "ec2", "us-west-2").describe_vpcs()
    assert _client(server.endpoint, "ec2", "us-east-1").describe_vpcs()["Vpcs"] is not None
    status = r53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    assert status and all(o["StatusReport"]["Status"].startswith("Failure") for o in status)
    WorldClient(server.endpoint).set_world(downRegions=[], redHealthChecks=[])
    assert _client(server.endpoint, "ec2", "us-west-2").describe_vpcs()["Vpcs"] is not None
    status = r53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    assert all(o["StatusReport"]["Status"].startswith("Success") for o in status), "not a load balancer: assumed up"


def test_global_datastore_is_emulated_with_membership_and_failover(server: InProcessServer) -> None:
    east = _client(server.endpoint, "elasticache", "us-east-1")
    west = _client(server.endpoint, "elasticache", "us-west-2")
    east.create_replication_group(ReplicationGroupId="cache-east", ReplicationGroupDescription="p",
                                  Engine="redis", CacheNodeType="cache.r7g.large", NumCacheClusters=2)
    gid = east.create_global_replication_group(GlobalReplicationGroupIdSuffix="hastack",
                                               PrimaryReplicationGroupId="cache-east")["GlobalReplicationGroup"][
        "GlobalReplicationGroupId"]
    west.create_replication_group(ReplicationGroupId="cache-west", ReplicationGroupDescription="s",
                                  GlobalReplicationGroupId=gid, NumCacheClusters=2)

    def roles() -> dict[str, str]:
        group = west.describe_global_replication_groups(GlobalReplicationGroupId=gid, ShowMemberInfo=True)
        return {m["ReplicationGroupRegion"]: m["Role"] for m in group["GlobalReplicationGroups"][0]["Members"]}

    assert roles() == {"us-east-1": "PRIMARY", "us-west-2": "SECONDARY"}
    west.failover_global_replication_group(GlobalReplicationGroupId=gid, PrimaryRegion="us-west-2",
                                           PrimaryReplicationGroupId="cache-west")
    assert roles() == {"us-east-1": "SECONDARY", "us-west-2": "PRIMARY"}
    info = west.describe_replication_groups(ReplicationGroupId="cache-west")["ReplicationGroups"][0]
    assert info["GlobalReplicationGroupInfo"]["GlobalReplicationGroupMemberRole"] == "PRIMARY"
    with pytest.raises(west.exceptions.GlobalReplicationGroupNotFoundFault):
        west.describe_global_replication_groups(GlobalReplicationGroupId="ldgnf-nope")


def test_local_down_leaves_no_process(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    record = start_detached(tmp_path, "prod", port)
    pid = int(record["pid"])
    assert _alive(pid) and WorldClient(record["endpoint"]).is_up()
    assert pid_file(tmp_path, "prod").is_file()
    host, resolver_port = record["resolver"].split(":")
    assert (host, int(resolver_port)) == WorldClient(record["endpoint"]).resolver()
    bound = f"0100007F:{int(resolver_port):04X}"  # 127.0.0.1:<port> as /proc/net/udp writes it
    assert bound in Path("/proc/net/udp").read_text(), "the detached server's resolver listens"
    # The detached world holds a connection in a hanging outage: `local down` must not wait on it.
    WorldClient(record["endpoint"]).outage(["us-west-2"], mode="hang")
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=t/20260101/us-west-2/"
                 b"ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n")

    result = CliRunner().invoke(app, ["local", "down", "--stack", "prod", "--build-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"stopped the local AWS of stack 'prod' (pid {pid}" in result.output
    assert not _alive(pid), "local down must leave no process behind"
    assert not pid_file(tmp_path, "prod").exists()
    assert not WorldClient(record["endpoint"]).is_up()
    held.close()
    assert bound not in Path("/proc/net/udp").read_text(), "the resolver's UDP socket is gone with its process"
    assert "nothing to stop" in stop_detached(tmp_path, "prod")


def test_drill_region_refuses_an_unknown_outage_mode() -> None:
    result = CliRunner().invoke(app, ["drill", "region", "--outage", "sideways"])
    assert result.exit_code == 2
    assert "--outage 'sideways' is not one of refuse, hang" in " ".join(result.output.split())


def test_local_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(app, ["local", "up", "--detach", "--port", str(port), "--build-dir",
                                          str(tmp_path)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in " ".join(result.output.split())
    assert not pid_file(tmp_path, "prod").exists()


def test_secret_inputs_reach_aws_opened() -> None:
    wrapped = {"authToken": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                             "value": "s3cr3t"}, "tags": [{"a": 1}]}
    assert unwrap_secrets(wrapped) == {"authToken": "s3cr3t", "tags": [{"a": 1}]}
