"""DynamoDB global tables with multi-Region strong consistency (MRSC) in the local world: one table
through every replica region, and a quorum of (primary replica, DR replica, witness) for writes and
strongly consistent reads — the store the DR command's lease fence lives in (DESIGN-12 §2).

The table is laid out as the stack lays out its coordination table: home in the DR region
(us-west-2), a STRONG replica in the primary region (us-east-1), a witness in us-east-2. Each test
asserts what the world shows through DynamoDB's own API and the call log: answers, errors, items.
"""

from __future__ import annotations

import time
import urllib.error
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from hastack.local.server import InProcessServer, WorldClient
from tests.world_helpers import client as world_client

PRIMARY, DR, WITNESS = "us-east-1", "us-west-2", "us-east-2"
TABLE = "hastack-prod-dr-coordination"
LEASE = {"pk": {"S": "lease#hastack/prod"}}
#: What a call to a dark region raises (over sockets: the connection closes unanswered, or the read times out).
UNANSWERED = (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError)


def ddb(server: InProcessServer, region: str, read_timeout: float = 10.0) -> Any:
    """A DynamoDB client of the world (one attempt: a 500 is not retried)."""
    return world_client(server, "dynamodb", region, read_timeout)


def create_mrsc(client_in: Any, table: str = TABLE) -> dict[str, Any]:
    """The coordination table as the stack declares it: created in the DR region, then made an MRSC
    global table with a replica in the primary region and a witness (one UpdateTable, as AWS wants)."""
    client_in(DR).create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                               BillingMode="PAY_PER_REQUEST")
    return client_in(DR).update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": PRIMARY}}],
                                      GlobalTableWitnessUpdates=[{"Create": {"RegionName": WITNESS}}],
                                      MultiRegionConsistency="STRONG")["TableDescription"]


def grant(client: Any, holder: str, epoch: int) -> None:
    client.put_item(TableName=TABLE, Item={**LEASE, "holder": {"S": holder}, "epoch": {"N": str(epoch)}})


def revoke(client: Any, seen: int) -> None:
    """The DR command's fence: holder "" and epoch + 1, conditional on the epoch it saw."""
    client.update_item(TableName=TABLE, Key=LEASE, UpdateExpression="SET holder = :none, epoch = :next",
                       ConditionExpression="epoch = :seen",
                       ExpressionAttributeValues={":none": {"S": ""}, ":next": {"N": str(seen + 1)},
                                                  ":seen": {"N": str(seen)}})


def strong_read(client: Any) -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key=LEASE, ConsistentRead=True)["Item"]


def lease(item: dict[str, Any]) -> tuple[str, int]:
    return item["holder"]["S"], int(item["epoch"]["N"])


def no_quorum(call: Any) -> str:
    """The error an MRSC call without a quorum gets; returns its message."""
    with pytest.raises(ClientError) as failed:
        call()
    error = failed.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalServerError", 500)
    return str(error["Error"]["Message"])


def logged(server: InProcessServer, since: int) -> list[tuple[str, str, str, int | None]]:
    return [(c["region"], c["operation"], c["outcome"], c["status"])
            for c in WorldClient(server.endpoint).calls(since=since, service="dynamodb")]


# --- one table through every replica region ---------------------------------------------------------


