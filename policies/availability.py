"""Availability budget: the composite availability of the serving path, checked against the stack's SLO.

The other rules check that each redundancy exists; this one asks whether, all together, they are
enough for the availability the stack promises (`hastack:slo.availability`). It builds the model of
the serving path from the resource graph and fails when its composite availability is below the SLO.

The model
---------
A request needs, in series: DNS -> the ALB -> (the EKS control plane) -> a node in a working AZ lane
-> pods of every service -> (egress through the lane's NAT gateway) -> the database -> the cache.
Each tier is k-of-n redundant: n units, each available with probability `a`, of which k must be up:

    A_tier = sum_{i=k..n} C(n, i) * a^i * (1 - a)^(n - i)          (binomial)

Lanes that share a unit (one NAT gateway for every AZ) are not independent: the NAT tier enumerates
the up/down states of the gateways and counts the lanes each state leaves working, which reduces to
the binomial formula when every AZ has its own gateway. k is "n - 1" for AZ-spread tiers (n = the
AZs the node groups cover, so an AZ kept at zero nodes counts as down) and for pods (the service is
sized N+1: it keeps serving with one AZ or one pod lost), 1 for single units.

Tiers multiply (series). Then two corrections:

* DR region, counted through the stack's RTO: a regional tier's outages last MTTR on average; with a
  usable DR path (cluster, ALB, database replica, cache secondary and a SECONDARY failover record in
  the standby region) each such outage costs at most the RTO, so the tier's unavailability is scaled
  by min(1, RTO / MTTR). Without a complete DR path there is no credit.
* Failover downtime: expected failovers per year x the documented failover time (RDS Multi-AZ,
  ElastiCache Multi-AZ, the ALB's health-check detection for a lost AZ lane).

Per-unit availability (AWS service level agreements, monthly uptime commitments)
------------------------------------------------------------------------------------
| unit                      | a       | source                                                               |
|---------------------------|---------|----------------------------------------------------------------------|
| Route 53 DNS              | 100 %   | Amazon Route 53 SLA, https://aws.amazon.com/route53/sla/              |
| Application Load Balancer | 99.99 % | Elastic Load Balancing SLA, https://aws.amazon.com/elasticloadbalancing/sla/ |
| EKS cluster endpoint      | 99.95 % | Amazon EKS SLA, https://aws.amazon.com/eks/sla/                       |
| AZ lane of nodes          | 99.5 %  | Compute SLA instance level, https://aws.amazon.com/compute/sla/ (1)  |
| NAT gateway               | 99.5 %  | none published (2)                                                   |
| pod                       | 99.9 %  | none (3)                                                             |
| RDS Multi-AZ DB instance  | 99.95 % | Amazon RDS SLA, https://aws.amazon.com/rds/sla/                       |
| RDS Single-DB instance    | 99.5 %  | Amazon RDS SLA                                                       |
| ElastiCache Multi-AZ      | 99.99 % | Amazon ElastiCache SLA, https://aws.amazon.com/elasticache/sla/       |
| ElastiCache Single-AZ     | 99.5 %  | Amazon ElastiCache SLA                                               |

ASSUMPTIONS: (1) an AZ's nodes fail together, so an AZ lane counts like one instance; (2) a NAT
gateway is a single-AZ resource, counted like one instance; (3) a pod's own failures (crash, OOM),
node loss being counted in the AZ lanes.

Mean time to repair (ASSUMPTIONS: AWS publishes none): regional managed services (ALB, EKS, RDS,
ElastiCache) 4 h; an AZ lane or NAT gateway 1 h; a pod 5 min.

AWS timings (failover, detection, promotion, launch, DNS) are not kept here: the stack's
`hastack/timings.py` holds each figure once with its AWS source, and they arrive in the policy
config as the `awsTimings` setting (derived by `hastack policy check` / `hastack policy config`), so
the DR command, its RTO simulation and this model read the same numbers. Without them the rule
reports that it cannot judge, never a guess. ALB detection for a lost AZ lane is interval x
unhealthy threshold of the target groups themselves (the documented defaults when not set); Route 53
detection and the DNS settle time are inside the RTO. Failover frequencies are ASSUMPTIONS: 4 per
year for RDS and ElastiCache (maintenance and host replacement), and for AZ lanes the outage rate
implied by their availability and MTTR.

The same module gives the FMEA table (component, failure, impact, mitigation, recovery time) that
`make plan` prints and writes to build/fmea-<stack>.md; `hastack` imports it as a plain module.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from _util import (
    CACHE_GLOBAL,
    CACHE_GROUP,
    EKS_CLUSTER,
    K8S_DEPLOYMENT,
    LOAD_BALANCERS,
    R53_RECORD,
    RDS_INSTANCE,
    STACK,
    TARGET_GROUPS,
    Graph,
    Node,
    as_int,
    as_list,
    get,
    setting_schema,
    stack_rule,
    truthy,
)
from detection import DETECTION_SETTINGS, health_check_detection, primary_record_checks
from pulumi_policy import Severity
from spof import (
    cache_nodes,
    failover_type,
    is_cache_secondary,
    is_rds_replica,
    lb_subnet_ids,
    node_groups_by_az,
    rds_refs,
    record_target_region,
)
from workload import effective_replicas, k8s_meta, services_for

YEAR_SECONDS = 365.25 * 24 * 3600


@dataclass(frozen=True)
class Figure:
    """A documented number and where it comes from; `assumption` when AWS publishes none."""

    value: float
    source: str
    assumption: bool = False


UNIT_AVAILABILITY: dict[str, Figure] = {
    "route53": Figure(1.0, "Amazon Route 53 SLA 100% (aws.amazon.com/route53/sla)"),
    "alb": Figure(0.9999, "Elastic Load Balancing SLA 99.99% (aws.amazon.com/elasticloadbalancing/sla)"),
    "eks": Figure(0.9995, "Amazon EKS SLA 99.95% (aws.amazon.com/eks/sla)"),
    "az_lane": Figure(0.995, "Amazon Compute SLA instance level 99.5% per AZ lane (aws.amazon.com/compute/sla)",
                      assumption=True),
    "nat": Figure(0.995, "no NAT gateway SLA published; counted like one single-AZ instance (99.5%)",
                  assumption=True),
    "pod": Figure(0.999, "no SLA; pod-level failures (crash, OOM), node loss counted in the AZ lanes",
                  assumption=True),
    "rds_multi_az": Figure(0.9995, "Amazon RDS SLA Multi-AZ DB instance 99.95% (aws.amazon.com/rds/sla)"),
    "rds_single_az": Figure(0.995, "Amazon RDS SLA Single-DB instance 99.5% (aws.amazon.com/rds/sla)"),
    "cache_multi_az": Figure(0.9999, "Amazon ElastiCache SLA Multi-AZ 99.99% (aws.amazon.com/elasticache/sla)"),
    "cache_single_az": Figure(0.995, "Amazon ElastiCache SLA Single-AZ 99.5% (aws.amazon.com/elasticache/sla)"),
}

#: Mean time to repair, in hours (assumptions: AWS publishes none).
MTTR_HOURS = {"regional": 4.0, "lane": 1.0, "pod": 5.0 / 60.0}

#: Yearly failovers of a Multi-AZ database or cache.
FAILOVERS_PER_YEAR = Figure(4.0, "maintenance and host replacement, per Multi-AZ database or cache", assumption=True)

#: The AWS timings the model reads from the `awsTimings` setting (values and sources: hastack/timings.py).
TIMINGS = ("route53Detection", "dnsSettle", "albDefaultDetection", "podUnreadyDetection", "nodeLaunch",
           "rdsMultiAzFailover", "cacheMultiAzFailover", "globalDatastorePromotion")
_TIMING_SCHEMA = {"type": "object", "required": ["seconds", "source"], "properties": {
    "seconds": {"type": "number", "minimum": 0}, "source": {"type": "string"}, "assumption": {"type": "boolean"}}}


class MissingTimingsError(ValueError):
    """The policy config carries no (or incomplete) `awsTimings`: the model has nothing to compute with."""


def aws_timings(cfg: dict[str, Any]) -> dict[str, Figure]:
    """The `awsTimings` setting as figures; `MissingTimingsError` naming what is absent."""
    given = cfg.get("awsTimings") or {}
    missing = [name for name in TIMINGS if not isinstance(given.get(name), dict)]
    if missing:
        raise MissingTimingsError(f"the policy config gives no awsTimings.{', awsTimings.'.join(missing)} (the AWS "
                             "timing figures the model needs): run the pack with the config `hastack policy config` "
                             "derives, which `hastack policy check` does by itself")
    return {name: Figure(float(given[name]["seconds"]), str(given[name]["source"]),
                         bool(given[name].get("assumption", False))) for name in TIMINGS}


def k_of_n(k: int, n: int, a: float) -> float:
    """Probability that at least k of n independent units, each up with probability a, are up."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) * a ** i * (1.0 - a) ** (n - i) for i in range(k, n + 1))


