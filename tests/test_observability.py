"""Alarms and paging, checked on the real program rendered offline (mock runtime) and on the pure helpers.

What must hold: burn-rate thresholds follow the configured SLO (99.9 % -> fast burn 1.44 %, slow
burn 0.6 %) over the right windows; a window alone never pages, the composite does; every alarm
names an existing runbook and notifies the paging topic of its own region; the topic is encrypted
with a customer key and carries the configured subscriptions; capacity and data-tier alarms use
the stack's own numbers (replicas, node minimums, RPO) and resource ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from components.observability import (
    ROUTE53_METRICS_REGION,
    NodeGroupWatch,
    ObservabilityArgs,
    ServiceWatch,
    alarm_name,
    burn_windows,
    error_budget,
    sli_metric_queries,
)
from hastack.config import SloConfig
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TRAFFIC_SWITCHES = "hastack/TrafficControl"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
TOPIC = "aws:sns/topic:Topic"
RUNBOOK_RE = re.compile(r"^Runbook: (runbooks/[a-z0-9-]+\.md) — \S")


def alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every alarm of the plan that pages (all but the traffic switches) by its AWS name.

    The traffic switches (components/traffic.py, tests/test_traffic.py) are alarms too, but no
    pages: Route 53 reads them, and the primary gate's alarm pages when traffic leaves the primary.
    """
    out = {}
    for r in plan.of_type(METRIC_ALARM):
        if r["inputs"].get("namespace") == TRAFFIC_SWITCHES:
            continue
        out[r["inputs"]["name"]] = r
    for r in plan.of_type(COMPOSITE_ALARM):
        out[r["inputs"]["alarmName"]] = r
    return out


def topics_by_region(plan: Plan) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for r in plan.of_type(TOPIC):
        if r["inputs"].get("name", "").endswith("-alerts"):
            assert r["region"] not in found, f"two paging topics in {r['region']}"
            found[r["region"]] = r
    return found


@pytest.fixture(scope="module")
def plan_999(render_config: Callable[..., Plan]) -> Plan:
    """The prod stack with a 99.9 % SLO (the issue's worked example)."""
    from hastack.plan.render import read_stack_config

    config = read_stack_config("prod")
    config["hastack:slo"] = {**config["hastack:slo"], "availability": 99.9}
    return render_config(config)


# --------------------------------------------------------------------------------------- pure


def test_burn_thresholds_for_999() -> None:
    slo = SloConfig(availability=99.9, latency_threshold_ms=300, rto_minutes=30, rpo_seconds=60)
    assert error_budget(slo) == pytest.approx(0.001)
    (fast_long, fast_short), (slow_long, slow_short) = burn_windows(slo)
    assert (fast_long.threshold_percent, fast_short.threshold_percent) == (1.44, 1.44)
    assert (slow_long.threshold_percent, slow_short.threshold_percent) == (0.6, 0.6)
    assert (fast_long.seconds, fast_short.seconds, slow_long.seconds, slow_short.seconds) == (3600, 300, 21600, 1800)
    assert (fast_long.burn_rate, slow_long.burn_rate) == (14.4, 6.0)


def test_sli_queries_measure_2xx_within_latency() -> None:
    queries = sli_metric_queries("app/x/1", 250, 300)
    stats = {q["id"]: q["metric"] for q in queries if "metric" in q}
    assert stats["fastpct"]["stat"] == "PR(:0.25)" and stats["fastpct"]["metric_name"] == "TargetResponseTime"
    assert stats["ok"]["metric_name"] == "HTTPCode_Target_2XX_Count"
    assert {m["period"] for m in stats.values()} == {300}
    assert [q["id"] for q in queries if q["return_data"]] == ["errorpct"]


def test_sli_expression_arithmetic() -> None:
    """The error-rate expression, evaluated on numbers: 1000 requests, 990 2xx, 5 % of answers slow."""
    expression = next(q["expression"] for q in sli_metric_queries("a", 300, 60) if q["id"] == "errorpct")
    functions = {"IF": lambda cond, yes, no: yes if cond else no,
                 "FILL": lambda series, value: value if series is None else series}
    value = eval(expression, functions, {"requests": 1000, "ok": 990, "answered": 1000, "fastpct": 95.0})  # noqa: S307
    no_target_data = eval(expression, functions, {"requests": 10, "ok": None, "answered": None, "fastpct": None})  # noqa: S307
    assert no_target_data == pytest.approx(100.0), "requests no target answered are all bad"
    # good = 990 - 50 slow = 940 -> 6 % bad
    assert value == pytest.approx(6.0)


