"""Packaging: `.venv/bin/hastack` exists, runs this checkout's code, and the wheel holds exactly the CLI.

`make` installs the checkout editable (Makefile: `pip install --no-build-isolation -e .`), so the
command on PATH never runs a stale copy; the distribution is the `hastack` package with its data,
while the Pulumi program (`__main__.py`, `components/`) and the policy pack (`policies/`) run from the
repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from hastack.paths import REPO_ROOT

VENV_BIN = Path(sys.executable).parent


def test_the_venv_has_the_hastack_command_and_it_works_from_anywhere(tmp_path: Path) -> None:
    command = VENV_BIN / "hastack"
    assert command.is_file(), f"{command} is missing: run `make venv` (it installs the checkout editable)"
    done = subprocess.run([str(command), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    for group in ("plan", "policy", "dr", "drill", "local"):
        assert f" {group} " in done.stdout


def test_the_installed_package_is_this_checkout_not_a_copy(tmp_path: Path) -> None:
    """An editable install: what `.venv/bin/hastack` imports are the files in this repository."""
    probe = "import hastack, hastack.catalog.instance_types as c; print(hastack.__file__); print(c.CATALOG_PATH)"
    done = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    package, catalog = done.stdout.split()
    assert Path(package).resolve() == REPO_ROOT / "hastack" / "__init__.py"
    assert Path(catalog).resolve() == REPO_ROOT / "hastack" / "catalog" / "aws-instance-types.json"


def test_every_directory_of_the_package_is_a_package() -> None:
    """`packages.find` includes only directories with an `__init__.py`: a module elsewhere would be left out."""
    missing = sorted(str(d.relative_to(REPO_ROOT)) for d in (REPO_ROOT / "hastack").rglob("*")
                     if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
                     and not (d / "__init__.py").is_file())
    assert missing == []


def test_the_wheel_is_the_cli_package_with_its_data(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "hastack", source / "hastack", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("hastack-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"hastack", next(n for n in top if n.endswith(".dist-info"))}
    packaged = {str(Path(n).parent) for n in names if n.endswith("/__init__.py")}
    expected = {str(p.parent.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "hastack").rglob("__init__.py")}
    assert packaged == expected
    assert "hastack/catalog/aws-instance-types.json" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "hastack = hastack.cli:main" in entry_points