def lanes_available(lanes: list[set[str]], unit_a: dict[str, float], k: int) -> float:
    """P(at least k lanes work), a lane working when every unit it depends on is up (units may be shared)."""
    units = sorted({u for lane in lanes for u in lane})
    if len(units) > 12:  # enumeration is 2^n; beyond that treat lanes as independent
        per_lane = [math.prod(unit_a[u] for u in lane) for lane in lanes]
        return k_of_n(k, len(lanes), sum(per_lane) / len(per_lane))
    total = 0.0
    for state in itertools.product((True, False), repeat=len(units)):
        up = dict(zip(units, state, strict=True))
        p = math.prod(unit_a[u] if up[u] else 1.0 - unit_a[u] for u in units)
        if sum(all(up[u] for u in lane) for lane in lanes) >= k:
            total += p
    return total


@dataclass
class Tier:
    """One tier of the serving path, and its row of the FMEA table."""

    name: str
    component: str
    units: int
    required: int
    unit: Figure
    availability: float
    mttr_hours: float
    regional: bool
    failure: str
    impact: str
    mitigation: str
    recovery: str
    dr_factor: float = 1.0

    @property
    def unavailability(self) -> float:
        return (1.0 - self.availability) * self.dr_factor

    @property
    def effective(self) -> float:
        return 1.0 - self.unavailability

    def to_json(self) -> dict[str, Any]:
        return {"tier": self.name, "component": self.component, "units": self.units, "required": self.required,
                "unitAvailability": self.unit.value, "unitSource": self.unit.source,
                "assumption": self.unit.assumption, "availability": self.availability, "drFactor": self.dr_factor,
                "effectiveAvailability": self.effective, "downtimeSecondsPerYear": self.unavailability * YEAR_SECONDS,
                "failure": self.failure, "impact": self.impact, "mitigation": self.mitigation,
                "recovery": self.recovery}


