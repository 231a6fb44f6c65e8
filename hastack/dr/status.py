"""`hastack dr status`: the DR topology in one read-only look, within `statusTimeoutSeconds`.

Status is what an operator runs first in an outage, so it must answer whatever is down: every read
runs at once in its own (daemon) thread with the one-attempt probe profile, the whole look is
bounded by `drTimeouts.statusTimeoutSeconds`, and whatever did not answer by then is shown as
"unreachable: …" — a hanging region costs the bound, not minutes. The command exits non-zero when
it read nothing at all.

What it shows: where clients are sent (the record resolved through the configured resolvers, and
the two traffic switches), the writers' lease (holder, epoch, since when) and what the lease store
survives, each region's database role and the replica's lag evidence (value and age), node-group
sizes, the cache primary, the DR lock's holder and the last run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.dr import evidence, probes
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Deployment
from hastack.dr.journal import decode
from hastack.dr.lease import LeaseStore
from hastack.dr.lock import DrLock
from hastack.dr.outputs import DrOutputs
from hastack.dr.traffic import Switches, answered_region

UNREACHABLE = "unreachable"


class Probe(ClientFactory):
    """The caller's factory, but every client in the one-attempt probe profile."""

    def __init__(self, base: ClientFactory) -> None:
        self.base = base
        self.critical = base.probe
        self.probe = base.probe

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        return self.base.client(service, region, probe=True, endpoint_url=endpoint_url)


def read_all(reads: dict[str, Callable[[], Any]], timeout: float) -> dict[str, Any]:
    """Run every read at once; after `timeout` seconds what has not answered is marked unreachable."""
    results: dict[str, Any] = {}
    lock = threading.Lock()

    def run(name: str, fn: Callable[[], Any]) -> None:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - shown to the operator, never a traceback
            value = {UNREACHABLE: str(exc)}
        with lock:
            results[name] = value

    threads = [threading.Thread(target=run, args=(n, f), name=f"status-{n}", daemon=True) for n, f in reads.items()]
    deadline = time.monotonic() + timeout
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        out = dict(results)
    for name in reads:
        out.setdefault(name, {UNREACHABLE: f"did not answer within {timeout:.0f} s"})
    return out


def _lease(aws: ClientFactory, dep: Deployment) -> dict[str, Any] | None:
    state = LeaseStore(aws, dep.coordination, dep.bounds.lease_seconds).read()
    if state is None:
        return None
    return {"holder": state.holder or None, "epoch": state.epoch, "leaseSeconds": state.lease_seconds,
            "changedAt": dt.datetime.fromtimestamp(state.changed_at, dt.UTC).isoformat(timespec="seconds"),
            "changedBy": state.changed_by, "reason": state.reason}


def _db(aws: ClientFactory, region: str, ident: str) -> dict[str, Any]:
    inst = probes.db_instance(aws, region, ident)
    return {"identifier": ident, "role": probes.db_role(inst)}


def _lag(aws: ClientFactory, o: DrOutputs, dep: Deployment) -> dict[str, Any]:
    ev = evidence.evidence(aws, o.dr_region, o.database.replica.identifier, dep.bounds.lag_evidence_max_age_seconds)
    latest = ev.latest
    return {"latestSeconds": None if latest is None else latest.lag,
            "ageSeconds": None if ev.age_seconds is None else round(ev.age_seconds),
            "unknown": ev.unknown_because(o.database.replica.identifier),
            "estimate": ev.describe()}


