"""The write ledger: every write the workload attempted, with what its client was told.

An entry is `ok` (the server acknowledged the commit), `failed` (surely not done: refused by the
server, or never sent because no connection could be made), or `indeterminate` (sent, and the
connection hung or broke before an answer: it may or may not have been applied). Ids are unique
across every writer sharing one ledger, so the checker can tell rows that were never attempted.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One attempted write: its id, the writer, the server it was sent to, when, and the outcome."""

    id: int
    writer: str
    target: str
    sent_at: float  # wall-clock epoch seconds
    done_at: float
    outcome: Outcome
    error: str | None = None


class Ledger:
    """Thread-safe list of attempted writes, handing out unique ids."""

    def __init__(self, first_id: int = 1) -> None:
        self._ids = itertools.count(first_id)
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def new_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def record(self, entry: LedgerEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._entries)

    def last(self) -> LedgerEntry | None:
        with self._lock:
            return self._entries[-1] if self._entries else None

    def counts(self) -> dict[Outcome, int]:
        counted = Counter(entry.outcome for entry in self.entries())
        return {outcome: counted.get(outcome, 0) for outcome in Outcome}

    def dump(self, path: Path) -> Path:
        """Write the ledger as JSON lines (one entry a line), for a drill's report."""
        path.write_text("".join(json.dumps(asdict(entry)) + "\n" for entry in self.entries()))
        return path


def now() -> float:
    return time.time()