@dataclass
class Failover:
    """Downtime paid by failovers that work: events per year x seconds each x share of traffic hit."""

    name: str
    per_year: float
    seconds: float
    share: float
    source: str

    @property
    def downtime_seconds(self) -> float:
        return self.per_year * self.seconds * self.share


@dataclass
class Model:
    region: str | None
    standby: str | None
    target: float  # percent
    rto_minutes: float
    tiers: list[Tier] = field(default_factory=list)
    failovers: list[Failover] = field(default_factory=list)
    dr_missing: list[str] = field(default_factory=list)
    #: Seconds until Route 53 sees the serving region fail (the PRIMARY records' health checks), and how.
    detection_seconds: float | None = None
    detection: str = ""

    @property
    def dr_usable(self) -> bool:
        return bool(self.standby) and not self.dr_missing

    @property
    def failover_seconds(self) -> float:
        return sum(f.downtime_seconds for f in self.failovers)

    @property
    def composite(self) -> float:
        tiers = math.prod(t.effective for t in self.tiers)
        return max(0.0, tiers * (1.0 - self.failover_seconds / YEAR_SECONDS))

    @property
    def downtime_seconds(self) -> float:
        return (1.0 - self.composite) * YEAR_SECONDS

    @property
    def weakest(self) -> Tier | Failover | None:
        """What costs the most downtime: a tier, or the failovers taken together."""
        candidates: list[tuple[float, Tier | Failover]] = [(t.unavailability * YEAR_SECONDS, t) for t in self.tiers]
        candidates += [(f.downtime_seconds, f) for f in self.failovers]
        return max(candidates, key=lambda c: c[0])[1] if candidates else None

    def to_json(self) -> dict[str, Any]:
        weakest = self.weakest
        return {
            "servingRegion": self.region, "standbyRegion": self.standby, "targetPercent": self.target,
            "rtoMinutes": self.rto_minutes, "compositePercent": self.composite * 100.0,
            "downtimeSecondsPerYear": self.downtime_seconds,
            "allowedDowntimeSecondsPerYear": (1.0 - self.target / 100.0) * YEAR_SECONDS,
            "meetsTarget": self.composite * 100.0 >= self.target - 1e-9,
            "weakest": weakest.name if weakest else None,
            "drUsable": self.dr_usable, "drMissing": self.dr_missing,
            "detectionSeconds": self.detection_seconds, "detection": self.detection,
            "tiers": [t.to_json() for t in self.tiers],
            "failovers": [{"name": f.name, "perYear": f.per_year, "seconds": f.seconds, "share": f.share,
                           "downtimeSecondsPerYear": f.downtime_seconds, "source": f.source} for f in self.failovers],
            "fmea": fmea_rows(self),
        }


def human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# ---------------------------------------------------------------------------------------------
# Building the model from the graph
# ---------------------------------------------------------------------------------------------


def _in_region(graph: Graph, nodes: list[Node], region: str | None) -> list[Node]:
    return [n for n in nodes if graph.region(n) == region]


def _serving_region(graph: Graph, cfg: dict[str, Any]) -> str | None:
    for key in ("activeRegion", "primaryRegion"):
        if cfg.get(key):
            return str(cfg[key])
    clusters = graph.of_type(EKS_CLUSTER)
    return graph.region(clusters[0]) if clusters else None


def _standby_region(cfg: dict[str, Any], serving: str | None) -> str | None:
    for key in ("drRegion", "primaryRegion"):
        if cfg.get(key) and cfg[key] != serving:
            return str(cfg[key])
    return None


