"""The local world's data plane on its real servers: start time, write rate, loss and DR-writable time.

Figures, each the median of `--runs` (default 5 starts, 3 failovers) with min and max:

* **start** — PostgreSQL primary + streaming replica (streaming) and a Valkey primary + replica (in
  sync), ten link proxies, pid record written (the template cluster is made once, before timing);
* **stop** — every server stopped by pid, links closed, data removed;
* **write rate** — acknowledged writes a second sustained by one leased PostgreSQL writer (target 200/s),
  in an unplanned failover: the old region's writer until the cut, then the DR region's writer;
* **loss** — acknowledged writes lost, and the measured RPO, in an unplanned failover (`hang`) with the
  default 70 ms one-way link, counted by the checker against the promoted replica (cut at an instant
  at which acknowledged writes are provably still in the links: `Cut.UNREPLICATED`);
* **outage to DR writable** — from the cut to both DR replicas promoted, the lease wait (1.5 s) included;
* **loss over bare loopback** — the same failover with no link delay, cut just after a write was
  acknowledged (`Cut.WHILE_WRITING`; 0 on an idle machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from hastack.local.dataplane import DataPlane, DataPlaneConfig  # noqa: E402
from hastack.local.dataplane.scenarios import unplanned_failover  # noqa: E402

BUILD = REPO_ROOT / "build" / "bench-dataplane"


def figure(values: list[float], unit: str, digits: int = 2) -> str:
    return (f"{statistics.median(values):.{digits}f} {unit} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f}, {len(values)} runs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts to time (failovers: 3 at most)")
    args = parser.parse_args()
    config = DataPlaneConfig(name="bench", build_dir=BUILD)
    DataPlane(config).start().stop()  # the template cluster, made once

    starts, stops = [], []
    for _ in range(args.runs):
        plane = DataPlane(config).start()
        assert plane.started_in is not None
        starts.append(plane.started_in)
        stopping = time.perf_counter()
        plane.stop()
        stops.append(time.perf_counter() - stopping)
    print(f"start (PG primary + replica, Valkey pair, 10 links): {figure(starts, 's')}")
    print(f"stop (by pid, nothing left):                         {figure(stops, 's')}")

    rates, lost, rpo, writable = [], [], [], []
    for _ in range(min(3, args.runs)):
        with DataPlane(config) as plane:
            outcome = unplanned_failover(plane, "hang")
        rates.append(outcome.write_rate)
        lost.append(outcome.postgres.lost)
        rpo.append(outcome.postgres.rpo_seconds)
        writable.append(outcome.dr_writable_after_s)
        print(f"  {outcome.postgres.summary}")
    print(f"write rate (one leased writer, target 200/s):        {figure(rates, 'writes/s', 1)}")
    print(f"acknowledged writes lost, 70 ms link, hang:          {figure(lost, 'writes', 0)}")
    print(f"measured RPO, 70 ms link, hang:                      {figure(rpo, 's')}")
    print(f"outage to DR writable (lease wait 1.5 s included):   {figure(writable, 's')}")
    bare = []
    for _ in range(min(3, args.runs)):
        with DataPlane(config.model_copy(update={"one_way_delay_ms": 0.0})) as plane:
            bare.append(unplanned_failover(plane, "hang", cut="while-writing").postgres.lost)
    print(f"acknowledged writes lost, bare loopback (0 ms), hang: {figure(bare, 'writes', 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
