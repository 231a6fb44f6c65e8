"""The timing helpers every benchmark uses: median, min and max wall time of repeated runs, and the
CPU time of child processes (which other jobs on a shared machine barely disturb)."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from typing import Any


def seconds(action: Callable[[], Any]) -> float:
    """The wall time of one run of `action`, in seconds."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_seconds(action: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    """Run `action` `runs` times; return (median, min, max) of its wall time in seconds."""
    times = [seconds(action) for _ in range(runs)]
    return statistics.median(times), min(times), max(times)


def print_figure(label: str, values: list[float], unit: str, digits: int = 1) -> None:
    """One figure line: the median of the runs, with their min, max and count."""
    print(f"{label:<44} median {statistics.median(values):8.{digits}f} {unit}   (min {min(values):.{digits}f}, "
          f"max {max(values):.{digits}f}, {len(values)} runs)", flush=True)


def wall_and_child_cpu(action: Callable[[], Any]) -> tuple[float, float]:
    """One run of `action`, which runs and waits for child processes: (wall seconds, their CPU seconds).

    CPU time (user + system of the finished children) does not grow when other jobs share the cores,
    so it is the figure to compare on a busy machine; wall time is what a user waits.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = seconds(action)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
