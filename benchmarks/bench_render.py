"""How long the offline plan takes, what its floor is, and how it grows with the number of services.

Measurements, each the median of `--runs` (default 5) runs:

* **fresh subprocess** `python -m hastack plan -q --stack prod` — what `make plan` costs on a warm
  venv: interpreter start, imports, render, FMEA and writing the plan files. The headline figure.
* **its floor**, measured in the same run: a fresh interpreter that imports only the Pulumi SDK
  modules the plan itself imports (pulumi, pulumi_aws, pulumi_kubernetes, pulumi_random; the list
  is taken from a `hastack plan` run). No plan can start faster than that.
* **the gap, phase by phase**: a fresh process doing what `hastack plan` does, timing each phase —
  the SDK imports, the CLI's own modules (typer, rich, config, policy runner), render (the program
  under the mock runtime, SDKs already loaded), files (plan, outputs, manifests) and FMEA (the
  policy pack's model). What is left is interpreter start and exit.
* **in-process render** (`hastack.plan.render`, SDK imports already warm, nothing written) — the
  part that grows with the stack; it shows how render time scales without the fixed start-up cost.

Every figure is given as wall time (what a user waits) and CPU time (user + system of the process
doing the work): on a 2-core machine shared with other jobs the wall time stretches with the load,
the CPU time hardly moves, so compare CPU figures across runs.

The "10x services" config is prod's with each service copied ten times (new names and ports),
written to a temporary stack file and passed with `--config`.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import seconds, wall_and_child_cpu  # noqa: E402

# hastack and the SDKs are imported inside the functions: the `--phases` run times their imports.


def scaled_config(factor: int) -> dict[str, Any]:
    """Prod's config map with every service repeated `factor` times (unique names and ports)."""
    from hastack.plan.render import read_stack_config

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
    return fresh(command)


#: The Pulumi SDK packages the program is built from (their import is the floor of any plan).
SDK_ROOTS = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random")
#: `python -m hastack <args>` that writes the names in `sys.modules` to a file when it exits.
AUDIT = ("import atexit, json, runpy, sys; path = sys.argv.pop(1); "
         "atexit.register(lambda: open(path, 'w').write(json.dumps(sorted(sys.modules)))); "
         "runpy.run_module('hastack', run_name='__main__', alter_sys=True)")
#: A fresh interpreter importing the modules listed in a file: the floor.
IMPORT_ONLY = "import importlib, sys; [importlib.import_module(m) for m in open(sys.argv[1]).read().split()]"


def sdk_modules_of_plan(build_dir: Path, modules_file: Path) -> list[str]:
    """The SDK modules a `hastack plan` run imports (from its `sys.modules`)."""
    subprocess.run([sys.executable, "-c", AUDIT, str(modules_file), "plan", "-q", "--stack", "prod", "--build-dir",
                    str(build_dir)], cwd=REPO_ROOT, capture_output=True, check=True)
    modules = [m for m in json.loads(modules_file.read_text()) if m.split(".")[0] in SDK_ROOTS]
    modules_file.write_text("\n".join(modules))
    return modules