def test_alarm_names_are_deterministic() -> None:
    assert alarm_name("prod", "us-east-1", "slo-burn-fast") == "hastack-prod-us-east-1-slo-burn-fast"


# ------------------------------------------------------------------------------- plan: burn rate


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_prod_999_burn_rate_alarms(plan_999: Plan, region: str) -> None:
    found = alarms(plan_999)
    topic_arn = topics_by_region(plan_999)[region]["outputs"]["arn"]
    expected = {"fast": (1.44, {"1h": 3600, "5m": 300}), "slow": (0.6, {"6h": 21600, "30m": 1800})}
    for severity, (threshold, windows) in expected.items():
        for label, seconds in windows.items():
            name = f"hastack-prod-{region}-slo-burn-{severity}-{label}"
            window = found[name]["inputs"]
            assert window["threshold"] == threshold, name
            assert window["comparisonOperator"] == "GreaterThanThreshold"
            assert {q["metric"]["period"] for q in window["metricQueries"] if "metric" in q} == {seconds}, name
            assert window["actionsEnabled"] is False, f"{name}: a single window must not page"
            assert window["alarmActions"] == [topic_arn]
        composite = found[f"hastack-prod-{region}-slo-burn-{severity}"]["inputs"]
        assert composite["alarmRule"] == " AND ".join(
            f'ALARM("hastack-prod-{region}-slo-burn-{severity}-{label}")' for label in windows)
        assert composite["alarmActions"] == [topic_arn]
        assert composite.get("actionsEnabled", True) is not False


def test_burn_rate_follows_the_configured_slo(prod_plan: Plan) -> None:
    """Prod is configured at 99.95 %: thresholds halve compared with 99.9 %."""
    found = alarms(prod_plan)
    assert found["hastack-prod-us-east-1-slo-burn-fast-1h"]["inputs"]["threshold"] == 0.72
    assert found["hastack-prod-us-east-1-slo-burn-slow-6h"]["inputs"]["threshold"] == 0.3


def test_sli_reads_the_regions_alb(prod_plan: Plan) -> None:
    for region, ingress in prod_plan.outputs["ingress"].items():
        suffix = next(r["outputs"]["arnSuffix"] for r in prod_plan.of_type("aws:lb/loadBalancer:LoadBalancer")
                      if r["outputs"]["arn"] == ingress["albArn"])
        window = alarms(prod_plan)[f"hastack-prod-{region}-slo-burn-fast-5m"]
        dims = {json.dumps(q["metric"]["dimensions"]) for q in window["inputs"]["metricQueries"] if "metric" in q}
        assert dims == {json.dumps({"LoadBalancer": suffix})}
        assert window["region"] == region


# ------------------------------------------------------------------------ plan: every alarm


def test_every_alarm_names_an_existing_runbook_and_pages_its_regions_topic(prod_plan: Plan) -> None:
    topics = topics_by_region(prod_plan)
    found = alarms(prod_plan)
    assert len(found) >= 20
    for name, alarm in found.items():
        inputs = alarm["inputs"]
        assert name.startswith(f"hastack-prod-{alarm['region']}-"), name
        match = RUNBOOK_RE.match(inputs.get("alarmDescription", ""))
        assert match, f"{alarm['urn']}: description must start with 'Runbook: runbooks/<file>.md — '"
        assert (REPO_ROOT / match.group(1)).is_file(), f"{name}: {match.group(1)} does not exist"
        assert inputs["alarmActions"] == [topics[alarm["region"]]["outputs"]["arn"]], name


