"""Traffic control: the switches in the DR region, the Route 53 checks on them, both modes.

Pins what keeps missing data from moving traffic (TreatMissingData, InsufficientDataHealthStatus),
what Route 53 accepts (standard resolution, period 60), and, for ARC, that routing controls created
Off mean "primary serves, DR not ready" with no initialisation step.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.traffic import TrafficControlArgs, endpoints_in_order
from hastack.outputs import StackOutputs
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments
from tests.route53_model import ALARM, CHECK, ROUTING_CONTROL, route53_answer
from tests.tier_helpers import one

CLUSTER = "aws:route53recoverycontrol/cluster:Cluster"
PANEL = "aws:route53recoverycontrol/controlPanel:ControlPanel"
PRIMARY, DR = "us-east-1", "us-west-2"


# -- cloudwatch-alarm (default) ---------------------------------------------------------------------


@pytest.mark.parametrize(("alarm", "metric", "statistic", "comparison"), [
    ("traffic-primary-fenced", "PrimaryFenced", "Maximum", "GreaterThanOrEqualToThreshold"),
    ("traffic-dr-not-ready", "DrReady", "Minimum", "LessThanThreshold"),
])
def test_switch_alarms_live_in_the_dr_region_and_keep_their_state_without_data(
        prod_plan: Plan, alarm: str, metric: str, statistic: str, comparison: str) -> None:
    a = one(prod_plan, ALARM, alarm)
    i = a["inputs"]
    assert a["region"] == DR, "flipped through the data plane of the region that is up"
    assert i["namespace"] == "hastack/TrafficControl" and i["metricName"] == metric
    assert i["dimensions"] == {"Deployment": "hastack/prod"}
    assert (i["statistic"], i["comparisonOperator"], i["threshold"]) == (statistic, comparison, 1)
    # Missing data never moves traffic: the alarm keeps its last state when nobody publishes.
    assert i["treatMissingData"] == "ignore"
    # Route 53 refuses alarms on high-resolution metrics or periods under 60 s.
    assert i["period"] == 60 and i["evaluationPeriods"] == 1 and i["datapointsToAlarm"] == 1
    assert "extendedStatistic" not in i and "metricQueries" not in i
    assert i["actionsEnabled"] is False, "a switch, not a page"
    assert a["outputs"]["name"] == f"hastack-prod-us-west-2-{alarm.removeprefix('traffic-')}"


@pytest.mark.parametrize(("check", "alarm", "insufficient"), [
    ("traffic-primary-switch", "traffic-primary-fenced", "Healthy"),  # never published: the primary serves
    ("traffic-dr-ready", "traffic-dr-not-ready", "Unhealthy"),  # never published: DR is not ready
])
def test_switch_checks_read_the_alarms_and_treat_insufficient_data_safely(
        prod_plan: Plan, check: str, alarm: str, insufficient: str) -> None:
    i = one(prod_plan, CHECK, check)["inputs"]
    assert i["type"] == "CLOUDWATCH_METRIC"
    assert i["cloudwatchAlarmName"] == one(prod_plan, ALARM, alarm)["outputs"]["name"]
    assert i["cloudwatchAlarmRegion"] == DR
    assert i["insufficientDataHealthStatus"] == insufficient
    assert not i.get("invertHealthcheck")


def test_traffic_control_output_names_every_switch(prod_plan: Plan) -> None:
    tc = StackOutputs.model_validate(prod_plan.outputs).traffic_control
    assert (tc.mode, tc.region, tc.arc) == ("cloudwatch-alarm", DR, None)
    cw = tc.cloudwatch_alarm
    assert cw is not None and cw.namespace == "hastack/TrafficControl" and cw.period_seconds == 60
    assert cw.primary_fenced.alarm_name == one(prod_plan, ALARM, "traffic-primary-fenced")["outputs"]["name"]
    assert cw.dr_ready.alarm_name == one(prod_plan, ALARM, "traffic-dr-not-ready")["outputs"]["name"]
    assert tc.health_check_ids.primary_switch == one(prod_plan, CHECK, "traffic-primary-switch")["id"]
    assert tc.health_check_ids.dr_ready == one(prod_plan, CHECK, "traffic-dr-ready")["id"]
    assert not prod_plan.of_type(CLUSTER) and not prod_plan.of_type(ROUTING_CONTROL)


# -- arc ------------------------------------------------------------------------------------------


def test_arc_builds_a_cluster_a_panel_and_two_routing_controls_in_arcs_home_region(arc_plan: Plan) -> None:
    [cluster], [panel] = arc_plan.of_type(CLUSTER), arc_plan.of_type(PANEL)
    controls = {c["inputs"]["name"]: c for c in arc_plan.of_type(ROUTING_CONTROL)}
    assert set(controls) == {"hastack-prod-primary-fenced", "hastack-prod-dr-ready"}
    assert panel["inputs"]["clusterArn"] == cluster["outputs"]["arn"]
    for c in controls.values():
        assert c["inputs"]["controlPanelArn"] == panel["outputs"]["arn"]
        assert c["inputs"]["clusterArn"] == cluster["outputs"]["arn"]
    assert {r["region"] for r in (cluster, panel, *controls.values())} == {"us-west-2"}
    # No alarm switch in ARC mode.
    assert not [a for a in arc_plan.of_type(ALARM) if a["inputs"].get("namespace") == "hastack/TrafficControl"]


@pytest.mark.parametrize(("check", "control", "inverted"), [
    ("traffic-primary-switch", "hastack-prod-primary-fenced", True),  # Off -> inverted -> healthy
    ("traffic-dr-ready", "hastack-prod-dr-ready", False),  # Off -> unhealthy
])
def test_arc_checks_read_the_routing_controls(arc_plan: Plan, check: str, control: str, inverted: bool) -> None:
    i = one(arc_plan, CHECK, check)["inputs"]
    arn = next(c["outputs"]["arn"] for c in arc_plan.of_type(ROUTING_CONTROL) if c["inputs"]["name"] == control)
    assert i["type"] == "RECOVERY_CONTROL" and i["routingControlArn"] == arn
    assert bool(i.get("invertHealthcheck")) is inverted


def test_arc_records_use_the_same_gates(arc_plan: Plan) -> None:
    primary_gate = one(arc_plan, CHECK, "dns-primary-gate")["inputs"]["childHealthchecks"]
    secondary_gate = one(arc_plan, CHECK, "dns-secondary-gate")["inputs"]["childHealthchecks"]
    assert one(arc_plan, CHECK, "traffic-primary-switch")["id"] in primary_gate
    assert one(arc_plan, CHECK, "traffic-dr-ready")["id"] in secondary_gate


ARC_ROUTING = [
    ("routing controls as created (Off): the primary serves", True, {}, PRIMARY),
    ("outage, nothing flipped: traffic stays on the failed primary", False, {}, PRIMARY),
    ("dr-ready On while the primary is down", False, {"hastack-prod-dr-ready": True}, DR),
    ("fenced and ready, primary answering", True,
     {"hastack-prod-primary-fenced": True, "hastack-prod-dr-ready": True}, DR),
    ("fenced but not ready: last resort", True, {"hastack-prod-primary-fenced": True}, PRIMARY),
    ("failback: primary-fenced Off", True, {"hastack-prod-dr-ready": True}, PRIMARY),
]


@pytest.mark.parametrize(("story", "primary_up", "on", "answer"), ARC_ROUTING, ids=[r[0] for r in ARC_ROUTING])
def test_arc_routing_follows_the_routing_controls(arc_plan: Plan, story: str, primary_up: bool,
                                                  on: dict[str, bool], answer: str) -> None:
    assert route53_answer(arc_plan, {PRIMARY: primary_up, DR: True}, controls_on=on) == answer, story


def test_arc_output_lists_endpoints_dr_region_first_primary_last(arc_plan: Plan) -> None:
    tc = StackOutputs.model_validate(arc_plan.outputs).traffic_control
    assert tc.mode == "arc" and tc.cloudwatch_alarm is None and tc.arc is not None
    regions = [e.region for e in tc.arc.endpoints]
    assert regions[0] == DR and regions[-1] == PRIMARY and len(regions) == 5
    assert all(e.url.startswith("https://") for e in tc.arc.endpoints)
    controls = {c["inputs"]["name"]: c["outputs"]["arn"] for c in arc_plan.of_type(ROUTING_CONTROL)}
    assert tc.arc.routing_control_arns.primary_fenced == controls["hastack-prod-primary-fenced"]
    assert tc.arc.routing_control_arns.dr_ready == controls["hastack-prod-dr-ready"]


def test_endpoint_order_is_dr_then_others_then_primary() -> None:
    eps: list[Any] = [{"region": r, "endpoint": f"https://{r}.example/v1"}
                      for r in ("us-east-1", "ap-southeast-2", "us-west-2", "eu-west-1")]
    assert [e["region"] for e in endpoints_in_order(eps, "us-west-2", "us-east-1")] == [
        "us-west-2", "ap-southeast-2", "eu-west-1", "us-east-1"]


def test_args_report_every_bad_argument_at_once() -> None:
    base: dict[str, Any] = {"name_prefix": "hastack-prod", "record_name": "a.b.c", "dr_provider": None,
                            "route53_provider": None, "primary_region": PRIMARY}
    TrafficControlArgs(mode="arc", deployment="hastack/prod", dr_region=DR, **base)
    assert invalid_arguments(lambda: TrafficControlArgs(mode="sms", deployment="prod", dr_region=PRIMARY, **base)) == [
        ("mode", "'sms' is invalid: one of cloudwatch-alarm, arc"),
        ("dr_region", "'us-east-1' is invalid: a region other than the primary (us-east-1)"),
        ("deployment", "'prod' is invalid: <project>/<stack> (a CloudWatch dimension value)")]
