"""static-stable-traffic-control through the real pack process (policies/traffic.py).

Rows: one setting of the rendered prod plan changed (inputs and outputs together) and the exact
messages the rule reports on the named failover record; rows without messages must pass.
"""

from __future__ import annotations

import pytest

from hastack.plan.render import Plan
from hastack.policy.runner import PolicyPackProcess
from tests.policy_helpers import Scenario, ScenarioRunner, assert_scenario, scenario, sets

POLICY = "static-stable-traffic-control"
#: Health-check ids of the rendered prod plan (the mock runtime derives them from type and name).
PRIMARY_ALB = "62ef9d8b-4103-ad97-57f4-eff0fe380f04"
DR_ALB = "02f82a11-38f1-67f9-163f-734cec7fbeea"
LEGACY_SWITCH = "4157fb7d-bb3c-f1ff-d7b6-77795204c00b"

NO_DR_READY = (
    "Record 'dns-secondary' (api.example.com) is a SECONDARY failover record whose health check has no switch: "
    "Route 53 sends clients to the DR region as soon as its load balancer answers, before the DR command has "
    "promoted the database (a pilot-light region can't serve). Gate it with a CALCULATED check over the DR ALB "
    "check and a 'DR ready' switch (CLOUDWATCH_METRIC or RECOVERY_CONTROL).")

SCENARIOS: list[Scenario] = [
    scenario("shipped-gates-pass", POLICY, on="dns-primary"),
    scenario("secondary-on-its-alb-check-alone", POLICY, sets("dns-secondary", "healthCheckId", DR_ALB),
             on="dns-secondary", expect=[NO_DR_READY]),
    scenario("secondary-gate-without-dr-ready", POLICY,
             sets("dns-secondary-gate", "childHealthchecks", [DR_ALB]),
             sets("dns-secondary-gate", "childHealthThreshold", 1), on="dns-secondary", expect=[NO_DR_READY]),
    scenario("primary-only-on-the-control-plane-switch", POLICY,
             sets("dns-primary-gate", "childHealthchecks", [PRIMARY_ALB, LEGACY_SWITCH]),
             sets("dns-primary-gate", "childHealthThreshold", 2), on="dns-primary",
             expect=["Record 'dns-primary' (api.example.com) is a PRIMARY failover record whose health check has "
                     "no switch (CLOUDWATCH_METRIC or RECOVERY_CONTROL): moving traffic off the primary then takes a "
                     "Route 53 API call (its control plane is homed in us-east-1) or the primary's own failure. "
                     "Gate it with a CALCULATED check over its ALB check and a switch the DR command sets in the DR "
                     "region."]),
    scenario("switch-alarm-in-the-primary-region", POLICY,
             sets("traffic-primary-switch", "cloudwatchAlarmRegion", "us-east-1"), on="dns-primary",
             expect=["HealthCheck 'traffic-primary-switch' (a switch under the PRIMARY record api.example.com) "
                     "reads an alarm in us-east-1, the region the PRIMARY record sends traffic to: when that region "
                     "fails, nobody can publish to the switch. Put the alarm (and the metric the DR command "
                     "publishes) in the DR region."]),
    scenario("never-published-primary-switch-fences", POLICY,
             sets("traffic-primary-switch", "insufficientDataHealthStatus", "Unhealthy"), on="dns-primary",
             expect=["HealthCheck 'traffic-primary-switch' (a switch under the PRIMARY record api.example.com) has "
                     "insufficientDataHealthStatus='Unhealthy': a switch nobody has published to yet must leave "
                     "traffic where it is. Set insufficientDataHealthStatus='Healthy'."]),
    scenario("never-published-dr-ready-serves", POLICY,
             sets("traffic-dr-ready", "insufficientDataHealthStatus", "LastKnownStatus"), on="dns-secondary",
             expect=["HealthCheck 'traffic-dr-ready' (a switch under the SECONDARY record api.example.com) has "
                     "insufficientDataHealthStatus='LastKnownStatus': a switch nobody has published to yet must "
                     "leave traffic where it is. Set insufficientDataHealthStatus='Unhealthy'."]),
    scenario("switch-alarm-flips-when-data-stops", POLICY,
             sets("traffic-dr-not-ready", "treatMissingData", "breaching"), on="dns-secondary",
             expect=["HealthCheck 'traffic-dr-ready' (a switch under the SECONDARY record api.example.com) reads "
                     "alarm MetricAlarm 'traffic-dr-not-ready' with treatMissingData='breaching': when publishing "
                     "stops, the alarm changes state and traffic moves by itself. Set treatMissingData='ignore' "
                     "(the alarm keeps its last state)."]),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_traffic_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)


def test_arc_routing_controls_are_switches(arc_plan: Plan, policy_pack: PolicyPackProcess) -> None:
    """The ARC render (RECOVERY_CONTROL checks) passes the rule as the alarm render does."""
    report = policy_pack.check(arc_plan.to_json(), {})
    assert [v.message for v in report.violations if v.policy == POLICY] == []
    assert POLICY in {p.name for p in policy_pack.policies()}