def _detection_seconds(graph: Graph, region: str | None, default: Figure) -> tuple[float, str]:
    """How long the ALB keeps sending traffic to a dead lane: the slowest target-group health check."""
    worst, source = 0.0, ""
    for tg in _in_region(graph, graph.of_type(*TARGET_GROUPS), region):
        check = get(tg.props, "healthCheck")
        if not isinstance(check, dict) or (check.get("enabled") is not None and not truthy(check.get("enabled"))):
            seconds = MTTR_HOURS["lane"] * 3600.0
            why = f"target group '{tg.name}' has no enabled health check: a dead lane keeps traffic until repaired"
        else:
            interval = as_int(check.get("interval"), 30) or 30
            threshold = as_int(check.get("unhealthyThreshold"), 2) or 2
            seconds = float(interval * threshold)
            why = f"ALB health check {interval} s x {threshold} (target group '{tg.name}')"
        if seconds > worst:
            worst, source = seconds, why
    if not source:
        return default.value, default.source
    return worst, source


def build_model(graph: Graph, cfg: dict[str, Any]) -> Model:
    """The serving-path model of the region that serves now (`activeRegion`), the other one as DR."""
    timings = aws_timings(cfg)
    region = _serving_region(graph, cfg)
    standby = _standby_region(cfg, region)
    rto = float(cfg.get("rtoMinutes") or 60.0)
    model = Model(region=region, standby=standby, target=float(cfg.get("availabilityTarget") or 99.9),
                  rto_minutes=rto)
    rds_primaries = [n for n in _in_region(graph, graph.of_type(RDS_INSTANCE), region) if not is_rds_replica(n)]
    regional_caches = _in_region(graph, graph.of_type(CACHE_GROUP), region)
    # After a Global Datastore failover the serving region's member is the primary although the
    # program still declares it as the secondary: fall back to the members in the region.
    caches = [n for n in regional_caches if not is_cache_secondary(n)] or regional_caches

    polling = float(cfg.get("alarmPollingSeconds", DETECTION_SETTINGS["alarmPollingSeconds"]["default"]))
    model.detection_seconds, model.detection, undetected = _regional_detection(graph, polling)
    model.tiers.append(_dns_tier(graph, timings, model))
    model.tiers.append(_alb_tier(graph, region))
    clusters = _in_region(graph, graph.of_type(EKS_CLUSTER), region)
    model.tiers.append(_eks_tier(clusters, region))
    lanes = _lanes(graph, clusters)
    model.tiers.append(_node_tier(lanes, region, timings["nodeLaunch"]))
    model.tiers.extend(_pod_tiers(graph, region, timings["podUnreadyDetection"]))
    model.tiers.append(_nat_tier(graph, lanes))
    if graph.of_type(RDS_INSTANCE):
        model.tiers.append(_database_tier(rds_primaries, region, timings["rdsMultiAzFailover"]))
    if graph.of_type(CACHE_GROUP):
        model.tiers.append(_cache_tier(caches, region, timings["cacheMultiAzFailover"],
                                       timings["globalDatastorePromotion"]))

    model.dr_missing = _dr_missing(graph, cfg, region, standby, rds_primaries, caches) + undetected
    if model.dr_usable:
        # A regional outage costs the time until Route 53 sees it, then the RTO.
        outage_hours = rto / 60.0 + (model.detection_seconds or 0.0) / 3600.0
        for tier in model.tiers:
            if tier.regional and tier.mttr_hours > 0:
                tier.dr_factor = min(1.0, outage_hours / tier.mttr_hours)

    detection, why = _detection_seconds(graph, region, timings["albDefaultDetection"])
    live_lanes = [lane for lane in lanes.values() if lane["min"] >= 1]
    if live_lanes:
        lane_a = UNIT_AVAILABILITY["az_lane"].value
        per_year = len(live_lanes) * (1.0 - lane_a) * 8766.0 / MTTR_HOURS["lane"]
        model.failovers.append(Failover("AZ lane lost: ALB detection", per_year, detection, 1.0 / len(live_lanes),
                                        f"{why}; lane outage rate from its availability and MTTR (assumption)"))
    rds_failover, cache_failover = timings["rdsMultiAzFailover"], timings["cacheMultiAzFailover"]
    for db in rds_primaries:
        if truthy(db.props.get("multiAz")):
            model.failovers.append(Failover(f"RDS Multi-AZ failover ({db.name})", FAILOVERS_PER_YEAR.value,
                                            rds_failover.value, 1.0, rds_failover.source))
    for cache in caches:
        if truthy(cache.props.get("automaticFailoverEnabled")):
            model.failovers.append(Failover(f"ElastiCache failover ({cache.name})", FAILOVERS_PER_YEAR.value,
                                            cache_failover.value, 1.0, cache_failover.source))
    return model


