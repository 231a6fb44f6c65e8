"""Every Kubernetes manifest the plan writes is valid for the configured Kubernetes version.

Validation is offline: `kubernetes-validate` ships the API schemas of each version, and strict
mode rejects unknown fields (a typo such as `readinessProbes` would otherwise pass silently).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hastack.plan.render import Plan, read_stack_config, write_plan


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, prod_plan: Plan, staging_plan: Plan) -> Path:
    """A build directory with prod's and staging's plans written into it, in that order."""
    path = tmp_path_factory.mktemp("build")
    write_plan(prod_plan, path)
    write_plan(staging_plan, path)
    return path


def _manifests(build_dir: Path) -> list[Path]:
    return sorted((build_dir / "manifests").glob("*/*.yaml"))


def _version(stack: str) -> str:
    return str(read_stack_config(stack)["hastack:kubernetesVersion"])


def test_every_manifest_validates_against_the_configured_kubernetes_schema(build_dir: Path) -> None:
    stack_of_region = {"us-east-1": "prod", "us-west-2": "prod", "eu-west-1": "staging", "eu-central-1": "staging"}
    manifests = _manifests(build_dir)
    # Per region: the namespace, the model-server service account, 4 objects per service (prod 2, staging 1)
    # and the heartbeat's 3 (service account, Deployment, PodDisruptionBudget).
    assert len(manifests) == 2 * (2 + 4 * 2 + 3) + 2 * (2 + 4 * 1 + 3)
    for path in manifests:
        data = yaml.safe_load(path.read_text())
        version = _version(stack_of_region[path.parent.name])
        try:
            validated = kubernetes_validate.validate(data, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{path.relative_to(build_dir)} is invalid for Kubernetes {version} at {where}: {exc.message}")
        assert validated == version


def test_the_validator_rejects_a_broken_manifest(build_dir: Path) -> None:
    deployment: dict[str, Any] = yaml.safe_load((build_dir / "manifests/us-east-1/deployment-predictor.yaml")
                                                .read_text())
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, _version("prod"), strict=True)


def test_rendering_one_stack_keeps_the_other_stacks_manifests(build_dir: Path, prod_plan: Plan) -> None:
    regions = {p.parent.name for p in _manifests(build_dir)}
    assert regions == {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}
    stale = build_dir / "manifests/us-east-1/deployment-retired.yaml"
    stale.write_text("kind: Deployment\n")
    write_plan(prod_plan, build_dir)
    assert not stale.exists(), "re-rendering prod must drop manifests prod no longer declares"
    assert (build_dir / "manifests/eu-west-1/deployment-predictor.yaml").exists()
