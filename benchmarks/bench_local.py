"""How long `hastack local up` and `hastack drill region` take, on a fresh local AWS each run.

Figures, each the median of `--runs` (default 3: every run deploys the whole prod stack into moto,
~10 s each on a 2-core machine) with min and max:

* **local up** — start the local AWS (in-process moto + world layer), deploy the prod stack into it
  (every AWS resource created through boto3, dependency order), write the outputs; server stop
  included, the inventory table not (it is printing, not deploying).
* **drill region, latency profile none** — the whole drill: fresh local AWS, deploy, outage, the
  real DR scale-up at moto's speed, the AWS-side checks, report and picture.
* **drill region, latency profile aws** — the same drill on the DR command's simulated clock; the
  wall time is what the run costs here, the RTO it prints is in AWS's documented durations (and
  deterministic: it is reported once, not as a median).

Run in a fresh interpreter, imports warmed by one render before timing (what `make bench` does).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console  # noqa: E402

from hastack.local.deploy import deploy, write_local_outputs  # noqa: E402
from hastack.local.drill import DrillOptions, DrillResult, run_drill  # noqa: E402
from hastack.local.server import InProcessServer  # noqa: E402
from hastack.plan.render import render  # noqa: E402


def local_up(build_dir: Path) -> None:
    with InProcessServer() as server:
        write_local_outputs(deploy("prod", server.endpoint), build_dir)


def drill(build_dir: Path, profile: str) -> DrillResult:
    result = run_drill(DrillOptions(build_dir=build_dir, latency_profile=profile, show_inventory=False),
                       Console(file=io.StringIO()), progress=io.StringIO())
    if not result.passed:
        raise SystemExit(f"drill failed: {result.summary}")
    return result


def timed(label: str, runs: int, fn: Callable[[], object]) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    print(f"{label:<42} median {statistics.median(times):6.1f} s   (min {min(times):.1f}, max {max(times):.1f}, "
          f"{runs} runs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    render("prod")  # warm the provider SDK imports: every command pays them once
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp)
        timed("local up --stack prod (deploy into moto)", args.runs, lambda: local_up(build))
        timed("drill region --latency-profile none", args.runs, lambda: drill(build, "none"))
        start = time.perf_counter()
        aws = drill(build, "aws")
        print(f"{'drill region --latency-profile aws':<42} wall {time.perf_counter() - start:6.1f} s   "
              f"(1 run) -> {aws.rto_rpo_line()}", flush=True)


if __name__ == "__main__":
    main()
