"""Where the repository and its build output are: one place, importable without any SDK."""

from __future__ import annotations

from pathlib import Path

#: The repository root: `Pulumi.yaml`, `Pulumi.<stack>.yaml`, `__main__.py`, `policies/` live here.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Default directory for everything the CLI writes (plans, outputs, reports, local world state).
BUILD_DIR = REPO_ROOT / "build"
