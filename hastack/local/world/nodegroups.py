"""EKS managed node groups run an Auto Scaling group; moto's only name one.

A node group's group is created with it (`auto_scaling_group_params`, used by `local up` and by
the seeded world alike), attached to the region's target groups; when `UpdateNodegroupConfig`
succeeds, `resize_nodegroup_asgs` applies the new sizes to it, and moto's Auto Scaling launches or
terminates instances and (de)registers them in the attached target groups — which is what makes
DR target groups turn healthy after a scale-up.
"""

from __future__ import annotations

from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID


def auto_scaling_group_params(asg_name: str, cluster: str, nodegroup: str, subnet_ids: list[str],
                              min_size: int, max_size: int, desired_size: int,
                              launch_template: dict[str, Any] | None,
                              target_group_arns: list[str] | None = None) -> dict[str, Any]:
    """`CreateAutoScalingGroup` arguments of the group EKS runs behind a managed node group."""
    params: dict[str, Any] = {
        "AutoScalingGroupName": asg_name, "VPCZoneIdentifier": ",".join(subnet_ids),
        "MinSize": min_size, "MaxSize": max_size, "DesiredCapacity": desired_size,
        "Tags": [{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in
                 {"eks:cluster-name": cluster, "eks:nodegroup-name": nodegroup}.items()],
    }
    if launch_template and (launch_template.get("id") or launch_template.get("name")):
        spec = {"LaunchTemplateId": launch_template.get("id"), "LaunchTemplateName": launch_template.get("name"),
                "Version": str(launch_template.get("version") or "$Default")}
        params["LaunchTemplate"] = {k: v for k, v in spec.items() if v is not None}
    else:
        params["MixedInstancesPolicy"] = {"LaunchTemplate": {"LaunchTemplateSpecification": {}}}
    if target_group_arns:
        params["TargetGroupARNs"] = list(target_group_arns)
    return params


def resize_nodegroup_asgs(region: str, nodegroup: Any) -> None:
    """Apply a node group's scaling config to its Auto Scaling group(s) (what EKS does)."""
    from moto.autoscaling.models import autoscaling_backends

    scaling = getattr(nodegroup, "scaling_config", None) or {}
    backend = autoscaling_backends[ACCOUNT_ID][region]
    for ref in (getattr(nodegroup, "resources", None) or {}).get("autoScalingGroups", []):
        asg = backend.autoscaling_groups.get(ref.get("name"))
        if asg is None:
            continue
        if scaling.get("maxSize") is not None:
            asg.max_size = int(scaling["maxSize"])
        if scaling.get("minSize") is not None:
            asg.min_size = int(scaling["minSize"])
        if scaling.get("desiredSize") is not None:
            asg.set_desired_capacity(int(scaling["desiredSize"]))
            backend.update_attached_target_groups(asg.name)