def _regional_detection(graph: Graph, polling: float) -> tuple[float | None, str, list[str]]:
    """How long until Route 53 sees the serving region fail: the slowest PRIMARY record's health check.

    Returns (seconds, how, what the DR path lacks because a PRIMARY record's check detects nothing).
    """
    worst: float | None = None
    how, missing = "", []
    for record, check in primary_record_checks(graph):
        if check is None:
            continue
        found = health_check_detection(graph, check, polling, automatic=True)
        if found.seconds is None:
            missing.append(f"the health check of PRIMARY record {record.props.get('name')} detects no failure on "
                           f"its own ({found.how})")
        elif worst is None or found.seconds > worst:
            worst, how = found.seconds, f"{check.name}: {found.how}"
    return worst, how, missing


def _dns_tier(graph: Graph, timings: dict[str, Figure], model: Model) -> Tier:
    records = [r for r in graph.of_type(R53_RECORD) if failover_type(r)]
    names = sorted({str(r.props.get("name")) for r in records}) or ["(no failover record)"]
    documented = timings["route53Detection"]
    detection = (f"Route 53 detection {model.detection} = {model.detection_seconds:g} s (how AWS documents it: "
                 f"{documented.source})" if model.detection_seconds is not None else
                 f"no health check of the plan detects it (the fastest Route 53 can: "
                 f"{human_duration(documented.value)}, {documented.source})")
    return Tier("DNS", f"Route 53 failover records {', '.join(names)}", 1, 1, UNIT_AVAILABILITY["route53"],
                UNIT_AVAILABILITY["route53"].value, 0.0, regional=False,
                failure="Route 53 answers stale or no records",
                impact="clients can't resolve the API name", mitigation="Route 53 (100% SLA), health-checked "
                "PRIMARY/SECONDARY failover records",
                recovery=f"failover: {detection}, clients follow within "
                         f"{human_duration(timings['dnsSettle'].value)} ({timings['dnsSettle'].source})")


def _alb_tier(graph: Graph, region: str | None) -> Tier:
    albs = [lb for lb in _in_region(graph, graph.of_type(*LOAD_BALANCERS), region)
            if lb.props.get("loadBalancerType", "application") == "application"]
    if not albs:
        return Tier("ALB", f"no application load balancer in {region}", 0, 1, UNIT_AVAILABILITY["alb"], 0.0,
                    MTTR_HOURS["regional"], True, "no entry point", "nothing serves", "add an ALB", "n/a")
    availability, parts = 1.0, []
    for lb in albs:
        azs = sorted(graph.subnet_azs(lb_subnet_ids(lb)))
        figure = UNIT_AVAILABILITY["alb"] if len(azs) >= 2 else UNIT_AVAILABILITY["az_lane"]
        availability *= figure.value
        parts.append(f"{lb.name} over {', '.join(azs) or 'no AZ'}")
    return Tier("ALB", "; ".join(parts), len(albs), len(albs), UNIT_AVAILABILITY["alb"], availability,
                MTTR_HOURS["regional"], True, failure="the region's load balancing degrades",
                impact="requests to the region fail", mitigation="ALB over every AZ (cross-zone); Route 53 "
                "fails over to the DR region's ALB", recovery="AWS-managed; beyond the RTO: DR failover")


def _eks_tier(clusters: list[Node], region: str | None) -> Tier:
    figure = UNIT_AVAILABILITY["eks"]
    names = ", ".join(c.name for c in clusters) or f"no EKS cluster in {region}"
    return Tier("EKS control plane", names, len(clusters), len(clusters), figure,
                figure.value ** len(clusters) if clusters else 0.0, MTTR_HOURS["regional"], True,
                failure="Kubernetes API unavailable", impact="no scheduling, scaling or rollout; running pods keep "
                "serving", mitigation="EKS multi-AZ control plane; DR cluster", recovery="AWS-managed")


def _lanes(graph: Graph, clusters: list[Node]) -> dict[str, dict[str, Any]]:
    """AZ -> {min nodes, node subnets} over the serving clusters' node groups."""
    lanes: dict[str, dict[str, Any]] = {}
    for cluster in clusters:
        per_az, _ = node_groups_by_az(graph, cluster)
        for az, size in per_az.items():
            lane = lanes.setdefault(az, {"min": 0, "subnets": set()})
            lane["min"] += size["min"]
        for ng in graph.cluster_node_groups(cluster):
            for sid in as_list(ng.props.get("subnetIds")):
                az = graph.subnet_az(sid)
                if az in lanes:
                    lanes[az]["subnets"].add(sid)
    return lanes


def _lanes_needed(lanes: dict[str, dict[str, Any]]) -> int:
    """N+1 over the AZs the node groups cover: all but one must work, whether or not they keep a node."""
    return max(1, len(lanes) - 1)


