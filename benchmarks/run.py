"""Run every benchmark (`benchmarks/bench_*.py`), each in its own subprocess, and print its figures.

Each benchmark runs in a fresh interpreter so that one cannot warm caches for the next; the exit
code is non-zero if any benchmark failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed: list[str] = []
    benches = sorted(HERE.glob("bench_*.py"))
    if not benches:
        print("no benchmarks found (benchmarks/bench_*.py)")
        return 1
    for bench in benches:
        print(f"== {bench.name}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(bench)], cwd=HERE.parent)
        print(f"== {bench.name}: {'ok' if result.returncode == 0 else f'FAILED (exit {result.returncode})'} "
              f"in {time.perf_counter() - start:.1f} s\n", flush=True)
        if result.returncode != 0:
            failed.append(bench.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
