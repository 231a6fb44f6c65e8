"""The pack's scheduling-feasibility rules through the real pack process: pods fit their node groups'
instance types, node-group sizes are ordered, and each region (the pilot-light DR region at the
production size the DR scale-up gives it) holds every Deployment's replica floor and HPA maximum.

Rows: one setting of the rendered prod plan changed (inputs and outputs together) and the exact
messages the rule reports on the named resource; rows without messages must pass.
"""

from __future__ import annotations

import pytest

from tests.policy_helpers import Scenario, ScenarioRunner, assert_scenario, scenario, sets

P_DEP = "primary-workload-predictor-deployment"
C0 = "spec.template.spec.containers.0"

SCENARIOS: list[Scenario] = [
    # pods-fit-nodes
    scenario("pod-cpu-above-node", "pods-fit-nodes", sets(P_DEP, f"{C0}.resources.requests.cpu", "4"), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) requests 4 CPU and 2.0 GiB per pod, more than a m6a.xlarge "
              "node of node groups primary-cluster-ng-a, primary-cluster-ng-b, primary-cluster-ng-c can give a "
              "pod (3.77 CPU, 13.9 GiB allocatable after system reservations): its pods stay Pending there. "
              "Lower the requests or use a larger instance type.",
              "Deployment 'predictor' (us-east-1) requests 4 CPU and 2.0 GiB per pod, more than a m6i.xlarge "
              "node of node groups primary-cluster-ng-a, primary-cluster-ng-b, primary-cluster-ng-c can give a "
              "pod (3.77 CPU, 13.9 GiB allocatable after system reservations): its pods stay Pending there. "
              "Lower the requests or use a larger instance type."]),
    scenario("pod-memory-above-node", "pods-fit-nodes",
             sets("dr-workload-embedder-deployment", f"{C0}.resources.requests.memory", "15Gi"),
             on="dr-workload-embedder-deployment",
             expect=["Deployment 'embedder' (us-west-2) requests 0.5 CPU and 15.0 GiB per pod, more than a m6a.xlarge "
              "node of node groups dr-cluster-ng-a, dr-cluster-ng-b, dr-cluster-ng-c can give a pod (3.77 CPU, "
              "13.9 GiB allocatable after system reservations): its pods stay Pending there. Lower the requests"
              " or use a larger instance type.",
              "Deployment 'embedder' (us-west-2) requests 0.5 CPU and 15.0 GiB per pod, more than a m6i.xlarge "
              "node of node groups dr-cluster-ng-a, dr-cluster-ng-b, dr-cluster-ng-c can give a pod (3.77 CPU, "
              "13.9 GiB allocatable after system reservations): its pods stay Pending there. Lower the requests"
              " or use a larger instance type."]),
    scenario("node-group-of-small-instances", "pods-fit-nodes",
             sets("primary-cluster-ng-b", "instanceTypes", ["t3.small"]), on=P_DEP,
             expect=["Deployment 'predictor' (us-east-1) requests 1 CPU and 2.0 GiB per pod, more than a t3.small node"
              " of node group primary-cluster-ng-b can give a pod (1.78 CPU, 1.3 GiB allocatable after system "
              "reservations): its pods stay Pending there. Lower the requests or use a larger instance type."]),
    scenario("unknown-instance-type", "pods-fit-nodes",
             sets("dr-cluster-ng-c", "instanceTypes", ["x2idn.16xlarge"]), on="dr-cluster-ng-c",
             expect=["NodeGroup 'dr-cluster-ng-c' (us-west-2) uses instance type x2idn.16xlarge, which the pack's "
              "capacity table does not know: whether pods fit its nodes can't be checked. Declare it in the "
              "instanceTypes setting ({vcpus, memoryGiB, maxPods})."]),
    scenario("pod-just-fits", "pods-fit-nodes", sets(P_DEP, f"{C0}.resources.requests.cpu", "3.5"), on=P_DEP),
    scenario("declared-instance-type", "pods-fit-nodes",
             sets("dr-cluster-ng-c", "instanceTypes", ["x2idn.16xlarge"]), on="dr-cluster-ng-c",
             config={"pods-fit-nodes": {"instanceTypes": {"x2idn.16xlarge": {"vcpus": 64, "memoryGiB": 1024,
                                                                             "maxPods": 737}}}}),
    # node-group-sizes-ordered
    scenario("min-above-desired", "node-group-sizes-ordered", sets("primary-cluster-ng-a", "scalingConfig.minSize", 3),
             on="primary-cluster-ng-a",
             expect=["NodeGroup 'primary-cluster-ng-a' (us-east-1) has minSize=3 above desiredSize=2: EKS refuses the "
              "update. Order them minSize <= desiredSize <= maxSize."]),
    scenario("desired-above-max", "node-group-sizes-ordered",
             sets("primary-cluster-ng-b", "scalingConfig.desiredSize", 7), on="primary-cluster-ng-b",
             expect=["NodeGroup 'primary-cluster-ng-b' (us-east-1) has desiredSize=7 above maxSize=6: EKS refuses the "
              "update. Order them minSize <= desiredSize <= maxSize."]),
    scenario("max-zero", "node-group-sizes-ordered", sets("dr-cluster-ng-a", "scalingConfig.maxSize", 0),
             on="dr-cluster-ng-a",
             expect=["NodeGroup 'dr-cluster-ng-a' (us-west-2) has maxSize=0: EKS requires at least 1, and the group "
              "could never run a node. Set maxSize to the production size."]),
    scenario("fixed-size-group", "node-group-sizes-ordered",
             sets("primary-cluster-ng-c", "scalingConfig", {"minSize": 2, "desiredSize": 2, "maxSize": 2}),
             on="primary-cluster-ng-c"),
    # capacity-holds-replicas
    scenario("primary-max-one-node", "capacity-holds-replicas",
             sets("primary-cluster-ng-a", "scalingConfig.maxSize", 1), on="primary-cluster-eks",
             expect=["Cluster 'primary-cluster-eks' (us-east-1) can't run the HPA maxReplicas in us-east-1a: 1 node(s)"
              " (maxSize) of 3.77 CPU / 13.9 GiB allocatable each for 3 x embedder, 1 x heartbeat, 4 x predictor = "
              "5.55 CPU / 11.1 GiB. Raise the node groups' maxSize, use a larger instance type or lower the "
              "requests."]),
    scenario("dr-production-max-one-node", "capacity-holds-replicas",
             sets("primary-cluster-ng-a", "scalingConfig.maxSize", 1), on="dr-cluster-eks",
             expect=["Cluster 'dr-cluster-eks' (us-west-2) at the production size `hastack dr scale-up` gives it can't"
              " run the HPA maxReplicas in us-west-2a: 1 node(s) (maxSize) of 3.77 CPU / 13.9 GiB allocatable "
              "each for 3 x embedder, 1 x heartbeat, 4 x predictor = 5.55 CPU / 11.1 GiB. Raise the node groups' "
              "maxSize, use a larger instance type or lower the requests.",
              "Cluster 'dr-cluster-eks' (us-west-2) at the production size `hastack dr scale-up` gives it can't"
              " run the HPA maxReplicas in us-west-2b: 1 node(s) (maxSize) of 3.77 CPU / 13.9 GiB allocatable "
              "each for 3 x embedder, 1 x heartbeat, 4 x predictor = 5.55 CPU / 11.1 GiB. Raise the node groups' "
              "maxSize, use a larger instance type or lower the requests.",
              "Cluster 'dr-cluster-eks' (us-west-2) at the production size `hastack dr scale-up` gives it can't"
              " run the HPA maxReplicas in us-west-2c: 1 node(s) (maxSize) of 3.77 CPU / 13.9 GiB allocatable "
              "each for 3 x embedder, 1 x heartbeat, 4 x predictor = 5.55 CPU / 11.1 GiB. Raise the node groups' "
              "maxSize, use a larger instance type or lower the requests."]),
    scenario("hpa-beyond-the-node-groups", "capacity-holds-replicas",
             sets("primary-workload-embedder-hpa", "spec.maxReplicas", 120), on="primary-cluster-eks",
             expect=["Cluster 'primary-cluster-eks' (us-east-1) can't run the HPA maxReplicas in us-east-1a: 6 node(s)"
              " (maxSize) of 3.77 CPU / 13.9 GiB allocatable each for 40 x embedder, 1 x heartbeat, 4 x predictor = "
              "24.05 CPU / 48.1 GiB. Raise the node groups' maxSize, use a larger instance type or lower the requests.",
              "Cluster 'primary-cluster-eks' (us-east-1) can't run the HPA maxReplicas in us-east-1b: 6 node(s)"
              " (maxSize) of 3.77 CPU / 13.9 GiB allocatable each for 40 x embedder, 1 x heartbeat, 4 x predictor = "
              "24.05 CPU / 48.1 GiB. Raise the node groups' maxSize, use a larger instance type or lower the requests.",
              "Cluster 'primary-cluster-eks' (us-east-1) can't run the HPA maxReplicas in us-east-1c: 6 node(s)"
              " (maxSize) of 3.77 CPU / 13.9 GiB allocatable each for 40 x embedder, 1 x heartbeat, 4 x predictor = "
              "24.05 CPU / 48.1 GiB. Raise the node groups' maxSize, use a larger instance type or lower the "
              "requests."]),
    scenario("one-node-per-az-holds-the-floor", "capacity-holds-replicas",
             sets("primary-cluster-ng-b", "scalingConfig.desiredSize", 1), on="primary-cluster-eks"),
    scenario("dr-at-zero-is-scaled-to-production", "capacity-holds-replicas",
             sets("dr-cluster-ng-b", "scalingConfig.maxSize", 1), on="dr-cluster-eks"),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_capacity_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)
