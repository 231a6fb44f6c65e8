"""The run journal: what DR runs did, kept next to the lock in the stack's DynamoDB table.

Why a journal when every step derives "done" from AWS's actual state: a few facts cannot be read
back afterwards — the replica lag at the moment of promotion (the RPO actually paid), whether the
fence reached the primary, that a promotion was already *issued* (RDS still shows a replica while
it reboots; promoting twice would fail). Keeping them in the lock table (DR region) rather than on
the operator's laptop means a second operator on another host, re-running after a crash, sees
them too. A journal whose last run finished is closed: the next run starts a new one.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory


class Journal:
    """In-memory journal, persisted after every change when `store` is configured."""

    def __init__(self, aws: ClientFactory | None = None, table: str = "", region: str = "", key: str = "",
                 journal_id: str = "", read_only: bool = False) -> None:
        self.read_only = read_only  # a dry run reads the journal but never writes it
        self.aws, self.table, self.region, self.key, self.journal_id = aws, table, region, key, journal_id
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {"runs": [], "facts": {}, "steps": {}, "finished": False}
        self.previous: dict[str, Any] | None = None
        self.persist_error: str | None = None

    @property
    def stored(self) -> bool:
        return bool(self.aws and self.table and self.key)

    def load(self) -> None:
        """Read the stored journal; a finished one is kept as `previous` and a new one begins."""
        if not self.stored:
            return
        try:
            item = self.aws.client("dynamodb", self.region).get_item(  # type: ignore[union-attr]
                TableName=self.table, Key={self.key: {"S": self.journal_id}}, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            self.persist_error = f"could not read the DR journal: {exc}"
            return
        if not item:
            return
        data = json.loads(item.get("journal", {}).get("S", "{}"))
        self.previous = data
        if not data.get("finished"):
            self.data = {"runs": data.get("runs", []), "facts": data.get("facts", {}),
                         "steps": data.get("steps", {}), "finished": False}

    def begin(self, run_id: str, started: str, command: str) -> None:
        with self._lock:
            self.data["runs"].append({"runId": run_id, "started": started, "command": command})
        self.save()

    def fact(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self.data["facts"].get(name, default)

    def set_fact(self, name: str, value: Any) -> None:
        with self._lock:
            self.data["facts"][name] = value
        self.save()

    def record_step(self, name: str, status: str, sentence: str) -> None:
        with self._lock:
            self.data["steps"][name] = {"status": status, "sentence": sentence}
        self.save()

    def finish(self, finished: bool) -> None:
        with self._lock:
            self.data["finished"] = finished
        self.save()

    def save(self) -> None:
        if not self.stored or self.read_only:
            return
        with self._lock:
            body = json.dumps(self.data, sort_keys=True)
        try:
            self.aws.client("dynamodb", self.region).put_item(  # type: ignore[union-attr]
                TableName=self.table, Item={self.key: {"S": self.journal_id}, "journal": {"S": body}})
            self.persist_error = None
        except (ClientError, BotoCoreError) as exc:  # the run goes on; the report says the journal is stale
            self.persist_error = f"could not write the DR journal: {exc}"
