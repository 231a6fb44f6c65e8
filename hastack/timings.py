"""How long AWS takes: detection, failover, promotion, launch, DNS. Every figure once, with its source.

Three readers need the same numbers, and a number kept in three places drifts:

* the DR command (`hastack/dr/steps.py`, `report.py`): when clients follow a DNS switch;
* the RTO simulation (`hastack/dr/simulate.py`): how long each modelled AWS operation takes;
* the availability model (`policies/availability.py`): failover downtime and the FMEA's recovery
  times. The policy pack is self-contained and imports nothing from `hastack`, so it receives its
  figures through the policy config: `hastack/policy/config.py` puts `FOR_AVAILABILITY_MODEL` into
  the `availability-budget` settings (`awsTimings`), derived on every `hastack policy check`.

Sources are AWS's documentation pages (collected with quotes in the team's aws-timings notes);
`assumption=True` marks a figure AWS does not publish, which the model must label as such.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """A duration in seconds and where it comes from; `assumption` when AWS publishes no number."""

    seconds: float
    source: str
    assumption: bool = False

    def to_json(self) -> dict[str, object]:
        return {"seconds": self.seconds, "source": self.source, "assumption": self.assumption}


# --- DNS (Route 53) --------------------------------------------------------------------------

#: Route 53 health checks: the fast request interval and the default failure threshold.
ROUTE53_FAST_INTERVAL_SECONDS = 10
ROUTE53_FAILURE_THRESHOLD = 3
ROUTE53_DETECTION = Timing(
    ROUTE53_FAST_INTERVAL_SECONDS * ROUTE53_FAILURE_THRESHOLD,
    f"Route 53 health check {ROUTE53_FAST_INTERVAL_SECONDS} s (fast interval) x failure threshold "
    f"{ROUTE53_FAILURE_THRESHOLD} (dns-failover-determining-health-of-endpoints)")
ROUTE53_PROPAGATION = Timing(60.0, "Route 53 change propagation: generally within 60 s to all authoritative "
                                   "servers (API_ChangeResourceRecordSets)")
ALIAS_TTL = Timing(60.0, "alias records to an ELB have a fixed 60 s TTL (resource-record-sets-values-failover)")
#: After a DNS switch, how long until clients follow: propagation, then the cached answer's TTL.
DNS_SETTLE = Timing(ROUTE53_PROPAGATION.seconds + ALIAS_TTL.seconds,
                    f"Route 53 propagation <= {ROUTE53_PROPAGATION.seconds:.0f} s + fixed alias TTL "
                    f"{ALIAS_TTL.seconds:.0f} s")
DNS_SETTLE_SECONDS = DNS_SETTLE.seconds
#: The traffic switches' alarms are standard resolution (Route 53 refuses high-resolution alarms): a
#: published value shows in the alarm's state when its 60 s period is evaluated.
ALARM_EVALUATION = Timing(60.0, "CloudWatch standard-resolution alarm: period 60 s, evaluated once per period; "
                                "Route 53 health checks do not accept high-resolution alarms (health-checks-types)")

# --- Load balancer and pods ------------------------------------------------------------------

#: ALB target health check defaults (target-group-health-checks).
ALB_HEALTH_CHECK_INTERVAL = Timing(30.0, "ALB target health check default interval 30 s; a newly registered "
                                         "target must pass one check (target-group-health-checks)")
ALB_UNHEALTHY_THRESHOLD = 2
ALB_DEFAULT_DETECTION = Timing(
    ALB_HEALTH_CHECK_INTERVAL.seconds * ALB_UNHEALTHY_THRESHOLD,
    f"ALB health check defaults: interval {ALB_HEALTH_CHECK_INTERVAL.seconds:.0f} s x unhealthy threshold "
    f"{ALB_UNHEALTHY_THRESHOLD} (target-group-health-checks)")
#: Kubernetes Probe defaults: periodSeconds 10, failureThreshold 3, successThreshold 1.
POD_PROBE_PERIOD = Timing(10.0, "readiness probe periodSeconds 10, successThreshold 1 (Kubernetes Probe defaults)")
POD_PROBE_FAILURE_THRESHOLD = 3
POD_UNREADY_DETECTION = Timing(
    POD_PROBE_PERIOD.seconds * POD_PROBE_FAILURE_THRESHOLD,
    f"readiness probe {POD_PROBE_PERIOD.seconds:.0f} s x failureThreshold {POD_PROBE_FAILURE_THRESHOLD} to leave "
    "rotation (Kubernetes Probe defaults)")

# --- Compute ---------------------------------------------------------------------------------

NODE_LAUNCH = Timing(120.0, "EKS node launch: AWS's Cluster Autoscaler example assumes 2 min (eks autoscaling)")
IMAGE_PULL = Timing(60.0, "image pull of the model servers: images over 1 GiB 'can take several minutes' "
                          "(EKS Bottlerocket data-volume blog); 60 s taken", assumption=True)

# --- Data tiers ------------------------------------------------------------------------------

RDS_MULTI_AZ_FAILOVER = Timing(120.0, "RDS Multi-AZ DB instance failover typically 60-120 s; the upper bound taken "
                                      "(Concepts.MultiAZ.Failover)")
REPLICA_PROMOTION = Timing(300.0, "promoting a cross-region RDS read replica: 'several minutes or longer, depending "
                                  "on the size of the read replica', no number published (USER_ReadRepl.Promote); "
                                  "300 s taken", assumption=True)
MULTI_AZ_CONVERSION = Timing(1200.0, "Single-AZ -> Multi-AZ conversion: no downtime, duration not published "
                                     "(rds-convert-single-az-multi-az); 20 min taken", assumption=True)
CACHE_MULTI_AZ_FAILOVER = Timing(30.0, "ElastiCache Multi-AZ failover: writes resume after promotion, typically a "
                                       "few seconds (AutoFailover); 30 s with detection", assumption=True)
GLOBAL_DATASTORE_PROMOTION = Timing(60.0, "ElastiCache Global Datastore promotion: AWS DR workshop RTO about 1 min "
                                          "(Redis-Global-Clusters-Getting-Started)")

# --- The API itself --------------------------------------------------------------------------

API_CALL = Timing(0.1, "one control-plane API round trip (~100 ms)", assumption=True)

#: What the availability model reads (the `awsTimings` setting of `availability-budget`), by name.
FOR_AVAILABILITY_MODEL: dict[str, Timing] = {
    "route53Detection": ROUTE53_DETECTION,
    "dnsSettle": DNS_SETTLE,
    "albDefaultDetection": ALB_DEFAULT_DETECTION,
    "podUnreadyDetection": POD_UNREADY_DETECTION,
    "nodeLaunch": NODE_LAUNCH,
    "rdsMultiAzFailover": RDS_MULTI_AZ_FAILOVER,
    "cacheMultiAzFailover": CACHE_MULTI_AZ_FAILOVER,
    "globalDatastorePromotion": GLOBAL_DATASTORE_PROMOTION,
}


def availability_model_settings() -> dict[str, dict[str, object]]:
    """`FOR_AVAILABILITY_MODEL` as the policy config carries it (JSON)."""
    return {name: timing.to_json() for name, timing in FOR_AVAILABILITY_MODEL.items()}
