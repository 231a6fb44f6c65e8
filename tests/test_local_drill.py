"""The local AWS end to end: the real program deployed into moto, then a regional failover drill.

Each test pays for one fresh local AWS (deploy ~10 s), so each runs a whole story and checks it
from several sides: what moto holds after `local up` against what the offline plan says, then the
drill's end state, report and picture; and a drill whose replica is too far behind must stop
before promoting and say why.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from rich.console import Console
from typer.testing import CliRunner

from hastack.cli import app
from hastack.local.drill import DrillOptions, DrillResult, run_drill
from hastack.local.inventory import Inventory
from hastack.plan.render import Plan, read_stack_config


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def _check_deployed_world(inv: Inventory, plan: Plan, local_outputs: dict[str, Any]) -> None:
    outputs = plan.outputs
    for region in (outputs["primaryRegion"], outputs["drRegion"]):
        ri = inv.regions[region]
        public = sorted(az for az, row in ri.azs.items() if row.public_subnets == 1)
        private = sorted(az for az, row in ri.azs.items() if row.private_subnets == 1)
        nat = sorted(az for az, row in ri.azs.items() if row.nat_gateways == 1)
        assert len(public) == len(private) == len(nat) == 3, f"{region}: subnets/NAT per AZ {ri.azs}"
        assert public == private == nat, f"{region}: one public subnet, private subnet and NAT in each of 3 AZs"
        planned = {ng["az"]: ng for ng in outputs["nodeGroups"][region]}
        in_moto = {ng["azs"][0]: ng for ng in ri.node_groups}
        assert sorted(in_moto) == sorted(planned) == nat, f"{region}: one node group per AZ"
        for az, ng in planned.items():
            got = in_moto[az]
            assert (got["min"], got["desired"], got["max"]) == (ng["minSize"], ng["desiredSize"], ng["maxSize"]), az
            assert got["azs"] == [az], f"{got['name']} spans {got['azs']}"
    primary, dr = outputs["primaryRegion"], outputs["drRegion"]
    writer = inv.regions[primary].databases
    assert [(d["role"], d["multiAz"]) for d in writer] == [("primary", True)], writer
    replica = inv.regions[dr].databases
    assert len(replica) == 1 and replica[0]["role"] == f"replica of {writer[0]['id']}", replica
    assert replica[0]["az"].startswith(dr), "the cross-region replica lives in the DR region"
    records = {r["failover"]: r for r in inv.records if r["name"] == outputs["dns"]["recordName"]}
    assert set(records) == {"PRIMARY", "SECONDARY"}, inv.records
    for role, region in (("PRIMARY", primary), ("SECONDARY", dr)):
        assert records[role]["healthCheckId"], f"the {role} record has a health check"
        assert records[role]["target"] == local_outputs["ingress"][region]["albDnsName"], role
    # Same outputs contract as the offline plan, but moto's real objects behind it.
    assert set(local_outputs) == set(outputs)
    assert local_outputs["ingress"][primary]["albDnsName"] != outputs["ingress"][primary]["albDnsName"]
    checks = {c["id"]: c for c in inv.health_checks}
    assert local_outputs["dns"]["switchHealthCheckId"] in checks
    # The traffic switches: CLOUDWATCH_METRIC checks on alarms in the DR region, gates on the records.
    tc = local_outputs["trafficControl"]
    ids = tc["healthCheckIds"]
    assert {checks[ids[k]]["type"] for k in ("primarySwitch", "drReady")} == {"CLOUDWATCH_METRIC"}
    assert (records["PRIMARY"]["healthCheckId"], records["SECONDARY"]["healthCheckId"]) == (
        ids["primaryGate"], ids["secondaryGate"])
    assert tc["region"] == dr and tc["cloudwatchAlarm"]["primaryFenced"]["alarmName"].endswith("-primary-fenced")
    assert local_outputs["coordination"]["tableName"] in inv.regions[dr].tables
    assert local_outputs["coordination"]["tableName"] in inv.regions[primary].tables, \
        "the lease table is an MRSC global table: one table through the DR home and the primary's replica"


def _check_failover(drill: DrillResult, report: dict[str, Any]) -> None:
    failed = [f"{v.check}: {v.detail}" for v in drill.verdicts if not v.ok]
    assert drill.passed, f"{drill.summary} {failed}"
    assert [v.check for v in drill.verdicts] == [
        "DR database standalone, Multi-AZ, prod class", "DR node groups at prod size", "DR target groups healthy",
        "traffic switches set for DR", "DNS answers with the DR load balancer", "writers' lease held by DR",
        "cache primary in DR", "DR lock released"]
    assert drill.rpo_seconds == 2.0, "the estimated loss: the replica replicating 2 s behind when the primary stopped"
    assert drill.rto_seconds is not None and drill.rto_seconds < drill.outputs.rto_budget_seconds
    assert drill.rto_rpo_line().startswith("RTO ") and "RPO 2.0 s" in drill.rto_rpo_line()
    steps = {b.name: b for b in drill.phases}
    assert steps["lease-expired"].end <= min(steps[n].start for n in ("promote-db", "cache-failover", "scale-nodes")), \
        "the primary is fenced before anything is promoted"
    assert steps["dr-ready"].start >= max(steps[n].end for n in ("db-serving", "cache-failover", "compute-ready"))
    assert report["passed"] is True and report["rtoRpo"] == drill.rto_rpo_line()
    assert [c["ok"] for c in report["verification"]] == [True] * 8
    assert report["outage"]["worldConcessions"] == {}, "Route 53's API dark, planned cache failover refused"
    unmodelled = {u["type"]: u["reason"] for u in report["notModelledByMoto"]}
    assert "manifest" in unmodelled["kubernetes:apps/v1:Deployment"], "Kubernetes objects are listed with why"
    # AWS types moto can't create are the known, documented gaps (docs/local.md), none off the DR path.
    known_gaps = {"aws:cloudwatch/compositeAlarm:CompositeAlarm", "aws:eks/addon:Addon",
                  "aws:eks/podIdentityAssociation:PodIdentityAssociation"}
    assert {t for t in unmodelled if t.startswith("aws:")} <= known_gaps, unmodelled
    svg = ElementTree.parse(drill.svg_path).getroot()
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find("{http://www.w3.org/2000/svg}title")
            is not None]
    assert len(bars) == len(drill.phases), "one bar per step in the Gantt chart"


def short_lease() -> dict[str, Any]:
    """prod's config with a 3 s lease: the drill waits the lease out for real (latency profile none)."""
    config = read_stack_config("prod")
    config["hastack:dr"] = {**config.get("hastack:dr", {}), "leaseSeconds": 3, "leaseRenewSeconds": 1}
    return config


