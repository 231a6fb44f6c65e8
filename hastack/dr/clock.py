"""Time and concurrency, injectable: the wall clock for real runs, a simulated one for the RTO model.

Why: the orchestrator measures every step and runs independent branches in parallel. Routing
`now`, `sleep` and "run these in parallel" through one object lets the simulation drive the
*real* orchestration code in virtual time — deterministically, in milliseconds — and measure the
RTO it would achieve given documented AWS durations.

`SimClock` is a discrete-event clock for threads: virtual time advances only when every
participating thread is asleep, and then jumps to the earliest wake-up. Threads started through
`run_parallel` are participants; the thread that waits for them is not (while it waits).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def run_parallel(self, fns: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run `fns` concurrently; return their results in order, re-raising the first error."""
        ...


class WallClock:
    """Real time; branches on real threads."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def run_parallel(self, fns: Sequence[Callable[[], Any]]) -> list[Any]:
        if len(fns) <= 1:
            return [fn() for fn in fns]
        with ThreadPoolExecutor(max_workers=len(fns), thread_name_prefix="dr-branch") as pool:
            futures = [pool.submit(fn) for fn in fns]
            return _collect(futures)


def _collect(futures: list[Any]) -> list[Any]:
    """Wait for all (no branch is abandoned half-way), then re-raise the first failure."""
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


class SimClock:
    """Deterministic virtual time shared by a set of participating threads (see module docstring)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._active: set[int] = {threading.get_ident()}
        self._wake: dict[int, float] = {}

    def now(self) -> float:
        with self._cond:
            return self._now

    def sleep(self, seconds: float) -> None:
        me = threading.get_ident()
        with self._cond:
            # A thread we do not know (a helper, e.g. a best-effort call in its own thread) takes part
            # only while it sleeps: it never holds time back once it runs on, or after it ended.
            visiting = me not in self._active
            if visiting:
                self._active.add(me)
            deadline = self._now + max(0.0, seconds)
            self._wake[me] = deadline
            self._advance()
            while self._now < deadline:
                self._cond.wait()
            del self._wake[me]
            if visiting:
                self._active.discard(me)
                self._advance()

    def _advance(self) -> None:
        # Called with the lock held: when every participant sleeps, jump to the earliest wake-up.
        if self._active and set(self._wake) >= self._active:
            target = min(self._wake[t] for t in self._active)
            if target > self._now:
                self._now = target
            self._cond.notify_all()

    def run_parallel(self, fns: Sequence[Callable[[], Any]]) -> list[Any]:
        parent = threading.get_ident()
        results: list[Any] = [None] * len(fns)
        errors: list[BaseException | None] = [None] * len(fns)
        started = threading.Barrier(len(fns) + 1)
        remaining = [len(fns)]

        def body(i: int, fn: Callable[[], Any]) -> None:
            me = threading.get_ident()
            with self._cond:
                self._active.add(me)
            started.wait()
            try:
                results[i] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
                errors[i] = exc
            finally:
                with self._cond:
                    self._active.discard(me)
                    self._wake.pop(me, None)
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        # The parent resumes at this very instant: it is a participant again
                        # before anyone can move time past it.
                        self._active.add(parent)
                    self._advance()

        if not fns:
            return []
        threads = [threading.Thread(target=body, args=(i, fn), name=f"sim-branch-{i}") for i, fn in enumerate(fns)]
        for t in threads:
            t.start()
        started.wait()  # every branch is a participant before the caller stops being one
        with self._cond:
            if remaining[0] > 0:
                self._active.discard(parent)
                self._advance()
        for t in threads:
            t.join()
        for error in errors:
            if error is not None:
                raise error
        return results