def test_an_mrsc_table_is_one_table_in_each_replica_region_and_describes_its_members(
        server: InProcessServer) -> None:
    described = create_mrsc(lambda region: ddb(server, region))
    assert described["MultiRegionConsistency"] == "STRONG"
    assert [r["RegionName"] for r in described["Replicas"]] == [DR, PRIMARY]
    assert described["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "ACTIVE"}]
    grant(ddb(server, DR), PRIMARY, 1)
    assert lease(strong_read(ddb(server, PRIMARY))) == (PRIMARY, 1), "written in the DR region, read in the primary"
    grant(ddb(server, PRIMARY), PRIMARY, 2)
    assert lease(strong_read(ddb(server, DR))) == (PRIMARY, 2)
    east = ddb(server, PRIMARY).describe_table(TableName=TABLE)["Table"]
    assert east["TableArn"].startswith(f"arn:aws:dynamodb:{PRIMARY}:") and east["MultiRegionConsistency"] == "STRONG"
    assert TABLE in ddb(server, PRIMARY).list_tables()["TableNames"]
    assert TABLE not in ddb(server, WITNESS).list_tables()["TableNames"], "a witness holds no table"
    with pytest.raises(ClientError, match="ResourceNotFound"):
        ddb(server, WITNESS).get_item(TableName=TABLE, Key=LEASE)
    assert WorldClient(server.endpoint).global_tables() == [{
        "tableName": TABLE, "consistency": "STRONG", "replicas": [DR, PRIMARY], "witness": WITNESS,
        "quorum": {DR: True, PRIMARY: True}, "isolatedReplicas": []}]


# --- the quorum ---------------------------------------------------------------------------------------


def test_dr_region_down_the_primary_keeps_its_lease_with_the_witness(server: InProcessServer) -> None:
    """A DR-region outage must not stop the primary's writers: primary + witness are a majority."""
    create_mrsc(lambda region: ddb(server, region))
    primary = ddb(server, PRIMARY)
    grant(primary, PRIMARY, 1)
    world = WorldClient(server.endpoint)
    world.outage([DR], mode="refuse")
    mark = world.world()["lastCall"]
    assert lease(strong_read(primary)) == (PRIMARY, 1), "the writer renews: strong read through its own replica"
    primary.update_item(TableName=TABLE, Key=LEASE, UpdateExpression="SET renewedBy = :me",
                        ConditionExpression="holder = :me", ExpressionAttributeValues={":me": {"S": PRIMARY}})
    with pytest.raises(UNANSWERED):
        strong_read(ddb(server, DR))
    assert logged(server, mark) == [(PRIMARY, "GetItem", "answered", 200), (PRIMARY, "UpdateItem", "answered", 200),
                                    (DR, "GetItem", "refused", None)]


@pytest.mark.parametrize("cut_off", ["partition", "refuse", "hang"])
def test_primary_cut_off_the_dr_region_fences_with_the_witness_and_the_primary_loses_its_lease(
        server: InProcessServer, cut_off: str) -> None:
    """The DR command's conditional revoke goes through (DR + witness); the cut-off primary's writer
    cannot renew: partitioned, its endpoint answers with an error; dark, it refuses or hangs."""
    create_mrsc(lambda region: ddb(server, region))
    primary, dr = ddb(server, PRIMARY, read_timeout=0.5), ddb(server, DR)
    grant(primary, PRIMARY, 7)
    world = WorldClient(server.endpoint)
    if cut_off == "partition":
        world.partition([PRIMARY])
    else:
        world.outage([PRIMARY], mode=cut_off)
    mark = world.world()["lastCall"]

    revoke(dr, seen=7)
    assert lease(strong_read(dr)) == ("", 8)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        revoke(dr, seen=7)  # the condition still holds the line: a stale epoch changes nothing

    if cut_off == "partition":
        message = no_quorum(lambda: strong_read(primary))
        assert f"through {PRIMARY}" in message and "reaches 1 of 3 members" in message and WITNESS in message
        no_quorum(lambda: grant(primary, PRIMARY, 9))
        assert lease(primary.get_item(TableName=TABLE, Key=LEASE)["Item"]) == (PRIMARY, 7), \
            "an isolated replica serves eventually consistent reads from what it had: the revoke is not in it"
        expected = [(DR, "UpdateItem", "answered", 200), (DR, "GetItem", "answered", 200),
                    (DR, "UpdateItem", "answered", 400), (PRIMARY, "GetItem", "no-quorum", 500),
                    (PRIMARY, "PutItem", "no-quorum", 500), (PRIMARY, "GetItem", "answered", 200)]
    else:
        with pytest.raises(UNANSWERED):
            strong_read(primary)
        outcome = "refused" if cut_off == "refuse" else "hung"
        expected = [(DR, "UpdateItem", "answered", 200), (DR, "GetItem", "answered", 200),
                    (DR, "UpdateItem", "answered", 400), (PRIMARY, "GetItem", outcome, None)]
    assert logged(server, mark) == expected
    assert world.global_tables()[0]["quorum"] == {DR: True, PRIMARY: False}

    world.heal()
    assert lease(strong_read(ddb(server, PRIMARY))) == ("", 8), "back in the quorum, the primary sees the revoke"
    assert world.global_tables()[0]["isolatedReplicas"] == []


def test_two_members_lost_nothing_strong_succeeds_anywhere(server: InProcessServer) -> None:
    create_mrsc(lambda region: ddb(server, region))
    dr, primary = ddb(server, DR), ddb(server, PRIMARY)
    grant(dr, PRIMARY, 3)
    world = WorldClient(server.endpoint)
    world.outage([WITNESS])
    assert lease(strong_read(dr)) == (PRIMARY, 3) and lease(strong_read(primary)) == (PRIMARY, 3), \
        "the witness alone down: both replicas are still a majority"
    world.partition([PRIMARY])  # witness dark and the replicas cut apart: each replica reaches only itself
    for client in (dr, primary):
        no_quorum(lambda c=client: strong_read(c))
        no_quorum(lambda c=client: revoke(c, seen=3))
        assert lease(client.get_item(TableName=TABLE, Key=LEASE)["Item"]) == (PRIMARY, 3), "eventual reads answer"
    world.set_world(partitionedRegions=[], downRegions=[WITNESS, DR])
    no_quorum(lambda: strong_read(primary))
    assert {(c["region"], c["outcome"]) for c in world.calls(service="dynamodb") if c["outcome"] != "answered"} == {
        (DR, "no-quorum"), (PRIMARY, "no-quorum")}


def test_every_write_and_strong_read_needs_the_quorum_eventual_reads_do_not(server: InProcessServer) -> None:
    create_mrsc(lambda region: ddb(server, region))
    grant(ddb(server, DR), PRIMARY, 1)
    WorldClient(server.endpoint).partition([PRIMARY])
    primary = ddb(server, PRIMARY)
    key_cond = {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": LEASE["pk"]}}
    needs_quorum = {
        "PutItem": lambda: primary.put_item(TableName=TABLE, Item={"pk": {"S": "x"}}),
        "UpdateItem": lambda: primary.update_item(TableName=TABLE, Key=LEASE, UpdateExpression="SET a = :a",
                                                  ExpressionAttributeValues={":a": {"S": "a"}}),
        "DeleteItem": lambda: primary.delete_item(TableName=TABLE, Key=LEASE),
        "BatchWriteItem": lambda: primary.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {"pk": {"S": "y"}}}}]}),
        "GetItem": lambda: strong_read(primary),
        "Query": lambda: primary.query(TableName=TABLE, ConsistentRead=True, **key_cond),
        "Scan": lambda: primary.scan(TableName=TABLE, ConsistentRead=True),
        "BatchGetItem": lambda: primary.batch_get_item(RequestItems={TABLE: {"Keys": [LEASE], "ConsistentRead": True}}),
        "ExecuteStatement": lambda: primary.execute_statement(Statement=f"INSERT INTO \"{TABLE}\" VALUE {{'pk': 'z'}}"),
    }
    for operation, call in needs_quorum.items():
        assert operation in no_quorum(call)
    assert primary.get_item(TableName=TABLE, Key=LEASE)["Item"]["holder"] == {"S": PRIMARY}
    assert primary.query(TableName=TABLE, **key_cond)["Count"] == 1
    assert primary.scan(TableName=TABLE)["Count"] == 1
    assert len(primary.batch_get_item(RequestItems={TABLE: {"Keys": [LEASE]}})["Responses"][TABLE]) == 1
    assert ddb(server, DR).scan(TableName=TABLE, ConsistentRead=True)["Count"] == 1, "no write got through"