def test_local_up_then_regional_drill_fails_over(tmp_path: Path, prod_plan: Plan) -> None:
    drill = run_drill(DrillOptions(build_dir=tmp_path, show_inventory=False, outage="hang", config=short_lease()),
                      _quiet(), progress=io.StringIO())
    local_outputs = json.loads((tmp_path / "outputs-prod-local.json").read_text())
    assert drill.inventory_before is not None
    _check_deployed_world(drill.inventory_before, prod_plan, local_outputs)
    _check_failover(drill, json.loads((tmp_path / "drill-prod.json").read_text()))


def test_drill_stops_before_promoting_when_replica_lag_exceeds_rpo(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["drill", "region", "--stack", "prod", "--replica-lag", "120",
                                      "--build-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "drill stopped before promoting" in text
    assert "estimated data loss 120 s" in text and "over the 60 s RPO budget" in text
    report = json.loads((tmp_path / "drill-prod.json").read_text())
    assert report["passed"] is False and report["rtoSeconds"] is None
    assert {c["check"]: c["ok"] for c in report["verification"]} == {
        "DR database still a replica (not promoted)": True, "DR not declared ready": True,
        "DR lock released": True}
    statuses = {s["step"]: s["status"] for s in report["timeline"]}
    assert statuses["readiness"] == "refused" and statuses["promote-db"] == "skipped"
