"""What the operator sees while the run goes: a live step list on a terminal, plain lines elsewhere.

Why two displays: on a TTY a live list with spinners and elapsed times shows at a glance which
branches are still running; in CI logs, `tee` or a pager, redrawing is noise, so every start and
finish is one timestamped line. Both are `Observer`s of the orchestrator and never decide anything.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from hastack.dr.report import STATUS_STYLE
from hastack.dr.runner import StepRecord


class PlainProgress:
    """One timestamped line per step start and finish (stderr when stdout carries JSON)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        with self._lock:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()

    def started(self, name: str, branch: str, at: float) -> None:
        self._line(f"[{branch}] {name} ...")

    def finished(self, record: StepRecord) -> None:
        self._line(f"[{record.branch}] {record.name} {record.status} ({record.duration:.1f}s): {record.sentence}")


class LiveProgress:
    """A rich live list of the plan's steps: spinner and elapsed time while running, result after."""

    def __init__(self, console: Console, clock_now: Any,
                 rows: list[tuple[str, str, str, str, tuple[str, ...]]]) -> None:
        self.console = console
        self.now = clock_now
        self._lock = threading.Lock()
        self.rows = {name: {"branch": branch, "what": what, "state": "pending", "start": None, "text": ""}
                     for name, _, branch, what, _ in rows}
        self._t0 = clock_now()
        self.live = Live(self, console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def started(self, name: str, branch: str, at: float) -> None:
        with self._lock:
            row = self.rows.setdefault(name, {"branch": branch, "what": name, "state": "pending", "text": ""})
            row.update(state="running", start=self.now())

    def finished(self, record: StepRecord) -> None:
        with self._lock:
            row = self.rows.setdefault(record.name, {"branch": record.branch, "what": record.name})
            row.update(state=record.status, text=record.sentence, duration=record.duration)

    def __rich__(self) -> Group:
        table = Table.grid(padding=(0, 1))
        for _ in range(5):
            table.add_column()
        with self._lock:
            rows = list(self.rows.items())
        for name, row in rows:
            state = row["state"]
            if state == "running":
                icon: Any = Spinner("dots")
                elapsed = f"{self.now() - row['start']:.0f}s"
                text = row["what"]
            elif state == "pending":
                icon, elapsed, text = Text("·", style="dim"), "", Text(row["what"], style="dim")
            else:
                icon = Text("✔" if state in ("done", "already", "planned") else "✖" if state in
                            ("failed", "refused") else "–", style=STATUS_STYLE.get(state, ""))
                elapsed, text = f"{row.get('duration', 0):.0f}s", row["text"]
            table.add_row(icon, Text(row["branch"], style="dim"), Text(name, style="bold"), elapsed, text)
        return Group(Text(f"elapsed {self.now() - self._t0:.0f}s", style="dim"), table)


class NullProgress:
    def started(self, name: str, branch: str, at: float) -> None:
        return None

    def finished(self, record: StepRecord) -> None:
        return None