def _node_tier(lanes: dict[str, dict[str, Any]], region: str | None, node_launch: Figure) -> Tier:
    figure = UNIT_AVAILABILITY["az_lane"]
    live = sorted(az for az, lane in lanes.items() if lane["min"] >= 1)
    n = len(live)
    k = _lanes_needed(lanes)
    return Tier("nodes per AZ", f"node groups in {', '.join(live) or 'no AZ'} ({region})", n, k, figure,
                k_of_n(k, n, figure.value), MTTR_HOURS["lane"], True,
                failure="an AZ (or its nodes) is lost", impact=f"1/{max(n, 1)} of the capacity; pods re-spread",
                mitigation="one node group per AZ with minSize >= 1; zone spread; ARC zonal shift",
                recovery=f"ALB stops routing after its health-check detection; replacement nodes in "
                         f"{human_duration(node_launch.value)} ({node_launch.source}); zonal shift takes effect "
                         "at once")


def _pod_tiers(graph: Graph, region: str | None, unready: Figure) -> list[Tier]:
    figure = UNIT_AVAILABILITY["pod"]
    # Only pods a Service sends traffic to are on the serving path (not, e.g., the heartbeat writer).
    deployments = [d for d in _in_region(graph, graph.of_type(K8S_DEPLOYMENT), region) if services_for(graph, d)]
    if not deployments:
        return [Tier("pods", f"no Deployment in {region}", 0, 1, figure, 0.0, MTTR_HOURS["pod"], True,
                     "no serving pods", "nothing serves", "deploy the services", "n/a")]
    tiers = []
    for d in deployments:
        n, _ = effective_replicas(graph, d)
        k = max(1, n - 1)
        tiers.append(Tier(f"pods: {k8s_meta(d)[1]}", f"Deployment {k8s_meta(d)[1]} ({n} replicas, {k} needed)", n, k,
                          figure, k_of_n(k, n, figure.value), MTTR_HOURS["pod"], True,
                          failure="a pod crashes or hangs", impact="its share of requests until readiness fails",
                          mitigation="replicas over AZs, readiness/liveness probes, PDB, maxUnavailable 0",
                          recovery=f"{human_duration(unready.value)} to leave rotation ({unready.source}); restart"))
    return tiers


def _nat_tier(graph: Graph, lanes: dict[str, dict[str, Any]]) -> Tier:
    figure = UNIT_AVAILABILITY["nat"]
    live = {az: lane for az, lane in lanes.items() if lane["min"] >= 1}
    deps: list[set[str]] = []
    nats: dict[str, str] = {}
    for lane in live.values():
        needed = set()
        for sid in lane["subnets"]:
            subnet = graph.by_id(sid)
            route = graph.subnet_nat(subnet) if subnet is not None else None
            if route is not None:
                nat_id, nat = route
                needed.add(nat_id)
                nats[nat_id] = (graph.nat_az(nat) or "?") if nat is not None else "outside the stack"
        deps.append(needed)
    if not any(deps):
        return Tier("NAT per AZ", "no NAT gateway on the serving lanes", 0, 0, figure, 1.0, MTTR_HOURS["lane"], True,
                    "-", "-", "VPC endpoints", "-")
    k = _lanes_needed(lanes)
    availability = lanes_available(deps, {n: figure.value for n in nats}, k)
    where = ", ".join(f"{nid} ({az})" for nid, az in sorted(nats.items(), key=lambda x: x[1]))
    shared = len(nats) < len(deps)
    return Tier("NAT per AZ", f"{len(nats)} NAT gateway(s) for {len(deps)} AZ lanes: {where}", len(nats), k, figure,
                availability, MTTR_HOURS["lane"], True, failure="a NAT gateway (or its AZ) fails",
                impact=("every AZ sharing it loses egress" if shared else "that AZ's private subnets lose egress; "
                        "private-ECR image pulls still work through the S3/ECR endpoints"),
                mitigation="one NAT gateway and private route table per AZ; S3/ECR VPC endpoints",
                recovery="other AZs unaffected; evacuate the AZ with a zonal shift")


def _database_tier(primaries: list[Node], region: str | None, failover: Figure) -> Tier:
    if not primaries:
        return Tier("database", f"no primary database in {region}", 0, 1, UNIT_AVAILABILITY["rds_multi_az"], 0.0,
                    MTTR_HOURS["regional"], True, "no writer", "writes fail", "promote the replica", "n/a")
    availability, names, single = 1.0, [], False
    for db in primaries:
        multi = truthy(db.props.get("multiAz"))
        single = single or not multi
        availability *= UNIT_AVAILABILITY["rds_multi_az" if multi else "rds_single_az"].value
        names.append(f"{db.name} ({'Multi-AZ' if multi else 'single-AZ'})")
    figure = UNIT_AVAILABILITY["rds_single_az" if single else "rds_multi_az"]
    return Tier("database", ", ".join(names), len(primaries), len(primaries), figure, availability,
                MTTR_HOURS["regional"], True, failure="the writer instance or its AZ fails",
                impact="writes fail until failover",
                mitigation="Multi-AZ synchronous standby, RDS Proxy; cross-region replica for DR",
                recovery=("instance replacement, no published time" if single
                          else f"Multi-AZ failover {human_duration(failover.value)} ({failover.source}); regional "
                               "loss: promote replica within RTO"))