def _nodes(aws: ClientFactory, region: str, groups: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        found = probes.node_group(aws, region, g.cluster_name, g.name)
        if found is None:
            rows.append({"name": g.name, "az": g.az, "status": "absent"})
            continue
        mn, ds, mx = probes.scaling(found)
        rows.append({"name": g.name, "az": g.az, "status": found.get("status"), "min": mn, "desired": ds, "max": mx})
    return rows


def _dns(o: DrOutputs, dep: Deployment) -> dict[str, Any]:
    albs = {region: ing.alb_dns_name for region, ing in o.ingress.items()}
    region, answer = answered_region(o.dns.record_name, albs, dep.resolvers, dep.bounds.call_timeout_seconds)
    return {"answers": region, "answer": answer.describe()}


def _last_run(aws: ClientFactory, dep: Deployment) -> dict[str, Any] | None:
    coord = dep.coordination
    client = aws.client("dynamodb", coord.region)
    ptr = client.get_item(TableName=coord.table, Key={coord.key: {"S": coord.last_run_id}},
                          ConsistentRead=True).get("Item")
    if not ptr:
        return None
    run_id = ptr["runId"]["S"]
    item = client.get_item(TableName=coord.table, Key={coord.key: {"S": coord.journal_id(run_id)}},
                           ConsistentRead=True).get("Item")
    data = decode(item) if item else {"runId": run_id, "command": ptr.get("command", {}).get("S")}
    return {k: data.get(k) for k in ("runId", "command", "startedAt", "ended", "ok")}


def collect(o: DrOutputs, aws: ClientFactory, deployment: Deployment | None = None) -> dict[str, Any]:
    """A JSON-able snapshot; `readCount` says how many reads answered."""
    dep = deployment or Deployment.of(o)
    probe = Probe(aws)
    lock = DrLock(probe, dep.coordination, "dr status", dep.bounds.lock_ttl_seconds)
    reads: dict[str, Callable[[], Any]] = {
        "dns": lambda: _dns(o, dep),
        "switches": lambda: Switches(probe, dep.traffic, o.primary_region).states(),
        "lease": lambda: _lease(probe, dep),
        "lock": lambda: (lambda h: None if h is None else h.describe())(lock.holder()),
        "lastRun": lambda: _last_run(probe, dep),
        "replicaLag": lambda: _lag(probe, o, dep),
        "cachePrimaryRegion": lambda: probes.cache_primary_region(
            probes.global_datastore(probe, o.dr_region, o.cache.global_datastore_id)),
    }
    for inst in (o.database.primary, o.database.replica):
        reads[f"db:{inst.region}"] = lambda inst=inst: _db(probe, inst.region, inst.identifier)
    for region, groups in o.node_groups.items():
        reads[f"nodes:{region}"] = lambda region=region, groups=groups: _nodes(probe, region, list(groups))
    got = read_all(reads, dep.bounds.status_timeout_seconds)
    answered = sum(1 for v in got.values() if not (isinstance(v, dict) and UNREACHABLE in v))
    return {
        "stack": o.stack, "deployment": dep.identity, "primaryRegion": o.primary_region, "drRegion": o.dr_region,
        "activeRegionInConfig": o.active_region, "trafficControl": dep.traffic.mode,
        "dns": got["dns"], "switches": got["switches"], "lease": got["lease"],
        "leaseStore": dep.coordination.trade_off(o.primary_region),
        "databases": {inst.region: got[f"db:{inst.region}"] for inst in (o.database.primary, o.database.replica)},
        "replicaLag": got["replicaLag"], "cachePrimaryRegion": got["cachePrimaryRegion"],
        "nodeGroups": {region: got[f"nodes:{region}"] for region in o.node_groups},
        "lockHolder": got["lock"], "lastRun": got["lastRun"],
        "readCount": answered, "readTotal": len(got), "timeoutSeconds": dep.bounds.status_timeout_seconds,
    }


def _cell(value: Any) -> str:
    if isinstance(value, dict) and UNREACHABLE in value:
        return f"unreachable: {value[UNREACHABLE]}"
    return "-" if value is None else str(value)


def print_status(snap: dict[str, Any], console: Console) -> None:
    dns = snap["dns"]
    where = _cell(dns) if UNREACHABLE in dns else f"{dns['answers'] or 'neither ALB'} ({dns['answer']})"
    console.print(f"deployment {snap['deployment']} (stack {snap['stack']}): {snap['primaryRegion']} -> DR "
                  f"{snap['drRegion']}; clients are answered: {where}", highlight=False, soft_wrap=True)
    lease = snap["lease"]
    lease_text = _cell(lease) if lease is None or UNREACHABLE in lease else (
        f"held by {lease['holder']}" if lease["holder"] else "revoked") + f", epoch {lease['epoch']} since " \
        f"{lease['changedAt']} ({lease['reason']})"
    lines = [f"switches ({snap['trafficControl']}): {_cell(snap['switches'])}",
             f"lease: {lease_text}; {snap['leaseStore']}",
             f"replica lag: {_cell(snap['replicaLag'])}",
             f"cache primary: {_cell(snap['cachePrimaryRegion'])}",
             f"lock: {_cell(snap['lockHolder']) if snap['lockHolder'] else 'free'}",
             f"last run: {_cell(snap['lastRun'])}"]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    db = Table(title="databases", title_justify="left")
    for col in ("region", "identifier / role"):
        db.add_column(col, overflow="fold")
    for region, row in snap["databases"].items():
        db.add_row(region, _cell(row) if UNREACHABLE in row else f"{row['identifier']}: {row['role']}")
    console.print(db)
    ng = Table(title="node groups", title_justify="left")
    for col in ("region", "name", "az", "status", "min/desired/max"):
        ng.add_column(col, overflow="fold")
    for region, rows in snap["nodeGroups"].items():
        if isinstance(rows, dict):
            ng.add_row(region, _cell(rows), "", "", "")
            continue
        for r in rows:
            sizes = f"{r['min']}/{r['desired']}/{r['max']}" if "desired" in r else "-"
            ng.add_row(region, r["name"], r["az"], str(r["status"]), sizes)
    console.print(ng)
    console.print(f"read {snap['readCount']} of {snap['readTotal']} within {snap['timeoutSeconds']:g} s",
                  highlight=False)
