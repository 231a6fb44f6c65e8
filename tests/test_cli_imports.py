"""A sub-command imports only its own modules, and each package keeps to what its docstring allows.

Why: `hastack plan` runs on every `make plan`/`make policy` and in CI, and `hastack dr` runs at 3 a.m.;
neither should pay for (or break on) the other's dependencies. The runtime checks run each command
in a fresh interpreter that writes `sys.modules` (every module the process imported) when it exits;
the static check reads every `import` of a package (module-level and inside functions) against the
`Never imports:` line of the package's docstring.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from hastack.paths import REPO_ROOT

PACKAGES = ("hastack.plan", "hastack.policy", "hastack.dr", "hastack.local", "hastack.local.world")


#: `python -m hastack <args>`, writing the names in `sys.modules` to a file when the process exits.
AUDIT = ("import atexit, json, runpy, sys; path = sys.argv.pop(1); "
         "atexit.register(lambda: open(path, 'w').write(json.dumps(sorted(sys.modules)))); "
         "runpy.run_module('hastack', run_name='__main__', alter_sys=True)")


def imported_modules(*args: str) -> tuple[int, set[str]]:
    """Run `hastack <args>` in a fresh process: its exit code and every module it imported."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "modules.json"
        done = subprocess.run([sys.executable, "-c", AUDIT, str(report), *args], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=300, check=False)
        assert report.is_file(), f"no module report from {args}: {done.stderr[-2000:]}"
        return done.returncode, set(json.loads(report.read_text()))


def loaded(modules: set[str], *roots: str) -> set[str]:
    return {m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)}


def test_plan_imports_neither_the_dr_command_nor_the_local_aws(tmp_path: Path) -> None:
    code, modules = imported_modules("plan", "--stack", "prod", "--quiet", "--build-dir", str(tmp_path))
    assert code == 0 and (tmp_path / "plan-prod.json").is_file()
    assert {"pulumi_aws", "pulumi_kubernetes", "hastack.plan.render"} <= modules  # the audit sees the program
    assert loaded(modules, "hastack.dr", "hastack.local", "boto3", "botocore", "moto") == set()


def test_dr_command_imports_no_pulumi_sdk(tmp_path: Path) -> None:
    code, modules = imported_modules("dr", "status", "--stack", "prod", "--outputs", str(tmp_path / "missing.json"))
    assert code == 2  # the outputs file is missing: a user error, after the command's modules were loaded
    assert {"hastack.dr.cli", "hastack.dr.status", "boto3"} <= modules
    assert loaded(modules, "pulumi_aws", "pulumi_kubernetes", "hastack.plan", "hastack.policy", "hastack.local",
                  "moto") == set()


@pytest.mark.parametrize(("args", "forbidden"), [
    (("policy", "check", "--help"), ("hastack.dr", "hastack.local", "boto3", "moto", "pulumi_aws")),
    (("drill", "db-failover", "--help"), ("hastack.local", "hastack.plan", "moto", "pulumi_aws")),
    (("plan", "--help"), ("hastack.dr", "hastack.local", "boto3", "moto")),
], ids=["policy", "drill-db", "plan"])
def test_a_subcommand_help_loads_only_that_subcommand(args: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    code, modules = imported_modules(*args)
    assert code == 0
    assert loaded(modules, *forbidden) == set()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_nothing_its_docstring_forbids(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    rule = next((line for line in doc.splitlines() if line.startswith("Never imports:")), None)
    assert rule, f"{package}'s docstring has no 'Never imports:' line"
    forbidden = [name.strip(" .") for name in rule.split(":", 1)[1].split(",")]
    directory = REPO_ROOT.joinpath(*package.split("."))
    offending = sorted(f"{path.relative_to(REPO_ROOT)} imports {name}"
                       for path in directory.glob("*.py") for name in _imports(path)
                       if any(name == f or name.startswith(f + ".") for f in forbidden))
    assert offending == []
