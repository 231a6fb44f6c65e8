"""Shared by the data plane tests: a per-worker name and build dir, and small polling helpers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from hastack.local.dataplane import DataPlaneConfig
from hastack.paths import BUILD_DIR

#: Pid records and (when the server account can reach it) server data of the tests' data planes.
TEST_BUILD_DIR = BUILD_DIR / "test-dataplane"


def plane_config(tag: str, build_dir: Path = TEST_BUILD_DIR, **settings: object) -> DataPlaneConfig:
    """A config whose name is unique per test worker and tag (ports are allocated at start)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return DataPlaneConfig(name=f"t-{worker}-{tag}", build_dir=build_dir, **settings)  # type: ignore[arg-type]


def eventually(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> float:
    """Wait for `condition()`; return the seconds it took (AssertionError after `timeout`)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


def process_uid(pid: int) -> int:
    """The real uid of a running process (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")
