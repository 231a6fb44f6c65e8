"""What exists in an AWS account before the stack does: AWS managed IAM policies, the
organisation's ACM certificates — and moto's backends built ahead of the first call."""

from __future__ import annotations

import json
from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID

_AWS_POLICY_DATA: dict[str, Any] = {}


def ensure_aws_managed_policy(arn: str) -> None:
    """Make the AWS managed policy `arn` exist before a role attaches it, as it does in AWS.

    moto only knows them all (~1,300, seconds to load, for the whole process) or none; the local AWS
    adds the ones the program actually attaches, from moto's own copy of their documents.
    """
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    if not arn.startswith("arn:aws:iam::aws:policy/"):
        return
    backend = iam_backends[ACCOUNT_ID]["aws"]
    if arn in backend.managed_policies:
        return
    if not _AWS_POLICY_DATA:
        _AWS_POLICY_DATA.update(json.loads(aws_managed_policies_data))
    name = arn.rsplit("/", 1)[-1]
    if name in _AWS_POLICY_DATA:
        policy = AWSManagedPolicy.from_data(name, ACCOUNT_ID, backend.region_name, _AWS_POLICY_DATA[name])
        backend.managed_policies[policy.arn] = policy


def ensure_certificates(arns: list[str], domain: str) -> list[str]:
    """Issued ACM certificates with exactly these ARNs (the stack config names certificates the
    organisation already owns, as it names an existing hosted zone); returns the ARNs added."""
    from moto.acm.models import CertBundle, acm_backends

    added = []
    for arn in arns:
        region = arn.split(":")[3]
        backend = acm_backends[ACCOUNT_ID][region]
        if arn in backend._certificates:
            continue
        bundle = CertBundle.generate_cert(domain, ACCOUNT_ID, region)
        bundle.arn = arn
        bundle.status = "ISSUED"
        backend._certificates[arn] = bundle
        added.append(arn)
    return added


#: Services a deploy and a drill touch, warmed in the background when a server starts: moto
#: imports each service and builds its per-region backend on first use (EC2's alone takes seconds).
WARM_SERVICES = ("ec2", "iam", "kms", "rds", "eks", "elbv2", "autoscaling", "elasticache", "route53",
                 "cloudwatch", "sns", "dynamodb", "secretsmanager", "logs", "events", "sts", "acm")


def warm_backends(regions: list[str]) -> None:
    """Import moto's service modules and build their backends for `regions` (best effort)."""
    import importlib

    for service in WARM_SERVICES:
        try:
            module = importlib.import_module(f"moto.{service}.models")
            backends = getattr(module, f"{service}_backends")
            for region in regions:
                backends[ACCOUNT_ID]["aws" if service in ("iam", "route53") else region]
        except Exception:  # noqa: BLE001,S112 - a warm-up that fails only means a slower first call
            continue