def _cache_tier(primaries: list[Node], region: str | None, failover: Figure, promotion: Figure) -> Tier:
    if not primaries:
        return Tier("cache", f"no primary cache in {region}", 0, 1, UNIT_AVAILABILITY["cache_multi_az"], 0.0,
                    MTTR_HOURS["regional"], True, "no cache primary", "cache misses/writes fail",
                    "fail the Global Datastore over", "n/a")
    availability, names, degraded = 1.0, [], False
    for c in primaries:
        ha = (truthy(c.props.get("multiAzEnabled")) and truthy(c.props.get("automaticFailoverEnabled"))
              and cache_nodes(c.props) >= 2)
        degraded = degraded or not ha
        availability *= UNIT_AVAILABILITY["cache_multi_az" if ha else "cache_single_az"].value
        names.append(f"{c.name} ({cache_nodes(c.props)} nodes, {'Multi-AZ' if ha else 'no automatic failover'})")
    figure = UNIT_AVAILABILITY["cache_single_az" if degraded else "cache_multi_az"]
    return Tier("cache", ", ".join(names), len(primaries), len(primaries), figure, availability,
                MTTR_HOURS["regional"], True, failure="the primary node or its AZ fails",
                impact="cache writes fail until a replica is promoted",
                mitigation="Multi-AZ replicas with automatic failover; Global Datastore secondary for DR",
                recovery=f"automatic failover {human_duration(failover.value)} ({failover.source}); regional: "
                         f"{human_duration(promotion.value)} ({promotion.source})")


def _global_members(graph: Graph) -> set[str]:
    """URNs of the replication groups that belong to a Global Datastore (as primary or secondary)."""
    members = {n.urn for n in graph.of_type(CACHE_GROUP) if is_cache_secondary(n)}
    for g in graph.of_type(CACHE_GLOBAL):
        primary_id = g.props.get("primaryReplicationGroupId")
        members.update(n.urn for n in graph.of_type(CACHE_GROUP)
                       if primary_id in (n.id, n.props.get("replicationGroupId")) or n.urn in g.dependencies)
    return members


def _dr_missing(graph: Graph, cfg: dict[str, Any], region: str | None, standby: str | None,
                rds_primaries: list[Node], caches: list[Node]) -> list[str]:
    """What the standby region lacks to take over (empty: the DR path is usable)."""
    if not standby:
        return ["no DR region configured"]
    missing = []
    clusters = _in_region(graph, graph.of_type(EKS_CLUSTER), standby)
    if not clusters:
        missing.append(f"no EKS cluster in {standby}")
    elif not any(lane["max"] >= 1 for c in clusters for lane in node_groups_by_az(graph, c)[0].values()):
        missing.append(f"no node group in {standby} can scale above 0")
    if not _in_region(graph, graph.of_type(*LOAD_BALANCERS), standby):
        missing.append(f"no load balancer in {standby}")
    rds = graph.of_type(RDS_INSTANCE)
    for db in rds_primaries:
        refs = rds_refs(db)
        if not any(is_rds_replica(r) and r.props.get("replicateSourceDb") in refs and graph.region(r) == standby
                   for r in rds):
            missing.append(f"no replica of {db.name} in {standby}")
    members = _global_members(graph)
    for cache in caches:
        if cache.urn not in members or not any(m in members and graph.region(graph.by_urn[m]) == standby
                                               for m in members):
            missing.append(f"no Global Datastore member of {cache.name} in {standby}")
    records = graph.of_type(R53_RECORD)
    primaries = [r for r in records if failover_type(r) == "PRIMARY" and r.props.get("healthCheckId")]
    secondaries = [r for r in records if failover_type(r) == "SECONDARY" and record_target_region(graph, r) == standby]
    if not primaries or not secondaries:
        missing.append(f"no health-checked PRIMARY record with a SECONDARY in {standby}")
    return missing


# ---------------------------------------------------------------------------------------------
# FMEA and the rule
# ---------------------------------------------------------------------------------------------