# --- membership: what AWS refuses, how long it lives --------------------------------------------------


def test_membership_is_validated_as_dynamodb_does(server: InProcessServer) -> None:
    dr = ddb(server, DR)

    def table(name: str, items: int = 0) -> None:
        dr.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
        for i in range(items):
            dr.put_item(TableName=name, Item={"pk": {"S": str(i)}})

    def refused(name: str, match: str, **update: Any) -> None:
        with pytest.raises(ClientError, match=match) as error:
            dr.update_table(TableName=name, **update)
        assert error.value.response["Error"]["Code"] == "ValidationException"

    strong = {"ReplicaUpdates": [{"Create": {"RegionName": PRIMARY}}], "MultiRegionConsistency": "STRONG"}
    table("a")
    refused("a", "not in one MRSC region set", **strong,
            GlobalTableWitnessUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
    refused("a", "exactly three regions", **strong)
    refused("a", "witness .* STRONG", ReplicaUpdates=[{"Create": {"RegionName": PRIMARY}}],
            GlobalTableWitnessUpdates=[{"Create": {"RegionName": WITNESS}}])
    table("b", items=1)
    refused("b", "contains no data", **strong, GlobalTableWitnessUpdates=[{"Create": {"RegionName": WITNESS}}])
    assert WorldClient(server.endpoint).global_tables() == [], "a refused update changes nothing"

    create_mrsc(lambda region: ddb(server, region), table="c")
    refused("c", "cannot be added", ReplicaUpdates=[{"Create": {"RegionName": "us-west-1"}}])
    refused("c", "single replica or witness cannot be deleted", ReplicaUpdates=[{"Delete": {"RegionName": PRIMARY}}])
    refused("c", "cannot be changed", MultiRegionConsistency="EVENTUAL")
    with pytest.raises(ClientError, match="transactions are not supported") as txn:
        dr.transact_write_items(TransactItems=[{"Put": {"TableName": "c", "Item": {"pk": {"S": "1"}}}}])
    assert txn.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="Time to Live"):
        dr.update_time_to_live(TableName="c", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    # Deleting one replica and the witness leaves a single-region table in the DR region.
    dr.update_table(TableName="c", ReplicaUpdates=[{"Delete": {"RegionName": PRIMARY}}],
                    GlobalTableWitnessUpdates=[{"Delete": {"RegionName": WITNESS}}])
    assert WorldClient(server.endpoint).global_tables() == []
    assert "c" not in ddb(server, PRIMARY).list_tables()["TableNames"]
    assert "MultiRegionConsistency" not in dr.describe_table(TableName="c")["Table"]


def test_membership_lives_as_long_as_the_tables(server: InProcessServer) -> None:
    """resetEmulation and the end of an outage keep a global table global; moto's reset forgets it."""
    create_mrsc(lambda region: ddb(server, region))
    world = WorldClient(server.endpoint)
    world.partition([PRIMARY])
    world.set_world(resetEmulation=True)
    world.heal()
    assert [t["tableName"] for t in world.global_tables()] == [TABLE]
    grant(ddb(server, PRIMARY), PRIMARY, 4)
    assert lease(strong_read(ddb(server, DR))) == (PRIMARY, 4)
    world.reset()
    assert world.global_tables() == [] and world.world()["globalTables"] == []
    ddb(server, PRIMARY).create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                      BillingMode="PAY_PER_REQUEST")
    grant(ddb(server, PRIMARY), PRIMARY, 1)
    assert TABLE not in ddb(server, DR).list_tables()["TableNames"], "a new table of the same name is regional"