def test_paging_topic_is_encrypted_and_subscribed(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    keys = {r["outputs"]["arn"]: r for r in prod_plan.of_type("aws:kms/key:Key")}
    subscriptions = prod_config["hastack:alerting"]["subscriptions"]
    topics = topics_by_region(prod_plan)
    assert set(topics) == {"us-east-1", "us-west-2"}
    for region, topic in topics.items():
        key = keys[topic["inputs"]["kmsMasterKeyId"]]
        assert key["region"] == region and key["inputs"]["enableKeyRotation"] is True
        policy = json.loads(key["inputs"]["policy"])
        services = {s for st in policy["Statement"] for s in st["Principal"].get("Service", [])}
        assert {"cloudwatch.amazonaws.com", "events.amazonaws.com", "events.rds.amazonaws.com"} <= services
        subs = [r["inputs"] for r in prod_plan.of_type("aws:sns/topicSubscription:TopicSubscription")
                if r["inputs"]["topic"] == topic["outputs"]["arn"]]
        assert [{"protocol": s["protocol"], "endpoint": s["endpoint"]} for s in subs] == subscriptions
    assert prod_plan.outputs["alarmTopicArns"] == {r: t["outputs"]["arn"] for r, t in topics.items()}


# ------------------------------------------------------------------- plan: capacity and data


def test_capacity_alarms_use_replicas_and_node_minimums(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    found = alarms(prod_plan)
    for svc in prod_config["hastack:services"]:
        alarm = found[f"hastack-prod-us-east-1-{svc['name']}-healthy-hosts"]["inputs"]
        assert (alarm["metricName"], alarm["comparisonOperator"], alarm["threshold"]) == (
            "HealthyHostCount", "LessThanThreshold", svc["replicas"])
        assert f"hastack-prod-us-west-2-{svc['name']}-healthy-hosts" not in found, "pilot-light DR has no floor"
    minimum = prod_config["hastack:nodes"]["primary"]["minSize"]
    for az in ("us-east-1a", "us-east-1b", "us-east-1c"):
        alarm = found[f"hastack-prod-us-east-1-nodes-below-min-{az}"]["inputs"]
        assert (alarm["metricName"], alarm["threshold"]) == ("GroupInServiceInstances", minimum)
        # EKS leaves the ASG's group metrics off: no data must not page for every new node group.
        assert alarm["treatMissingData"] == "missing"
        assert "INSUFFICIENT_DATA means they are not enabled yet" in alarm["alarmDescription"]
    assert not [n for n in found if n.startswith("hastack-prod-us-west-2-nodes-below-min")]


def test_data_tier_alarms(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    found = alarms(prod_plan)
    rpo = prod_config["hastack:slo"]["rpoSeconds"]
    lag = found["hastack-prod-us-west-2-db-replica-lag"]["inputs"]
    assert lag["threshold"] == rpo and lag["metricName"] == "ReplicaLag"
    assert lag["dimensions"] == {"DBInstanceIdentifier": prod_plan.outputs["database"]["replica"]["identifier"]}
    cache_lag = found["hastack-prod-us-west-2-cache-replication-lag"]["inputs"]
    assert cache_lag["threshold"] == rpo
    members = {q["metric"]["dimensions"]["CacheClusterId"] for q in cache_lag["metricQueries"] if "metric" in q}
    secondary = prod_plan.outputs["cache"]["secondary"]["replicationGroupId"]
    assert members == {f"{secondary}-00{i}" for i in (1, 2, 3)}
    subs = {r["region"]: r["inputs"] for r in prod_plan.of_type("aws:rds/eventSubscription:EventSubscription")}
    assert subs["us-east-1"]["sourceIds"] == [prod_plan.outputs["database"]["primary"]["identifier"]]
    assert {"failover", "failure", "availability"} <= set(subs["us-east-1"]["eventCategories"])
    rules = [json.loads(r["inputs"]["eventPattern"]) for r in prod_plan.of_type("aws:cloudwatch/eventRule:EventRule")
             if r["inputs"].get("name", "").endswith("-cache-events")]
    assert len(rules) == 2 and all("TestFailover" in json.dumps(rule) for rule in rules)


def test_route53_alarms_live_in_us_east_1(prod_plan: Plan) -> None:
    found = alarms(prod_plan)
    checks = prod_plan.outputs["dns"]["healthCheckIds"]
    alb = found["hastack-prod-us-east-1-route53-alb-us-east-1"]
    assert alb["region"] == ROUTE53_METRICS_REGION
    assert alb["inputs"]["dimensions"] == {"HealthCheckId": checks["us-east-1"]}
    assert "hastack-prod-us-east-1-route53-primary-gate" in found


def test_staging_route53_alarms_get_a_us_east_1_topic(staging_plan: Plan) -> None:
    found = alarms(staging_plan)
    r53 = [a for n, a in found.items() if "-route53-" in n]
    assert r53 and all(a["region"] == "us-east-1" for a in r53)
    topics = topics_by_region(staging_plan)
    assert set(topics) == {"eu-west-1", "eu-central-1", "us-east-1"}
    assert all(a["inputs"]["alarmActions"] == [topics["us-east-1"]["outputs"]["arn"]] for a in r53)
    assert set(staging_plan.outputs["alarmTopicArns"]) == {"eu-west-1", "eu-central-1", "us-east-1"}


def test_failed_over_watches_the_dr_region(render_config: Callable[..., Plan],
                                           prod_config: dict[str, Any]) -> None:
    prod_config["hastack:activeRegion"] = "us-west-2"
    found = alarms(render_config(prod_config))
    assert "hastack-prod-us-east-1-route53-alb-us-west-2" in found
    assert "hastack-prod-us-east-1-route53-primary-gate" not in found, "the gate is red by design after failover"
    assert "hastack-prod-us-west-2-db-replica-lag" not in found, "the replica was promoted"
    assert "hastack-prod-us-west-2-predictor-healthy-hosts" in found
    assert "hastack-prod-us-east-1-cache-replication-lag" in found


def test_runbook_files_named_by_alarms_exist() -> None:
    """The module's runbook constants point at files of the repository."""
    import components.observability as obs

    paths = {v for k, v in vars(obs).items() if k.startswith("RUNBOOK_")}
    assert paths and all((REPO_ROOT / p).is_file() for p in paths), sorted(p for p in paths
                                                                           if not (REPO_ROOT / p).is_file())


def test_alarm_descriptions_fit_cloudwatch_limits(prod_plan: Plan) -> None:
    for name, alarm in alarms(prod_plan).items():
        assert len(alarm["inputs"]["alarmDescription"]) <= 1024, name
        assert len(name) <= 255, name


def test_paging_topic_keeps_its_former_urn_as_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """The topic moved from under Observability to under Region (to exist before the cache tier):
    the alias lets a deployed stack adopt its topic instead of creating one and deleting the old."""
    import hastack.plan.render as plan

    seen: dict[str, list[str]] = {}
    register = plan.RecordingMonitor.RegisterResource

    def recording(self: plan.RecordingMonitor, request: Any) -> Any:
        if request.type == "hastack:observability:PagingTopic":
            seen[request.name] = [a.spec.parentUrn for a in request.aliases]
        return register(self, request)

    monkeypatch.setattr(plan.RecordingMonitor, "RegisterResource", recording)
    plan.render("staging")
    assert seen["primary-obs-paging"] == [
        "urn:pulumi:staging::hastack::pulumi:pulumi:Stack$hastack:region:Region$hastack:observability:Observability"
        "::primary-obs"]
    assert seen["dr-obs-paging"][0].endswith("$hastack:observability:Observability::dr-obs")
    assert seen["primary-obs-route53-paging"] == [], "the us-east-1 Route 53 topic did not move"


def test_observability_args_need_unique_alarm_names_and_non_negative_floors() -> None:
    slo = SloConfig(availability=99.9, latency_threshold_ms=300, rto_minutes=30, rpo_seconds=60)
    services = [ServiceWatch("predictor", 3, "tg/1"), ServiceWatch("predictor", -1, "tg/2")]
    node_groups = [NodeGroupWatch("c", "us-east-1a", 1, "asg-a"), NodeGroupWatch("c", "us-east-1a", 1, "asg-b")]
    problems = invalid_arguments(lambda: ObservabilityArgs(
        region="us-east-1", slo=slo, paging=None, services=services, node_groups=node_groups))  # type: ignore[arg-type]
    assert problems == [
        ("services[1]", "'predictor' is invalid: one entry each (it names an alarm)"),
        ("node_groups[1]", "'us-east-1a' is invalid: one entry each (it names an alarm)"),
        ("services[1].min_healthy_hosts", "-1 is invalid: 0 (no alarm) or more"),
    ]
