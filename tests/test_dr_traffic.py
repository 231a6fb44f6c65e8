"""The traffic switches' call paths, request by request (botocore Stubber: nothing emulates ARC here).

The CloudWatch-alarm switch is exercised end to end against the local world in the scale-up and
failback tests; here the exact requests are pinned: `PutMetricData` in the DR region with the
deployment's dimension, `DescribeAlarms` to read it back, and ARC's `UpdateRoutingControlStates`
tried through the cluster endpoints in order, the primary region's last, each failure falling
through to the next endpoint.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hastack.dr.actions import ActionError
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import TrafficControl
from hastack.dr.traffic import Switches

DR, PRIMARY = "us-west-2", "us-east-1"
ALARMS = TrafficControl(mode="cloudwatch-alarm", region=DR, namespace="hastack/TrafficControl",
                        dimensions=(("Deployment", "hastack/prod"),), primary_fenced_metric="PrimaryFenced",
                        primary_fenced_alarm="hastack-prod-primary-fenced", dr_ready_metric="DrReady",
                        dr_ready_alarm="hastack-prod-dr-not-ready")
CONTROL = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/"
ARC = TrafficControl(mode="arc", region=DR, namespace="", dimensions=(), primary_fenced_metric="",
                     primary_fenced_alarm="", dr_ready_metric="", dr_ready_alarm="",
                     arc_endpoints=((PRIMARY, "https://aaa.route53-recovery-cluster.us-east-1.amazonaws.com/v1"),
                                    (DR, "https://bbb.route53-recovery-cluster.us-west-2.amazonaws.com/v1"),
                                    ("eu-west-1", "https://ccc.route53-recovery-cluster.eu-west-1.amazonaws.com/v1")),
                     arc_primary_fenced=CONTROL + "fenced", arc_dr_ready=CONTROL + "ready")


class Stubbed(ClientFactory):
    """One stubbed client per (service, region, endpoint); records the order clients were asked for."""

    def __init__(self) -> None:
        super().__init__(2)
        self.stubs: dict[tuple[str, str, str], tuple[Any, Stubber]] = {}
        self.asked: list[tuple[str, str, str]] = []

    def stub(self, service: str, region: str, url: str = "") -> Stubber:
        client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x",
                              **({"endpoint_url": url} if url else {}))
        stubber = Stubber(client)
        stubber.activate()
        self.stubs[(service, region, url)] = (client, stubber)
        return stubber

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        key = (service, region, endpoint_url or "")
        self.asked.append(key)
        return self.stubs[key][0]


def test_cloudwatch_switch_publishes_in_the_dr_region_with_the_deployment_dimension() -> None:
    aws = Stubbed()
    cw = aws.stub("cloudwatch", DR)
    cw.add_response("put_metric_data", {}, {"Namespace": "hastack/TrafficControl", "MetricData": [{
        "MetricName": "DrReady", "Dimensions": [{"Name": "Deployment", "Value": "hastack/prod"}], "Timestamp": ANY,
        "Value": 1.0, "Unit": "Count"}]})
    cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "hastack-prod-dr-not-ready", "StateValue": "OK"},
        {"AlarmName": "hastack-prod-primary-fenced", "StateValue": "INSUFFICIENT_DATA"}]},
        {"AlarmNames": ["hastack-prod-dr-not-ready", "hastack-prod-primary-fenced"]})
    switches = Switches(aws, ALARMS, PRIMARY)
    assert switches.set("dr-ready", True) == "published DrReady=1 in us-west-2"
    assert switches.states() == {"dr-ready": True, "primary-fenced": False}
    cw.assert_no_pending_responses()
    assert {key[1] for key in aws.asked} == {DR}, "nothing asked outside the DR region"


def test_arc_tries_the_endpoints_in_order_the_primary_regions_last() -> None:
    aws = Stubbed()
    west = aws.stub("route53-recovery-cluster", DR, ARC.arc_endpoints[1][1])
    europe = aws.stub("route53-recovery-cluster", "eu-west-1", ARC.arc_endpoints[2][1])
    aws.stub("route53-recovery-cluster", PRIMARY, ARC.arc_endpoints[0][1])  # nothing queued: a call would fail
    west.add_client_error("update_routing_control_states", "EndpointTemporarilyUnavailableException",
                          http_status_code=503, expected_params={"UpdateRoutingControlStateEntries": [
                              {"RoutingControlArn": CONTROL + "ready", "RoutingControlState": "On"}]})
    europe.add_response("update_routing_control_states", {}, {"UpdateRoutingControlStateEntries": [
        {"RoutingControlArn": CONTROL + "ready", "RoutingControlState": "On"}]})
    switches = Switches(aws, ARC, PRIMARY)
    assert [r for r, _ in switches.arc_endpoints()] == [DR, "eu-west-1", PRIMARY]
    assert switches.set("dr-ready", True) == "set routing control ready On through the eu-west-1 endpoint"
    west.assert_no_pending_responses()
    europe.assert_no_pending_responses()
    assert [key[1] for key in aws.asked] == [DR, "eu-west-1"], "the primary region's endpoint was never asked"


def test_arc_state_is_read_back_and_every_endpoint_failing_is_an_error() -> None:
    aws = Stubbed()
    stubs = [aws.stub("route53-recovery-cluster", region, url) for region, url in ARC.arc_endpoints]
    stubs[1].add_response("get_routing_control_state", {"RoutingControlArn": CONTROL + "ready",
                                                        "RoutingControlState": "On"},
                          {"RoutingControlArn": CONTROL + "ready"})
    stubs[1].add_response("get_routing_control_state", {"RoutingControlArn": CONTROL + "fenced",
                                                        "RoutingControlState": "Off"},
                          {"RoutingControlArn": CONTROL + "fenced"})
    switches = Switches(aws, ARC, PRIMARY)
    assert switches.states() == {"dr-ready": True, "primary-fenced": False}
    for stub in (stubs[1], stubs[2], stubs[0]):
        stub.add_client_error("update_routing_control_states", "ThrottlingException", http_status_code=400)
    with pytest.raises(ActionError, match="no ARC cluster endpoint accepted Off for .*fenced: us-west-2: .*eu-west-1: "
                                          ".*us-east-1: "):
        switches.set("primary-fenced", False)