def test_a_bad_partition_is_refused(server: InProcessServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        WorldClient(server.endpoint).set_world(partitionedRegions="us-east-1")
    assert refused.value.code == 400 and "partitionedRegions = 'us-east-1': a list of" in refused.value.read().decode()


# --- in-process (mock_aws), as the DR tests run -----------------------------------------------------


def test_in_process_the_quorum_holds_too() -> None:
    from moto import mock_aws

    from hastack.local.world import install
    from hastack.local.world.state import WORLD

    install()
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    with mock_aws():
        try:
            WORLD.heal()

            def client(region: str) -> Any:
                return boto3.client("dynamodb", region_name=region, aws_access_key_id="testing",
                                    aws_secret_access_key="testing", config=config)

            create_mrsc(client)
            grant(client(DR), PRIMARY, 1)
            mark = WORLD.calls.last_seq()
            WORLD.update({"partitionedRegions": [PRIMARY]})
            revoke(client(DR), seen=1)
            started = time.monotonic()
            no_quorum(lambda: strong_read(client(PRIMARY)))
            assert time.monotonic() - started < 2, "a lost quorum answers at once (it is not an outage)"
            WORLD.update({"partitionedRegions": [], "downRegions": [DR]})
            assert lease(strong_read(client(PRIMARY))) == ("", 2)
            assert [(c.region, c.operation, c.outcome, c.via) for c in WORLD.calls.since(mark, "dynamodb")] == [
                (DR, "UpdateItem", "answered", "in-process"), (PRIMARY, "GetItem", "no-quorum", "in-process"),
                (PRIMARY, "GetItem", "answered", "in-process")]
        finally:
            WORLD.heal()


def test_the_seeded_world_places_the_coordination_table_as_the_outputs_say(prod_plan: Any) -> None:
    """The DR tests' world (seeded from the prod outputs) holds the lease table as the stack deploys
    it: home in the DR region, a STRONG replica in the primary, a witness; its quorum holds."""
    from hastack.plan.render import stack_output_json
    from tests.dr_world import make_world

    with make_world(stack_output_json(prod_plan.outputs)) as world:
        coordination = world.raw["coordination"]
        assert (coordination["homeRegion"], coordination["replicaRegions"], coordination["witnessRegion"]) == (
            DR, [PRIMARY], WITNESS)
        assert world.state.to_json()["globalTables"] == [{
            "tableName": coordination["tableName"], "consistency": "STRONG", "replicas": [DR, PRIMARY],
            "witness": WITNESS, "quorum": {DR: True, PRIMARY: True}, "isolatedReplicas": []}]
        key = {coordination["keyAttribute"]: {"S": coordination["leaseKey"]}}
        world.client("dynamodb", DR).put_item(TableName=coordination["tableName"],
                                              Item={**key, "holder": {"S": PRIMARY}, "epoch": {"N": "1"}})
        world.state.update({"partitionedRegions": [PRIMARY]})
        with pytest.raises(ClientError, match="InternalServerError"):
            world.client("dynamodb", PRIMARY).get_item(TableName=coordination["tableName"], Key=key,
                                                       ConsistentRead=True)
        world.state.update({"partitionedRegions": [], "downRegions": [DR]})
        assert world.client("dynamodb", PRIMARY).get_item(
            TableName=coordination["tableName"], Key=key, ConsistentRead=True)["Item"]["holder"] == {"S": PRIMARY}
