"""How long the offline plan takes, and how it grows with the number of services.

Two measurements, each the median of `--runs` (default 5) runs:

* **fresh subprocess** `python -m hastack plan -q --stack prod` — what `make plan` costs on a warm
  venv: interpreter start, imports of the provider SDKs, render, and writing the plan files. This is
  the headline figure (issue target: prod <= 2 s median on a 2-core machine).
* **in-process render** (`hastack.plan.render`, SDK imports already warm, nothing written) — the
  part that grows with the stack; it shows how render time scales without the fixed start-up cost.

The "10x services" config is prod's with each service copied ten times (new names and ports),
written to a temporary stack file and passed with `--config`.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_seconds  # noqa: E402

from hastack.plan.render import read_stack_config, render  # noqa: E402


def scaled_config(factor: int) -> dict[str, Any]:
    """Prod's config map with every service repeated `factor` times (unique names and ports)."""
    config = copy.deepcopy(read_stack_config("prod"))
    services = []
    for copy_index in range(factor):
        for service in config["hastack:services"]:
            clone = copy.deepcopy(service)
            clone["name"] = f"{service['name']}-{copy_index}"
            services.append(clone)
    for index, service in enumerate(services):
        service["port"] = 8080 + index
    config["hastack:services"] = services
    return config


def plan_subprocess(config_path: Path | None, build_dir: Path) -> Callable[[], None]:
    command = [sys.executable, "-m", "hastack", "plan", "-q", "--stack", "prod", "--build-dir", str(build_dir)]
    if config_path is not None:
        command += ["--config", str(config_path)]

    def run() -> None:
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` failed:\n{result.stderr}")

    return run


def report(label: str, figures: tuple[float, float, float], runs: int) -> None:
    median, low, high = figures
    print(f"  {label:<34} median {median:6.2f} s  (min {low:.2f}, max {high:.2f}, {runs} runs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (>= 5)")
    parser.add_argument("--factor", type=int, default=10, help="service multiplier for the scaled config")
    args = parser.parse_args()
    runs = max(args.runs, 5)

    prod = read_stack_config("prod")
    scaled = scaled_config(args.factor)
    n_prod, n_scaled = len(prod["hastack:services"]), len(scaled["hastack:services"])

    with tempfile.TemporaryDirectory(prefix="hastack-bench-") as tmp:
        tmp_path = Path(tmp)
        scaled_path = tmp_path / "Pulumi.prod-scaled.yaml"
        scaled_path.write_text(yaml.safe_dump({"config": scaled}, sort_keys=False))

        print(f"render prod ({n_prod} services) vs prod x{args.factor} ({n_scaled} services)")
        print("fresh subprocess `python -m hastack plan -q` (what `make plan` costs, warm venv):")
        sub_prod = median_seconds(plan_subprocess(None, tmp_path / "build-prod"), runs)
        report(f"prod ({n_prod} services)", sub_prod, runs)
        sub_scaled = median_seconds(plan_subprocess(scaled_path, tmp_path / "build-scaled"), runs)
        report(f"prod x{args.factor} ({n_scaled} services)", sub_scaled, runs)
        print(f"  ratio x{args.factor}/prod: {sub_scaled[0] / sub_prod[0]:.2f}x")

    print("in-process render (SDK imports warm, no files written):")
    render("prod")  # warm the imports once; not counted
    in_prod = median_seconds(lambda: render("prod"), runs)
    report(f"prod ({n_prod} services)", in_prod, runs)
    in_scaled = median_seconds(lambda: render("prod", config=scaled), runs)
    report(f"prod x{args.factor} ({n_scaled} services)", in_scaled, runs)
    print(f"  ratio x{args.factor}/prod: {in_scaled[0] / in_prod[0]:.2f}x")

    target = 2.0
    verdict = "meets" if sub_prod[0] <= target else "misses"
    print(f"target: prod median <= {target:.1f} s per `make plan` -> {verdict} ({sub_prod[0]:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
