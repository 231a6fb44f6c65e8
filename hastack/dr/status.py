"""`hastack dr status`: the DR topology in one read-only look.

Where traffic goes, the DB role in each region, the replica lag, node-group sizes per region, the
cache primary, the lock holder and the last journaled run. Reads that may hit a failed region use
the fast client profile, and a region that does not answer shows as "unreachable: ..." instead of
hanging the command — status is what an operator runs first in an outage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.dr import probes
from hastack.dr.aws import ClientFactory
from hastack.dr.journal import Journal
from hastack.dr.lock import DrLock
from hastack.dr.outputs import DrOutputs


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - shown to the operator, never a traceback
        return f"unreachable: {exc}"


def collect(o: DrOutputs, aws: ClientFactory) -> dict[str, Any]:
    """A JSON-able snapshot of the DR topology."""
    inverted = _safe(lambda: probes.switch_inverted(aws, o.dns.switch_health_check_id, fast=True))
    traffic = (o.dr_region if inverted is True else o.primary_region if inverted is False
               else f"unknown ({inverted})")
    databases = {}
    for inst in (o.database.primary, o.database.replica):
        fast = inst.region != o.dr_region
        described = _safe(lambda inst=inst, fast=fast: probes.db_instance(aws, inst.region, inst.identifier,
                                                                           fast=fast))
        role = described if isinstance(described, str) else probes.db_role(described)
        lag = None
        if isinstance(described, dict) and probes.is_replica(described):
            lag = _safe(lambda inst=inst: probes.replica_lag_seconds(aws, inst.region, inst.identifier))
        databases[inst.region] = {"identifier": inst.identifier, "role": role, "replicaLagSeconds": lag}
    node_groups: dict[str, list[dict[str, Any]]] = {}
    for region, groups in o.node_groups.items():
        rows = []
        for g in groups:
            found = _safe(lambda g=g, region=region: probes.node_group(aws, region, g.cluster_name, g.name))
            if isinstance(found, dict):
                mn, ds, mx = probes.scaling(found)
                rows.append({"name": g.name, "az": g.az, "status": found.get("status"), "min": mn, "desired": ds,
                             "max": mx})
            else:
                rows.append({"name": g.name, "az": g.az, "status": found or "absent"})
        node_groups[region] = rows
    datastore = _safe(lambda: probes.global_datastore(aws, o.dr_region, o.cache.global_datastore_id))
    cache_primary = probes.cache_primary_region(datastore) if isinstance(datastore, dict) else datastore
    lock = DrLock(aws, o.coordination.table_name, o.coordination.home_region, o.stack)
    holder = _safe(lock.holder)
    journal = _safe(lambda: _last_run(aws, o, lock))
    return {
        "stack": o.stack, "primaryRegion": o.primary_region, "drRegion": o.dr_region,
        "activeRegionInConfig": o.active_region, "trafficTo": traffic, "databases": databases,
        "nodeGroups": node_groups, "cachePrimaryRegion": cache_primary,
        "lockHolder": holder.describe() if hasattr(holder, "describe") else holder, "lastRun": journal,
    }


def _last_run(aws: ClientFactory, o: DrOutputs, lock: DrLock) -> dict[str, Any] | None:
    journal = Journal(aws, o.coordination.table_name, o.coordination.home_region, lock.key,
                      f"dr-journal#{o.stack}#scale-up",
                      read_only=True)
    journal.load()
    data = journal.previous
    if not data or not data.get("runs"):
        return None
    return {"lastRun": data["runs"][-1], "finished": data.get("finished"), "facts": data.get("facts", {})}


def print_status(snap: dict[str, Any], console: Console) -> None:
    console.print(f"stack {snap['stack']}: traffic -> [bold]{snap['trafficTo']}[/] "
                  f"(config activeRegion {snap['activeRegionInConfig']}); "
                  f"cache primary in {snap['cachePrimaryRegion']}",
                  highlight=False)
    db = Table(title="databases", title_justify="left")
    for col in ("region", "identifier", "role", "replica lag"):
        db.add_column(col, overflow="fold")
    for region, row in snap["databases"].items():
        lag = row["replicaLagSeconds"]
        db.add_row(region, row["identifier"], str(row["role"]), "-" if lag is None else f"{lag}")
    console.print(db)
    ng = Table(title="node groups", title_justify="left")
    for col in ("region", "name", "az", "status", "min/desired/max"):
        ng.add_column(col, overflow="fold")
    for region, rows in snap["nodeGroups"].items():
        for r in rows:
            sizes = f"{r['min']}/{r['desired']}/{r['max']}" if "desired" in r else "-"
            ng.add_row(region, r["name"], r["az"], str(r["status"]), sizes)
    console.print(ng)
    console.print(f"lock: {snap['lockHolder'] or 'free'}", highlight=False)
    last = snap.get("lastRun")
    if isinstance(last, dict):
        run = last["lastRun"]
        console.print(f"last scale-up run: {run.get('runId')} started {run.get('started')} "
                      f"({'finished' if last.get('finished') else 'did not finish'})", highlight=False)
