"""The regional outage as it really looks: the primary region and Route 53's API *hang*, over real sockets.

The local world is served on 127.0.0.1 (moto behind the world's layer, its resolver on a UDP port);
with us-east-1 dark in hang mode, every request signed for it — Route 53's API included — is
accepted and never answered. botocore's timeouts only apply over sockets, so this is where the DR
command's bounds are proven: `hastack dr scale-up` finishes with the DR region serving, without any
risk flag, the lease named as the fence, and no Route 53 request in the world's call log; `hastack
dr status` answers within its bound and marks what hangs as unreachable; `--json` prints exactly
one JSON document.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from hastack.cli import app
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import parse_outputs
from hastack.dr.runner import Options
from hastack.dr.scale_up import ScaleUp
from hastack.dr.traffic import answered_region
from hastack.plan.render import stack_output_json
from tests.dr_runs import DR, PRIMARY, TEST_BOUNDS, StepClock, sentence, statuses

CALL_TIMEOUT = 1.0
#: dr status's whole bound in these tests: what hangs is cut off by the call timeout long before it.
STATUS = 10.0


class Served:
    """The seeded world on 127.0.0.1 and what the tests read back from it."""

    def __init__(self, server: Any, raw: dict[str, Any]) -> None:
        from hastack.local.world.state import WORLD

        self.server, self.raw, self.state = server, raw, WORLD
        self.outputs = parse_outputs(raw, "prod")
        host, port = server.resolver_address
        self.resolver = f"{host}:{port}"
        dep = Deployment.of(self.outputs, (self.resolver,))
        self.dep = dataclasses.replace(dep, bounds=dep.bounds.with_overrides(
            **{**TEST_BOUNDS, "call_timeout_seconds": CALL_TIMEOUT}))
        self.session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(self, service: str, region: str) -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.server.endpoint)

    def answers(self) -> str | None:
        albs = {r: ing.alb_dns_name for r, ing in self.outputs.ingress.items()}
        return answered_region(self.outputs.dns.record_name, albs, (self.resolver,), 2.0)[0]

    def lease_holder(self) -> str:
        c = self.dep.coordination
        return str(self.client("dynamodb", c.region).get_item(
            TableName=c.table, Key={c.key: {"S": c.lease_id}}, ConsistentRead=True)["Item"]["holder"]["S"])


@pytest.fixture()
def served(prod_plan: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from hastack.local.server import InProcessServer
    from hastack.local.world.seed import seed_world

    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with InProcessServer() as server:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")

        def client(service: str, region: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=server.endpoint)

        raw = seed_world(stack_output_json(prod_plan.outputs), client)
        world = Served(server, raw)
        world.state.heal()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        try:
            yield world
        finally:
            world.state.heal()


def test_scale_up_finishes_while_the_primary_and_route53_hang(served: Served) -> None:
    assert served.answers() == PRIMARY
    served.state.update({"downRegions": [PRIMARY], "outageMode": "hang"})
    assert served.state.route53_api_dark(), "Route 53's API goes dark with us-east-1"
    start = served.state.calls.last_seq()
    clock = StepClock()
    began = time.monotonic()
    result = ScaleUp(served.outputs, ClientFactory(CALL_TIMEOUT), deployment=served.dep, observer=clock,
                     options=Options(poll_seconds=0.2)).run()
    took = time.monotonic() - began
    assert result.ok, result.summary
    # Within the configured bounds: the fence wait, the best-effort bound, and seconds of work.
    b = served.dep.bounds
    assert took < b.lease_seconds + b.lease_margin_seconds + b.fence_timeout_seconds + 60, took
    assert sentence(result, "lease-expired").startswith("fenced us-east-1: lease epoch 2 revoked at ")
    assert statuses(result)["isolate-old-db"] == "gave-up", "the hanging primary could not be isolated"
    assert result.record("isolate-old-db").duration <= b.fence_timeout_seconds + 1.0  # type: ignore[union-attr]
    # The world: DR serves, the lease is DR's, nothing asked Route 53's API.
    assert served.answers() == DR and served.lease_holder() == DR
    calls = served.state.calls.since(start)
    served_at = clock.ended["dns-on-dr"]
    assert [c for c in calls if c.service == "route53"] == [], "a Route 53 API request was made"
    hung = [c for c in calls if c.region == PRIMARY and c.epoch < served_at]
    assert hung and all(c.outcome == "hung" for c in hung) and {c.service for c in hung} <= {"rds", "ec2"}


def cli(served: Served, tmp_path: Path, *args: str) -> Any:
    outputs = tmp_path / "outputs-prod.json"
    raw = dict(served.raw)
    raw["drTimeouts"] = {**raw["drTimeouts"], "callTimeoutSeconds": CALL_TIMEOUT, "statusTimeoutSeconds": STATUS}
    raw["dns"] = {**raw["dns"], "resolvers": [served.resolver]}
    outputs.write_text(json.dumps(raw))
    return CliRunner().invoke(app, ["dr", *args, "--stack", "prod", "--outputs", str(outputs)])


def test_status_answers_within_its_bound_marking_what_hangs(served: Served, tmp_path: Path) -> None:
    served.state.update({"downRegions": [PRIMARY], "outageMode": "hang"})
    began = time.monotonic()
    result = cli(served, tmp_path, "status", "--json")
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert took < STATUS + 3.0, took
    assert "unreachable" in snap["databases"][PRIMARY], snap["databases"]
    assert snap["databases"][DR]["role"].startswith("replica of ")
    assert snap["dns"]["answers"] == PRIMARY and snap["lease"]["holder"] == PRIMARY
    assert 0 < snap["readCount"] < snap["readTotal"]


def test_status_exits_non_zero_when_it_read_nothing(served: Served, tmp_path: Path) -> None:
    served.state.update({"downRegions": [PRIMARY, DR, "us-east-2"], "outageMode": "hang"})
    result = cli(served, tmp_path, "status", "--json", "--dns-resolver", "127.0.0.1:9")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["readCount"] == 0
    assert f"read nothing within {STATUS:g} s" in result.stderr


def test_scale_up_json_prints_exactly_one_document(served: Served, tmp_path: Path) -> None:
    served.state.update({"downRegions": [PRIMARY], "outageMode": "refuse"})
    result = cli(served, tmp_path, "scale-up", "--yes", "--json", "--poll-seconds", "0.2")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)  # raises if anything but one JSON document is on stdout
    assert body["ok"] and body["fence"].startswith("fenced us-east-1: lease epoch")
    assert body["rtoSeconds"] > 0 and body["rtoFrom"] == "run start"
    assert {s["name"]: s["needs"] for s in body["steps"]}["dns-on-dr"] == ["data:route53-dns@global"]
    assert "pulumi config set hastack:activeRegion us-west-2 -s prod" in result.stderr
    assert served.answers() == DR


def test_a_stack_that_disagrees_with_the_outputs_is_refused(served: Served, tmp_path: Path) -> None:
    result = cli_stack(served, tmp_path, "production")
    assert result.exit_code == 2
    assert ("--stack 'production' disagrees with the outputs: they belong to stack 'prod' (deployment "
            "hastack/prod); pass --stack prod") in result.output
    assert served.lease_holder() == PRIMARY


def cli_stack(served: Served, tmp_path: Path, stack: str) -> Any:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(served.raw))
    return CliRunner().invoke(app, ["dr", "scale-up", "--yes", "--stack", stack, "--outputs", str(outputs)])