def fmea_rows(model: Model) -> list[dict[str, str]]:
    """The model as a failure-mode table: component, failure, impact, mitigation, recovery time (+ source)."""
    rows = [{"component": f"{t.name}: {t.component}", "failure": t.failure, "impact": t.impact,
             "mitigation": t.mitigation, "recovery": t.recovery, "availability": f"{t.effective * 100:.4f}%",
             "downtimePerYear": human_duration(t.unavailability * YEAR_SECONDS),
             "source": t.unit.source + (" (assumption)" if t.unit.assumption else "")}
            for t in model.tiers]
    if model.standby:
        dr = ("pilot-light DR in " + model.standby if model.dr_usable
              else f"none usable ({'; '.join(model.dr_missing)})")
        rows.append({"component": f"region {model.region}", "failure": "regional outage",
                     "impact": "the whole serving path in the region", "mitigation": dr,
                     "recovery": f"detection {human_duration(model.detection_seconds or 0.0)} + RTO budget "
                                 f"{model.rto_minutes:g} min: fence, promote replica, fail cache over, "
                                 "scale node groups, Route 53 SECONDARY",
                     "availability": "-", "downtimePerYear": "in the tiers (x (detection + RTO) / MTTR)",
                     "source": "AWS DR whitepaper: pilot light recovers in tens of minutes"})
    for f in model.failovers:
        rows.append({"component": f.name, "failure": "failover in progress", "impact": f"{f.share:.0%} of requests",
                     "mitigation": "automatic", "recovery": f"{human_duration(f.seconds)} each, {f.per_year:.3g}/yr",
                     "availability": "-", "downtimePerYear": human_duration(f.downtime_seconds), "source": f.source})
    return rows


FMEA_COLUMNS = (("component", "component"), ("failure", "failure"), ("impact", "impact"),
                ("mitigation", "mitigation"), ("recovery time", "recovery"), ("availability", "availability"),
                ("downtime/yr", "downtimePerYear"))


def fmea_markdown(model: Model, title: str) -> str:
    lines = [f"# {title}", "",
             f"Serving region {model.region}, DR {model.standby or 'none'}; composite availability "
             f"{model.composite * 100:.4f}% ({human_duration(model.downtime_seconds)} of downtime per year) against "
             f"the SLO {model.target:g}% ({human_duration((1 - model.target / 100) * YEAR_SECONDS)} allowed).", "",
             "| " + " | ".join(h for h, _ in FMEA_COLUMNS) + " |", "|" + "---|" * len(FMEA_COLUMNS)]
    rows = fmea_rows(model)
    for row in rows:
        lines.append("| " + " | ".join(str(row[k]).replace("|", "/") for _, k in FMEA_COLUMNS) + " |")
    lines += ["", "Sources (per row):", ""]
    lines += [f"- {row['component']}: {row['source']}" for row in rows]
    lines += ["", "Model and tables: policies/availability.py and docs/availability.md.", ""]
    return "\n".join(lines)


def _hint(weakest: Tier | Failover | None) -> str:
    if isinstance(weakest, Tier):
        return f"{weakest.name} ({weakest.component}) at {weakest.effective * 100:.4f}%: {weakest.mitigation}"
    if isinstance(weakest, Failover):
        return f"{weakest.name}: {human_duration(weakest.downtime_seconds)}/yr ({weakest.source})"
    return "no tier modelled"


def check_availability_budget(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    try:
        model = build_model(graph, cfg)
    except MissingTimingsError as exc:
        stack = next(iter(graph.of_type(STACK)), None)
        yield f"The availability budget cannot be judged: {exc}.", stack.urn if stack else None
        return
    if model.composite * 100.0 >= model.target - 1e-9:
        return
    stack = next(iter(graph.of_type(STACK)), None)
    allowed = (1.0 - model.target / 100.0) * YEAR_SECONDS
    dr = "" if model.dr_usable else f" No DR credit: {'; '.join(model.dr_missing)}."
    yield (f"The serving path in {model.region} reaches {model.composite * 100:.4f}% availability, below the SLO of "
           f"{model.target:g}%: about {human_duration(model.downtime_seconds)} of downtime per year against "
           f"{human_duration(allowed)} allowed. Weakest tier: {_hint(model.weakest)}.{dr}",
           stack.urn if stack else None)


POLICIES = [
    stack_rule(
        "availability-budget",
        "The serving path's modelled availability (k-of-n tiers in series, failovers, DR through the RTO) meets "
        "the stack's SLO.",
        "Strengthen the weakest tier named in the message (more AZs, Multi-AZ data tiers, more replicas, faster "
        "health checks), complete the DR path so regional outages cost at most the RTO, or revisit the SLO.",
        check_availability_budget,
        setting_schema("primaryRegion", "drRegion", "activeRegion", "drMode",
                       availabilityTarget={"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 99.9,
                                           "description": "The stack's SLO in percent (hastack:slo.availability)."},
                       rtoMinutes={"type": "number", "exclusiveMinimum": 0, "default": 60,
                                   "description": "The stack's RTO budget (hastack:slo.rtoMinutes)."},
                       awsTimings={"type": "object", "required": list(TIMINGS),
                                   "properties": {name: _TIMING_SCHEMA for name in TIMINGS},
                                   "description": "AWS timing figures {seconds, source, assumption} by name, "
                                                  "from hastack/timings.py (derived by hastack policy config)."},
                       alarmPollingSeconds=DETECTION_SETTINGS["alarmPollingSeconds"]),
        Severity.HIGH),
]