def fresh(command: list[str]) -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` failed:\n{result.stderr}")
    return run


def phases(modules_file: Path, build_dir: Path) -> dict[str, list[float]]:
    """In this (fresh) process, what `hastack plan -q --stack prod` does, one timed phase at a time:
    phase -> [wall seconds, CPU seconds]."""
    import importlib

    times: dict[str, list[float]] = {}

    def timed(name: str, action: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        times[name] = [time.perf_counter() - wall, time.process_time() - cpu]
        return result

    def load_cli() -> Any:
        importlib.import_module("hastack.cli")  # the root command group, then the plan command's module
        return importlib.import_module("hastack.plan.cli")

    timed("sdk", lambda: [importlib.import_module(m) for m in modules_file.read_text().split()])
    cli = timed("cli", load_cli)
    plan = timed("render", lambda: cli.render("prod"))
    timed("files", lambda: cli.write_plan(plan, build_dir))
    timed("fmea", lambda: cli.write_fmea(plan.to_json(), cli.facts_for_stack("prod"), build_dir, None))
    return times


PHASES = {
    "sdk": "SDK imports (the floor's work, interpreter start excluded)",
    "cli": "CLI and hastack modules (typer, rich, config, policy runner, grpc)",
    "render": "render: the program under the mock runtime",
    "files": "files: plan JSON, outputs, Kubernetes manifests",
    "fmea": "FMEA: policy pack modules, availability model, fmea-prod.md",
}


def plan_floor_and_gap(runs: int, tmp_path: Path) -> tuple[float, float]:
    """Time `hastack plan`, its floor and its phases, interleaved run by run (the same machine load
    for all three); print them and what takes the gap. Returns the plan's (wall, CPU) medians."""
    modules_file = tmp_path / "sdk-modules.txt"
    modules = sdk_modules_of_plan(tmp_path / "build-audit", modules_file)
    roots = sorted({m.split(".")[0] for m in modules})
    plan = plan_subprocess(None, tmp_path / "build-prod")
    floor = fresh([sys.executable, "-c", IMPORT_ONLY, str(modules_file)])
    phase_command = [sys.executable, str(Path(__file__).resolve()), "--phases", str(modules_file), str(tmp_path / "b")]
    samples: dict[str, list[tuple[float, float]]] = {"plan": [], "floor": [], "phases": []}
    phase_runs: list[dict[str, list[float]]] = []

    def run_phases() -> None:
        done = subprocess.run(phase_command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        phase_runs.append(json.loads(done.stdout.strip().splitlines()[-1]))

    for _ in range(runs):
        samples["plan"].append(wall_and_child_cpu(plan))
        samples["floor"].append(wall_and_child_cpu(floor))
        samples["phases"].append(wall_and_child_cpu(run_phases))

    def med(key: str, i: int) -> float:
        return statistics.median(sample[i] for sample in samples[key])

    print(f"  {'':<44}{'wall':>8}{'CPU':>8}   (medians of {runs}, measured in turn)")
    print(f"  {'prod: `hastack plan -q`':<44}{med('plan', 0):8.2f}{med('plan', 1):8.2f} s")
    print(f"  {f'its floor: import {len(modules)} SDK modules':<44}{med('floor', 0):8.2f}{med('floor', 1):8.2f} s"
          f"   (a fresh interpreter importing only the modules of {', '.join(roots)} that the plan imports)")
    gap = (med("plan", 0) - med("floor", 0), med("plan", 1) - med("floor", 1))
    print(f"  {'gap (plan - floor)':<44}{gap[0]:8.2f}{gap[1]:8.2f} s")
    phase = {k: (statistics.median(r[k][0] for r in phase_runs), statistics.median(r[k][1] for r in phase_runs))
             for k in PHASES}
    print(f"  phase by phase, a fresh process doing the plan's work ({med('phases', 0):.2f} s wall, "
          f"{med('phases', 1):.2f} s CPU in all):")
    for key, label in PHASES.items():
        print(f"    {label:<70}{phase[key][0]:8.2f}{phase[key][1]:8.2f} s")
    rest = (max(0.0, med("phases", 0) - sum(w for w, _ in phase.values())),
            max(0.0, med("phases", 1) - sum(c for _, c in phase.values())))
    print(f"    {'interpreter start and exit':<70}{rest[0]:8.2f}{rest[1]:8.2f} s")
    parts = ("render", "cli", "fmea", "files")
    print(f"  the gap is taken by: {', '.join(f'{k} {phase[k][1]:.2f} s' for k in parts)} (CPU); "
          f"largest: {max(parts, key=lambda k: phase[k][1])}")
    return med("plan", 0), med("plan", 1)


def in_process_wall_and_cpu(action: Callable[[], Any]) -> tuple[float, float]:
    """One run of `action` in this process: (wall seconds, CPU seconds of this process)."""
    cpu = time.process_time()
    wall = seconds(action)
    return wall, time.process_time() - cpu


def report(label: str, samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Print the wall and CPU medians of `samples`; return them."""
    wall, cpu = statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)
    walls = [w for w, _ in samples]
    print(f"  {label:<44}{wall:8.2f}{cpu:8.2f} s   (wall min {min(walls):.2f}, max {max(walls):.2f}, "
          f"{len(samples)} runs)")
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (>= 5)")
    parser.add_argument("--factor", type=int, default=10, help="service multiplier for the scaled config")
    parser.add_argument("--phases", nargs=2, type=Path, metavar=("MODULES_FILE", "BUILD_DIR"),
                        help=argparse.SUPPRESS)  # internal: one timed run of the plan's phases, as JSON
    args = parser.parse_args()
    if args.phases:
        print(json.dumps(phases(*args.phases)))
        return 0
    runs = max(args.runs, 5)
    from hastack.plan.render import read_stack_config, render

    prod = read_stack_config("prod")
    scaled = scaled_config(args.factor)
    n_prod, n_scaled = len(prod["hastack:services"]), len(scaled["hastack:services"])

    with tempfile.TemporaryDirectory(prefix="hastack-bench-") as tmp:
        tmp_path = Path(tmp)
        scaled_path = tmp_path / "Pulumi.prod-scaled.yaml"
        scaled_path.write_text(yaml.safe_dump({"config": scaled}, sort_keys=False))

        print(f"render prod ({n_prod} services) vs prod x{args.factor} ({n_scaled} services)")
        print("fresh subprocess `python -m hastack plan -q` (what `make plan` costs, warm venv), next to its floor:")
        sub_prod = plan_floor_and_gap(runs, tmp_path)
        scaled_plan = plan_subprocess(scaled_path, tmp_path / "build-scaled")
        sub_scaled = report(f"prod x{args.factor} ({n_scaled} services): `hastack plan -q`",
                            [wall_and_child_cpu(scaled_plan) for _ in range(runs)])
        print(f"  ratio x{args.factor}/prod: {sub_scaled[1] / sub_prod[1]:.2f}x (CPU)")

    print(f"in-process render (SDK imports warm, no files written):{'wall':>8}{'CPU':>8}")
    render("prod")  # warm the imports once; not counted
    in_prod = report(f"prod ({n_prod} services)", [in_process_wall_and_cpu(lambda: render("prod"))
                                                  for _ in range(runs)])
    in_scaled = report(f"prod x{args.factor} ({n_scaled} services)",
                       [in_process_wall_and_cpu(lambda: render("prod", config=scaled)) for _ in range(runs)])
    print(f"  ratio x{args.factor}/prod: {in_scaled[1] / in_prod[1]:.2f}x (CPU)")

    target = 2.0
    verdict = "meets" if sub_prod[0] <= target else "misses"
    print(f"target: prod median <= {target:.1f} s per `make plan` -> {verdict} ({sub_prod[0]:.2f} s wall, "
          f"{sub_prod[1]:.2f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
