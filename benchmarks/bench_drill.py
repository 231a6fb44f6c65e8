"""`hastack drill region` with the real data plane: wall time, write rate, outage to DR writable, loss.

Every run is a whole drill on a fresh local AWS and data plane (deploy ~10 s on a 2-core machine),
with the prod stack's own config (15 s lease: the fence waits it out for real with latency profile
none). Figures, each the median of `--runs` (default 3) with min and max:

* **wall time** — the whole drill: fresh local AWS + data plane, deploy, writers, outage (`hang`),
  the real DR scale-up, the AWS-side checks, the checker, report and picture;
* **write rate** — acknowledged database writes a second sustained by the primary region's writer
  from its start to the cut (it aims for 200/s; the DR writer's rate after the grant is printed too);
* **outage to DR writable** — wall seconds from the cut of the primary region's links to the first
  write acknowledged by the promoted DR database (lease wait, promotion, grant and the DR writer's
  next renewal included), on the real servers;
* **loss** — acknowledged writes lost and the measured RPO (the checker against the promoted
  database), beside the RPO gate's estimate;
* **latency profile aws** — one run on the DR command's simulated clock: its wall time, and the
  modelled RTO with the measured RPO (the line `make demo` ends with);
* **failback** — one `drill region --failback` run with the prod stack's bounds (15 s lease, 120 s
  DNS drain, CloudWatch's 60 s alarm period): the way back's wall time and the acknowledged writes
  it lost (0 is the promise), with writers throughout.

Run in a fresh interpreter, imports warmed by one render before timing (what `make bench` does).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console  # noqa: E402
from timing import print_figure  # noqa: E402

from hastack.local.drill import DrillOptions, DrillResult, run_drill  # noqa: E402
from hastack.plan.render import render  # noqa: E402


def drill(build_dir: Path, profile: str, failback: bool = False) -> tuple[DrillResult, float]:
    start = time.perf_counter()
    result = run_drill(DrillOptions(build_dir=build_dir, latency_profile=profile, outage="hang",
                                    show_inventory=False, failback=failback),
                       Console(file=io.StringIO()), progress=io.StringIO())
    if not result.passed:
        raise SystemExit(f"drill failed: {result.summary}")
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    render("prod")  # warm the provider SDK imports: every command pays them once
    walls, rates, dr_rates, writable, lost, rpo, estimate = [], [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            result, wall = drill(Path(tmp), "none")
            assert result.workload is not None and result.measured is not None
            walls.append(wall)
            rates.append(result.workload.primary_rate)
            dr_rates.append(result.workload.dr_rate)
            writable.append(result.workload.outage_to_dr_writable_seconds or float("nan"))
            lost.append(float(result.measured.lost))
            rpo.append(result.measured.rpo_seconds)
            estimate.append(result.rpo_estimate_seconds or float("nan"))
        print_figure("drill region (none, data plane): wall time", walls, "s")
        print_figure("primary writer, acknowledged writes/s", rates, "/s")
        print_figure("DR writer after the grant, writes/s", dr_rates, "/s")
        print_figure("outage -> DR writable (real servers)", writable, "s", 2)
        print_figure("acknowledged writes lost (70 ms link)", lost, "writes", 0)
        print_figure("measured RPO", rpo, "s", 3)
        print_figure("RPO gate's estimate at the promotion", estimate, "s", 1)
        aws, wall = drill(Path(tmp), "aws")
        print(f"{'drill region (aws, data plane): wall time':<44} {wall:8.1f} s   (1 run) -> {aws.rto_rpo_line()}",
              flush=True)
        back, wall = drill(Path(tmp), "none", failback=True)
        assert back.failback is not None
        print(f"{'drill region --failback: wall time':<44} {wall:8.1f} s   (1 run) -> {back.failback.line()}",
              flush=True)


if __name__ == "__main__":
    main()
