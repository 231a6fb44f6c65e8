"""How long `hastack local up` takes, on a fresh local AWS each run (the drill: `bench_drill.py`).

Figures, each the median of `--runs` (default 3: every run deploys the whole prod stack into moto,
~10 s each on a 2-core machine) with min and max:

* **local up** — start the local AWS (in-process moto + world layer, no data plane), deploy the
  prod stack into it (every AWS resource created through boto3, dependency order), write the
  outputs; server stop included, the inventory table not (it is printing, not deploying).

Run in a fresh interpreter, imports warmed by one render before timing (what `make bench` does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from timing import print_figure, seconds  # noqa: E402

from hastack.local.deploy import deploy, write_local_outputs  # noqa: E402
from hastack.local.server import InProcessServer  # noqa: E402
from hastack.plan.render import render  # noqa: E402


def local_up(build_dir: Path) -> None:
    with InProcessServer() as server:
        write_local_outputs(deploy("prod", server.endpoint), build_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    render("prod")  # warm the provider SDK imports: every command pays them once
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp)
        print_figure("local up --stack prod (deploy into moto)",
                     [seconds(lambda: local_up(build)) for _ in range(args.runs)], "s")


if __name__ == "__main__":
    main()
