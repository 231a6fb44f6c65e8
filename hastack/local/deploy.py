"""`local up`'s deploy: the real program run against the local AWS, and the files it leaves.

Before the program runs, the hosted zone named by `hastack:dns.zoneName` is created: the program
looks it up (`aws.route53.get_zone`) as it would look up a zone the organisation already owns.
After it, `build/outputs-<stack>-local.json` holds the stack outputs in the format of
`pulumi stack output --json`, with moto's real ids — the file the DR command reads in a drill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hastack.local.moto_mocks import AwsClients, Failure, Fallback, MotoMocks
from hastack.local.server import WorldClient
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan, read_stack_config, render, stack_output_json


class LocalDeployError(Exception):
    """The program could not be deployed into the local AWS; the message lists every refusal."""


@dataclass
class LocalDeployment:
    """What `local up` deployed: the recorded plan (with moto's ids) and what was not modelled."""

    stack: str
    endpoint: str
    plan: Plan
    fallbacks: list[Fallback]
    created: int

    @property
    def outputs(self) -> dict[str, Any]:
        return self.plan.outputs

    def regions(self) -> list[str]:
        outs = self.plan.outputs
        regions = [outs.get("primaryRegion"), outs.get("drRegion")]
        return [r for r in regions if isinstance(r, str)]


def ensure_hosted_zone(clients: AwsClients, zone_name: str) -> str:
    """The id of the public hosted zone `zone_name`, created if the local AWS has none yet."""
    r53 = clients.get("route53", "us-east-1")
    wanted = zone_name.rstrip(".") + "."
    for zone in r53.list_hosted_zones_by_name(DNSName=wanted)["HostedZones"]:
        if zone["Name"] == wanted and not zone.get("Config", {}).get("PrivateZone"):
            return zone["Id"].split("/")[-1]
    created = r53.create_hosted_zone(Name=wanted, CallerReference=f"hastack-local-{wanted}",
                                     HostedZoneConfig={"Comment": "pre-existing zone (created by hastack local up)"})
    return created["HostedZone"]["Id"].split("/")[-1]


def _zone_name(raw: dict[str, Any]) -> str | None:
    dns = raw.get("hastack:dns")
    if isinstance(dns, str):
        dns = json.loads(dns)
    if isinstance(dns, dict) and dns.get("zoneName"):
        return str(dns["zoneName"])
    return None


def _certificate_arns(raw: dict[str, Any]) -> list[str]:
    ingress = raw.get("hastack:ingress")
    if isinstance(ingress, str):
        ingress = json.loads(ingress)
    arns = (ingress or {}).get("certificateArns") or {} if isinstance(ingress, dict) else {}
    return [str(a) for a in arns.values()]


def deploy(stack: str, endpoint: str, config: dict[str, Any] | None = None, root: Path = REPO_ROOT) -> LocalDeployment:
    """Run the program for `stack` against the local AWS at `endpoint`; raise LocalDeployError on refusals."""
    raw = config if config is not None else read_stack_config(stack, root)
    clients = AwsClients(endpoint)
    world = WorldClient(endpoint)
    regions = [str(raw[k]) for k in ("hastack:primaryRegion", "hastack:drRegion") if raw.get(k)]
    world.set_world(warm=regions)  # moto builds its backends on the server while the program starts
    zone = _zone_name(raw)
    if zone:
        ensure_hosted_zone(clients, zone)
    world.ensure_certificates(_certificate_arns(raw), zone or "example.com")
    default_region = str(raw.get("aws:region") or raw.get("hastack:primaryRegion") or "us-east-1")
    mocks = MotoMocks(default_region, clients)
    plan = render(stack, root, config=raw, mocks=mocks)
    if mocks.failures:
        raise LocalDeployError(render_failures(mocks.failures))
    return LocalDeployment(stack=stack, endpoint=endpoint, plan=plan, fallbacks=list(mocks.fallbacks),
                           created=len(mocks.created))


def render_failures(failures: list[Failure]) -> str:
    lines = [f"the local AWS refused {len(failures)} resource(s):"]
    lines += [f"  - {f.type} {f.name!r} in {f.region}: {f.error}" for f in failures]
    return "\n".join(lines)


def local_outputs_path(build_dir: Path, stack: str) -> Path:
    return build_dir / f"outputs-{stack}-local.json"


def write_local_outputs(deployment: LocalDeployment, build_dir: Path) -> Path:
    """build/outputs-<stack>-local.json in the `pulumi stack output --json` format."""
    build_dir.mkdir(parents=True, exist_ok=True)
    path = local_outputs_path(build_dir, deployment.stack)
    path.write_text(json.dumps(stack_output_json(deployment.outputs), indent=2) + "\n")
    return path


def fallback_summary(fallbacks: list[Fallback]) -> list[tuple[str, int, str]]:
    """(type, count, reason) per type answered offline, most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for f in fallbacks:
        counts[(f.type, f.reason)] = counts.get((f.type, f.reason), 0) + 1
    rows = [(typ, n, reason) for (typ, reason), n in counts.items()]
    return sorted(rows, key=lambda r: (-r[1], r[0]))
