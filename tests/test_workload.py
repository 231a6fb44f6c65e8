"""Workload: what keeps the model servers up through drains, rollouts and the loss of an AZ."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.workload import (
    HOST_KEY,
    ZONE_KEY,
    WorkloadArgs,
    min_available,
    node_port,
    regional_image,
    supports_sleep_action,
)
from hastack.config import parse_config
from hastack.plan.render import Plan, read_stack_config
from tests.arg_helpers import invalid_arguments

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SERVICE = "kubernetes:core/v1:Service"
REGIONS = ("us-east-1", "us-west-2")


def _workload(plan: Plan, typ: str) -> list[dict[str, Any]]:
    """The model-serving workload's objects of `typ` (components/heartbeat.py's are tested in test_heartbeat)."""
    return [r for r in plan.of_type(typ) if "hastack:workload:Workload$" in r["urn"]]


def _objects(plan: Plan, typ: str, region: str) -> list[dict[str, Any]]:
    return [r for r in _workload(plan, typ) if r["homeRegion"] == region]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def _config_services() -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in read_stack_config("prod")["hastack:services"]}


def _pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["inputs"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("region", REGIONS)
def test_every_deployment_has_a_pdb_selecting_it_and_only_it(prod_plan: Plan, region: str) -> None:
    deployments = _objects(prod_plan, DEPLOYMENT, region)
    pdbs = _objects(prod_plan, PDB, region)
    assert len(deployments) == 2
    for d in deployments:
        meta, spec = d["inputs"]["metadata"], d["inputs"]["spec"]
        pod_labels = spec["template"]["metadata"]["labels"]
        assert _selects(spec["selector"], pod_labels)
        matching = [p for p in pdbs if p["inputs"]["metadata"]["namespace"] == meta["namespace"]
                    and _selects(p["inputs"]["spec"]["selector"], pod_labels)]
        assert len(matching) == 1, f"{d['urn']}: {len(matching)} PDBs select its pods"
        floor = matching[0]["inputs"]["spec"]["minAvailable"]
        assert floor == spec["replicas"] - 1 and 0 < floor < spec["replicas"]


def test_staging_pdb_still_allows_one_disruption(staging_plan: Plan) -> None:
    [pdb] = _objects(staging_plan, PDB, "eu-west-1")
    [deployment] = _objects(staging_plan, DEPLOYMENT, "eu-west-1")
    assert deployment["inputs"]["spec"]["replicas"] == 2 and pdb["inputs"]["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("region", REGIONS)
def test_all_three_probes_hit_the_configured_health_paths(prod_plan: Plan, region: str) -> None:
    services = _config_services()
    for d in _objects(prod_plan, DEPLOYMENT, region):
        [container] = _pod_spec(d)["containers"]
        paths = {"live": "/health/live", "ready": "/health/ready", "startup": "/health/startup",
                 **services[container["name"]].get("healthPaths", {})}
        assert {p["name"] for p in container["ports"]} == {"http"}
        for probe, key in (("livenessProbe", "live"), ("readinessProbe", "ready"), ("startupProbe", "startup")):
            spec = container[probe]
            assert spec["httpGet"] == {"path": paths[key], "port": "http", "scheme": "HTTP"}, probe
            assert spec["periodSeconds"] > 0 and spec["failureThreshold"] > 0 and spec["timeoutSeconds"] > 0
        # Liveness must be slower to fire than readiness: a busy pod leaves the Service before it is killed.
        live, ready = container["livenessProbe"], container["readinessProbe"]
        assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready["failureThreshold"]


@pytest.mark.parametrize("region", REGIONS)
def test_pods_spread_over_zones_strictly_and_over_nodes_softly(prod_plan: Plan, region: str) -> None:
    for d in _objects(prod_plan, DEPLOYMENT, region):
        pod = _pod_spec(d)
        labels = d["inputs"]["spec"]["template"]["metadata"]["labels"]
        spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
        assert spread[ZONE_KEY]["whenUnsatisfiable"] == "DoNotSchedule" and spread[ZONE_KEY]["maxSkew"] == 1
        assert spread[HOST_KEY]["whenUnsatisfiable"] == "ScheduleAnyway"
        assert all(_selects(c["labelSelector"], labels) for c in spread.values())


def test_rollouts_never_reduce_capacity_and_pods_stop_gracefully(prod_plan: Plan) -> None:
    for d in _workload(prod_plan, DEPLOYMENT):
        spec = d["inputs"]["spec"]
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        pod = _pod_spec(d)
        [container] = pod["containers"]
        sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < sleep < pod["terminationGracePeriodSeconds"]
        assert d["ignoreChanges"] == ["spec.replicas"], "the HPA owns the live replica count"


def test_containers_are_non_root_read_only_and_sized_from_config(prod_plan: Plan) -> None:
    services = _config_services()
    for d in _workload(prod_plan, DEPLOYMENT):
        [container] = _pod_spec(d)["containers"]
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
        wanted = services[container["name"]]
        assert container["image"] == wanted["image"]
        assert container["resources"] == {"requests": wanted["resources"]["requests"],
                                          "limits": wanted["resources"]["limits"]}


@pytest.mark.parametrize("region", REGIONS)
def test_hpa_scales_each_deployment_between_config_bounds(prod_plan: Plan, region: str) -> None:
    services = _config_services()
    hpas = {h["inputs"]["spec"]["scaleTargetRef"]["name"]: h["inputs"] for h in _objects(prod_plan, HPA, region)}
    for d in _objects(prod_plan, DEPLOYMENT, region):
        name = d["inputs"]["metadata"]["name"]
        hpa = hpas[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] == d["inputs"]["spec"]["replicas"] == services[name]["replicas"]
        assert hpa["spec"]["maxReplicas"] == services[name]["maxReplicas"]
        [metric] = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"


@pytest.mark.parametrize("region", REGIONS)
def test_services_are_nodeports_on_fixed_ports(prod_plan: Plan, region: str) -> None:
    deployments = {d["inputs"]["metadata"]["name"]: d for d in _objects(prod_plan, DEPLOYMENT, region)}
    ports = {}
    for svc in _objects(prod_plan, SERVICE, region):
        spec, name = svc["inputs"]["spec"], svc["inputs"]["metadata"]["name"]
        assert spec["type"] == "NodePort"
        assert _selects({"matchLabels": spec["selector"]}, deployments[name]["inputs"]["spec"]["template"]["metadata"]
                        ["labels"])
        [port] = spec["ports"]
        assert port["targetPort"] == "http"
        ports[name] = (port["port"], port["nodePort"])
    assert ports == {"predictor": (8080, 30000), "embedder": (8081, 30001)}
    assert prod_plan.outputs["services"] == [
        {"name": "predictor", "port": 8080, "nodePort": 30000, "replicas": 3},
        {"name": "embedder", "port": 8081, "nodePort": 30001, "replicas": 3},
    ]


def test_dr_declares_the_same_workload_without_waiting_for_pods(prod_plan: Plan) -> None:
    def shape(region: str) -> dict[str, Any]:
        return {d["inputs"]["metadata"]["name"]: (d["inputs"]["spec"]["replicas"],
                                                   _pod_spec(d)["containers"][0]["image"])
                for d in _objects(prod_plan, DEPLOYMENT, region)}

    assert shape("us-west-2") == shape("us-east-1") == {
        "predictor": (3, "public.ecr.aws/hastack/predictor:1.4.2"),
        "embedder": (3, "public.ecr.aws/hastack/embedder:2.0.1")}
    for d in _objects(prod_plan, DEPLOYMENT, "us-west-2"):
        assert d["inputs"]["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    for d in _objects(prod_plan, DEPLOYMENT, "us-east-1"):
        assert "annotations" not in d["inputs"]["metadata"]


@pytest.mark.parametrize(("region", "cluster"),
                         [("us-east-1", "hastack-prod-primary"), ("us-west-2", "hastack-prod-dr")])
def test_objects_go_to_their_regions_cluster(prod_plan: Plan, region: str, cluster: str) -> None:
    providers = {p["urn"]: p for p in prod_plan.of_type("pulumi:providers:kubernetes")}
    objects = [r for r in prod_plan.resources if r["type"].startswith("kubernetes:") and r["homeRegion"] == region]
    assert len(objects) >= 9  # namespace + 2 x (deployment, pdb, hpa, service)
    for r in objects:
        provider = providers[r["provider"].rsplit("::", 1)[0]]
        args = json.loads(provider["inputs"]["kubeconfig"])["users"][0]["user"]["exec"]["args"]
        assert args[args.index("--region") + 1] == region and args[args.index("--cluster-name") + 1] == cluster


def test_pure_helpers() -> None:
    assert [node_port(i) for i in range(3)] == [30000, 30001, 30002]
    with pytest.raises(ValueError, match="outside 30000-32767"):
        node_port(2768)
    assert min_available(3) == 2 and min_available(2) == 1
    with pytest.raises(ValueError, match="at least 2 replicas"):
        min_available(1)
    assert supports_sleep_action("1.30") and supports_sleep_action("1.33") and not supports_sleep_action("1.29")


@pytest.mark.parametrize(("image", "region", "expected"), [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/hastack/predictor@sha256:" + "a" * 64, "us-west-2",
     "123456789012.dkr.ecr.us-west-2.amazonaws.com/hastack/predictor@sha256:" + "a" * 64),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/ecr-public/hastack/predictor:1.4.2", "us-east-1",
     "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecr-public/hastack/predictor:1.4.2"),
    ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/p:1", "us-west-2",
     "123456789012.dkr.ecr-fips.us-west-2.amazonaws.com/p:1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/p:1", "cn-northwest-1",
     "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/p:1"),
    ("public.ecr.aws/hastack/predictor:1.4.2", "us-west-2", "public.ecr.aws/hastack/predictor:1.4.2"),
    ("docker.io/library/nginx:1.27", "us-west-2", "docker.io/library/nginx:1.27"),
])
def test_private_ecr_images_are_pulled_from_the_regions_own_registry(image: str, region: str, expected: str) -> None:
    assert regional_image(image, region) == expected


def test_dr_pods_pull_a_private_ecr_image_from_the_dr_registry(render_config: Any, prod_config: dict[str, Any]) -> None:
    digest = "sha256:" + "b" * 64
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    prod_config["hastack:services"][0]["image"] = f"{registry}/hastack/predictor@{digest}"
    plan = render_config(prod_config)
    images = {d["homeRegion"]: _pod_spec(d)["containers"][0]["image"] for d in plan.of_type(DEPLOYMENT)
              if d["inputs"]["metadata"]["name"] == "predictor"}
    assert images == {"us-east-1": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/hastack/predictor@{digest}",
                      "us-west-2": f"123456789012.dkr.ecr.us-west-2.amazonaws.com/hastack/predictor@{digest}"}


def test_workload_args_report_every_bad_argument_at_once() -> None:
    raw = {k.split(":", 1)[1]: v for k, v in read_stack_config("prod").items() if k.startswith("hastack:")}
    services = parse_config(raw).services
    WorkloadArgs(namespace="hastack", services=services, kubernetes_version="1.31", region="us-east-1",
                 await_rollout=True, cluster_name="hastack-test-primary")
    one_replica = services[0].model_copy(update={"replicas": 1})  # past the config's own check
    problems = invalid_arguments(lambda: WorkloadArgs(namespace="HA_stack", services=(one_replica,),
                                                      kubernetes_version="v1", region="us-east-1", await_rollout=True,
                                                      cluster_name="hastack-test-primary"))
    assert problems == [
        ("namespace", "'HA_stack' is invalid: a DNS label (lowercase letters, digits and '-')"),
        ("kubernetes_version", "'v1' is invalid: a major.minor version such as '1.31'"),
        ("services[0].replicas", "1 is invalid: at least 2 (the disruption budget keeps all but one)"),
    ]


@pytest.mark.parametrize("region", REGIONS)
def test_model_servers_get_aws_access_through_pod_identity_only(prod_plan: Plan, region: str) -> None:
    """Pods run as `model-server` (no API token); Pod Identity gives it a role that reads only the cache
    AUTH secret of its own region."""
    [account] = _objects(prod_plan, "kubernetes:core/v1:ServiceAccount", region)
    assert account["inputs"]["metadata"]["name"] == "model-server"
    assert account["inputs"]["automountServiceAccountToken"] is False
    for d in _objects(prod_plan, DEPLOYMENT, region):
        pod = _pod_spec(d)
        assert pod["serviceAccountName"] == "model-server" and pod["automountServiceAccountToken"] is False
        assert account["urn"] in d["dependencies"]
    [association] = [a for a in _workload(prod_plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
                     if a["region"] == region]
    cluster = {"us-east-1": "hastack-prod-primary", "us-west-2": "hastack-prod-dr"}[region]
    assert {k: association["inputs"][k] for k in ("clusterName", "namespace", "serviceAccount")} == {
        "clusterName": cluster, "namespace": "hastack", "serviceAccount": "model-server"}
    roles = {r["outputs"]["arn"]: r for r in prod_plan.of_type("aws:iam/role:Role")}
    role = roles[association["inputs"]["roleArn"]]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                      "Action": ["sts:AssumeRole", "sts:TagSession"]}]
    [policy] = [p for p in prod_plan.of_type("aws:iam/rolePolicy:RolePolicy")
                if p["parent"] == role["parent"] and p["region"] == region]
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    secret = f"arn:aws:secretsmanager:{region}:123456789012:secret:hastack-prod/cache/auth-token-??????"
    assert statements[0]["Resource"] == [secret]
    assert statements[0]["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
                                          "StringLike": {"kms:EncryptionContext:SecretARN": [secret]}}
