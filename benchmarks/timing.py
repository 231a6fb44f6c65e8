"""The one timing helper every benchmark uses: median, min and max wall time of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(action: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    """Run `action` `runs` times; return (median, min, max) of its wall time in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)
