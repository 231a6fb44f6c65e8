"""The pack's workload rules through the real pack process: zone spread, probes, resources, graceful
stop, HPA bounds, the restricted pod baseline, image digests.

Each row changes one setting of the rendered prod plan (inputs and outputs together, as a preview
shows a change) and names the exact messages the rule must report on the resource; rows without
messages are variants the rule must let through. Rows of resource rules share checks (see
`ScenarioRunner`).
"""

from __future__ import annotations

import pytest

from tests.policy_helpers import DELETE, Scenario, ScenarioRunner, assert_scenario, scenario, sets

P_DEP = "primary-workload-predictor-deployment"
E_DEP = "primary-workload-embedder-deployment"
DR_E_DEP = "dr-workload-embedder-deployment"
C0 = "spec.template.spec.containers.0"
POD = "spec.template.spec"

SCENARIOS: list[Scenario] = [
    # deployment-zone-spread
    scenario("zone-spread-soft", "deployment-zone-spread",
             sets(P_DEP, f"{POD}.topologySpreadConstraints.0.whenUnsatisfiable", "ScheduleAnyway"), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) spreads over topology.kubernetes.io/zone with "
              "whenUnsatisfiable=ScheduleAnyway: a preference the scheduler drops whenever it is inconvenient, "
              "so all its pods may still land in one AZ. Set whenUnsatisfiable=DoNotSchedule."]),
    scenario("zone-spread-skew-2", "deployment-zone-spread",
             sets(E_DEP, f"{POD}.topologySpreadConstraints.0.maxSkew", 2), on=E_DEP,
             expect=["Deployment 'embedder' (us-east-1) spreads over topology.kubernetes.io/zone with maxSkew=2: one "
              "AZ may hold 2 pods more than another, so losing it takes more than its share. Set maxSkew=1."]),
    scenario("zone-spread-selects-nothing", "deployment-zone-spread",
             sets(DR_E_DEP, f"{POD}.topologySpreadConstraints.0.labelSelector.matchLabels",
                  {"app.kubernetes.io/name": "nope"}), on=DR_E_DEP,
             expect=["Deployment 'embedder' (us-west-2) has a topology.kubernetes.io/zone spread constraint whose "
              "labelSelector does not select its own pods, so the spread counts nothing. Set labelSelector to "
              "the pod template's labels."]),
    scenario("zone-spread-hard-without-node-spread", "deployment-zone-spread",
             sets(E_DEP, f"{POD}.topologySpreadConstraints", [
                 {"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1,
                  "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "embedder"}}}]), on=E_DEP),
    # deployment-probes
    scenario("no-startup-probe", "deployment-probes", sets(P_DEP, f"{C0}.startupProbe", DELETE), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) container 'predictor' has no startupProbe: Kubernetes can't "
              "tell a pod that can't serve (readiness), is stuck (liveness) or is still loading its model "
              "(startup: without it, liveness restarts a slow-loading pod forever). Add httpGet probes on the "
              "service's health paths."]),
    scenario("startup-probe-tcp", "deployment-probes",
             sets(P_DEP, f"{C0}.startupProbe", {"tcpSocket": {"port": "http"}, "periodSeconds": 5,
                                                 "failureThreshold": 60}), on=P_DEP),
    # container-resources
    scenario("no-requests", "container-resources", sets(P_DEP, f"{C0}.resources.requests", DELETE), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) container 'predictor' sets no resources.requests.cpu, "
              "resources.requests.memory: without requests the scheduler places it blind and an HPA utilization"
              " target has nothing to divide by; without limits one pod can starve its node. Set requests and "
              "limits for cpu and memory."]),
    scenario("no-memory-limit", "container-resources", sets(DR_E_DEP, f"{C0}.resources.limits.memory", DELETE),
             on=DR_E_DEP,
             expect=["Deployment 'embedder' (us-west-2) container 'embedder' sets no resources.limits.memory: without "
              "requests the scheduler places it blind and an HPA utilization target has nothing to divide by; "
              "without limits one pod can starve its node. Set requests and limits for cpu and memory."]),
    scenario("limit-below-request", "container-resources", sets(E_DEP, f"{C0}.resources.limits.memory", "512Mi"),
             on=E_DEP, expect=["Deployment 'embedder' (us-east-1) container 'embedder' has limits.memory='512Mi' below "
              "requests.memory='1Gi': the API server rejects the pod. Set the limit at least to the request."]),
    scenario("limits-equal-requests", "container-resources",
             sets(P_DEP, f"{C0}.resources.limits", {"cpu": "1000m", "memory": "2048Mi"}), on=P_DEP),
    # graceful-termination
    scenario("no-prestop", "graceful-termination", sets(E_DEP, f"{C0}.lifecycle", DELETE), on=E_DEP,
             expect=["Deployment 'embedder' (us-east-1) container 'embedder' has no preStop sleep: it gets SIGTERM "
              "while its endpoint is still being removed, so kube-proxy and the ALB keep sending it requests "
              "that fail. Add lifecycle.preStop.sleep.seconds >= 10."]),
    scenario("prestop-5s", "graceful-termination", sets(P_DEP, f"{C0}.lifecycle.preStop.sleep.seconds", 5),
             on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) container 'predictor' sleeps 5 s in preStop, less than the "
              "deregistration path (10 s for its endpoint to leave kube-proxy and the ALB's targets on every "
              "node): requests still arrive after SIGTERM. Sleep at least 10 s."]),
    scenario("grace-20s", "graceful-termination", sets(DR_E_DEP, f"{POD}.terminationGracePeriodSeconds", 20),
             on=DR_E_DEP,
             expect=["Deployment 'embedder' (us-west-2) has terminationGracePeriodSeconds=20 for a 15 s preStop sleep:"
              " the server gets 5 s after SIGTERM to finish in-flight requests before it is killed (at least 10"
              " s required). Set terminationGracePeriodSeconds >= 25."]),
    scenario("grace-default-30s", "graceful-termination",
             sets("dr-workload-predictor-deployment", f"{POD}.terminationGracePeriodSeconds", DELETE),
             on="dr-workload-predictor-deployment"),
    scenario("prestop-exec-sleep", "graceful-termination",
             sets(P_DEP, f"{C0}.lifecycle.preStop", {"exec": {"command": ["/bin/sh", "-c", "sleep 15"]}}), on=P_DEP),
    scenario("grace-exactly-enough", "graceful-termination", sets(E_DEP, f"{POD}.terminationGracePeriodSeconds", 25),
             on=E_DEP),
    # hpa-bounds
    scenario("hpa-min-below-replicas", "hpa-bounds", sets("primary-workload-embedder-hpa", "spec.minReplicas", 2),
             on="primary-workload-embedder-hpa",
             expect=["HorizontalPodAutoscaler 'embedder' (us-east-1) has minReplicas=2, below Deployment 'embedder' "
              "replicas=3: whenever load is low it scales the Deployment under its replica floor. Set "
              "minReplicas=3."]),
    scenario("hpa-max-equals-min", "hpa-bounds", sets("primary-workload-predictor-hpa", "spec.maxReplicas", 3),
             on="primary-workload-predictor-hpa",
             expect=["HorizontalPodAutoscaler 'predictor' (us-east-1) has maxReplicas=3, not above minReplicas=3: it "
              "can't add pods when a lost AZ's share of the load moves to the others. Set maxReplicas above "
              "minReplicas."]),
    scenario("hpa-target-renamed", "hpa-bounds",
             sets("dr-workload-predictor-hpa", "spec.scaleTargetRef.name", "predictr"),
             on="dr-workload-predictor-hpa",
             expect=["HorizontalPodAutoscaler 'predictor' (us-west-2) scales Deployment 'predictr', which is not in "
              "this stack (namespace hastack): it scales nothing. Point scaleTargetRef at the service's "
              "Deployment."]),
    scenario("hpa-cpu-without-request", "hpa-bounds", sets(P_DEP, f"{C0}.resources.requests.cpu", DELETE),
             on="primary-workload-predictor-hpa",
             expect=["HorizontalPodAutoscaler 'predictor' (us-east-1) targets cpu utilization but container "
              "'predictor' of Deployment 'predictor' requests no cpu: utilization has nothing to divide by, so "
              "the HPA never scales. Set resources.requests.cpu."]),
    scenario("hpa-min-above-replicas", "hpa-bounds", sets("primary-workload-predictor-hpa", "spec.minReplicas", 4),
             on="primary-workload-predictor-hpa"),
    # pod-security-restricted
    scenario("privileged", "pod-security-restricted", sets(P_DEP, f"{C0}.securityContext.privileged", True),
             on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) breaks the restricted pod baseline: container 'predictor' is "
              "privileged. A container escape or a stolen token then reaches the node or the cluster API. Fix "
              "the pod's securityContext (runAsNonRoot, allowPrivilegeEscalation=False, "
              "capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop host namespaces, hostPath and "
              "hostPort, and set automountServiceAccountToken=False."]),
    scenario("runs-as-root", "pod-security-restricted", sets(E_DEP, f"{C0}.securityContext.runAsUser", 0),
             on=E_DEP,
             expect=["Deployment 'embedder' (us-east-1) breaks the restricted pod baseline: container 'embedder' runs "
              "as UID 0 (root). A container escape or a stolen token then reaches the node or the cluster API. "
              "Fix the pod's securityContext (runAsNonRoot, allowPrivilegeEscalation=False, "
              "capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop host namespaces, hostPath and "
              "hostPort, and set automountServiceAccountToken=False."]),
    scenario("run-as-non-root-off", "pod-security-restricted",
             sets(DR_E_DEP, f"{C0}.securityContext.runAsNonRoot", False), on=DR_E_DEP,
             expect=["Deployment 'embedder' (us-west-2) breaks the restricted pod baseline: container 'embedder' may "
              "run as root (runAsNonRoot is not True). A container escape or a stolen token then reaches the "
              "node or the cluster API. Fix the pod's securityContext (runAsNonRoot, "
              "allowPrivilegeEscalation=False, capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop "
              "host namespaces, hostPath and hostPort, and set automountServiceAccountToken=False."]),
    scenario("privilege-escalation", "pod-security-restricted",
             sets("dr-workload-predictor-deployment", f"{C0}.securityContext.allowPrivilegeEscalation", True),
             on="dr-workload-predictor-deployment",
             expect=["Deployment 'predictor' (us-west-2) breaks the restricted pod baseline: container 'predictor' "
              "does not set allowPrivilegeEscalation=False. A container escape or a stolen token then reaches "
              "the node or the cluster API. Fix the pod's securityContext (runAsNonRoot, "
              "allowPrivilegeEscalation=False, capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop "
              "host namespaces, hostPath and hostPort, and set automountServiceAccountToken=False."]),
    scenario("adds-net-admin", "pod-security-restricted",
             sets(P_DEP, f"{C0}.securityContext.capabilities.add", ["NET_ADMIN"]), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) breaks the restricted pod baseline: container 'predictor' "
              "adds capabilities NET_ADMIN. A container escape or a stolen token then reaches the node or the "
              "cluster API. Fix the pod's securityContext (runAsNonRoot, allowPrivilegeEscalation=False, "
              "capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop host namespaces, hostPath and "
              "hostPort, and set automountServiceAccountToken=False."]),
    scenario("host-network", "pod-security-restricted", sets(E_DEP, f"{POD}.hostNetwork", True), on=E_DEP,
             expect=["Deployment 'embedder' (us-east-1) breaks the restricted pod baseline: hostNetwork=True. A "
              "container escape or a stolen token then reaches the node or the cluster API. Fix the pod's "
              "securityContext (runAsNonRoot, allowPrivilegeEscalation=False, capabilities.drop=[ALL], "
              "seccompProfile RuntimeDefault), drop host namespaces, hostPath and hostPort, and set "
              "automountServiceAccountToken=False."]),
    scenario("token-mounted", "pod-security-restricted", sets(DR_E_DEP, f"{POD}.automountServiceAccountToken",
                                                               DELETE), on=DR_E_DEP,
             expect=["Deployment 'embedder' (us-west-2) breaks the restricted pod baseline: the service-account token "
              "of 'model-server' is mounted (automountServiceAccountToken is not False) although the pod does not "
              "call the Kubernetes API. A container escape or a stolen token then reaches the node or the "
              "cluster API. Fix the pod's securityContext (runAsNonRoot, allowPrivilegeEscalation=False, "
              "capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop host namespaces, hostPath and "
              "hostPort, and set automountServiceAccountToken=False."]),
    scenario("adds-net-bind-service", "pod-security-restricted",
             sets(P_DEP, f"{C0}.securityContext.capabilities.add", ["NET_BIND_SERVICE"]), on=P_DEP),
    scenario("seccomp-on-container-only", "pod-security-restricted",
             sets(E_DEP, f"{POD}.securityContext.seccompProfile", DELETE), on=E_DEP),
    # image-pinned-by-digest (advisory)
    scenario("image-by-tag", "image-pinned-by-digest", on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) container 'predictor' runs image "
              "'public.ecr.aws/hastack/predictor:1.4.2' by tag: a tag can be moved, so nodes scaled up during a"
              " failover may run other code than what was reviewed. Pin it by digest (image@sha256:...), "
              "mirrored to the account's ECR in each region (README: Container images)."]),
    scenario("image-by-digest", "image-pinned-by-digest",
             sets(E_DEP, f"{C0}.image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/hastack/embedder@sha256:"
                  + "c" * 64), on=E_DEP),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_workload_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)
