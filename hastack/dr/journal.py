"""One journal per run: the facts a run cannot read back from AWS, kept in the coordination table.

Why a journal when every step derives "done" from AWS's actual state: a few facts cannot be read
back afterwards — that a promotion was already *issued* (RDS still shows a replica while it
reboots; promoting twice fails), the evidence the RPO gate saw, the moment the fence held. Keeping
them in the coordination table (the DR region) rather than on the operator's laptop means a
second operator on another host, re-running after a crash, sees them too.

The journal belongs to one run (`journal#<deployment>#<runId>`): it is read only after the lock is
held, written only while holding it, and every write is conditional on `ownerRunId = me`. A run
that took over the lock of a crashed run of the same command resumes that run's facts (the lock
item names it); a run that *ended* — finished or refused — is history: its facts never skip a
later incident's gates. `last-run#<deployment>` points at the latest run, for `hastack dr status`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code
from hastack.dr.deployment import Coordination


class RunJournal:
    """This run's journal; in memory only for a dry run (`read_only`) or without a table."""

    def __init__(self, aws: ClientFactory | None, coordination: Coordination | None, run_id: str,
                 read_only: bool = False) -> None:
        self.aws, self.coord, self.run_id, self.read_only = aws, coordination, run_id, read_only
        self._lock = threading.Lock()
        self.facts: dict[str, Any] = {}
        self.steps: dict[str, dict[str, str]] = {}
        self.command = ""
        self.started_at = ""
        self.resumed_from: str | None = None
        self.persist_error: str | None = None
        self._begun = False

    @property
    def stored(self) -> bool:
        return bool(self.aws and self.coord) and not self.read_only

    def _client(self) -> Any:
        return self.aws.client("dynamodb", self.coord.region)  # type: ignore[union-attr]

    def _key(self, item_id: str) -> dict[str, Any]:
        return {self.coord.key: {"S": item_id}}  # type: ignore[union-attr]

    # --- reading ----------------------------------------------------------------------------------

    def read(self, run_id: str) -> dict[str, Any] | None:
        """Another run's journal as stored (None when there is none)."""
        if not (self.aws and self.coord):
            return None
        item = self._client().get_item(TableName=self.coord.table, Key=self._key(self.coord.journal_id(run_id)),
                                       ConsistentRead=True).get("Item")
        return decode(item) if item else None

    # --- the run's life ---------------------------------------------------------------------------

    def begin(self, command: str, started_at: str, took_over_run_id: str | None) -> str | None:
        """Open this run's journal (after the lock is ours); returns a note when a crashed run is resumed."""
        self.command, self.started_at = command, started_at
        note = None
        if took_over_run_id:
            try:
                previous = self.read(took_over_run_id)
            except (ClientError, BotoCoreError) as exc:
                previous = None
                note = f"could not read the journal of run {took_over_run_id} ({exc}): starting afresh"
            if previous is not None:
                if previous.get("ended"):
                    note = f"run {took_over_run_id} had ended: its facts are not used"
                elif previous.get("command") != command:
                    note = f"run {took_over_run_id} was `{previous.get('command')}`: its facts are not used"
                else:
                    self.facts = dict(previous.get("facts", {}))
                    self.resumed_from = took_over_run_id
                    note = (f"resuming run {took_over_run_id} (started {previous.get('startedAt')}, stopped early): "
                            f"its facts {sorted(self.facts) or '(none)'} are reused")
        with self._lock:
            self._begun = True
        self._save(create=True)
        if self._begun:
            self._point_last_run()
        return note

    def fact(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self.facts.get(name, default)

    def set_fact(self, name: str, value: Any) -> None:
        with self._lock:
            self.facts[name] = value
        self._save()

    def record_step(self, name: str, status: str, sentence: str) -> None:
        with self._lock:
            self.steps[name] = {"status": status, "sentence": sentence}
        self._save()

    def end(self, ok: bool) -> None:
        self._save(ended=True, ok=ok)

    # --- storage ----------------------------------------------------------------------------------

    def _item(self, ended: bool, ok: bool | None) -> dict[str, Any]:
        with self._lock:
            body = {"facts": self.facts, "steps": self.steps}
            data = json.dumps(body, sort_keys=True, default=str)
        item = {**self._key(self.coord.journal_id(self.run_id)),  # type: ignore[union-attr]
                "ownerRunId": {"S": self.run_id}, "command": {"S": self.command},
                "startedAt": {"S": self.started_at}, "ended": {"BOOL": ended}, "journal": {"S": data}}
        if ok is not None:
            item["ok"] = {"BOOL": ok}
        if self.resumed_from:
            item["resumedFrom"] = {"S": self.resumed_from}
        return item

    def _save(self, create: bool = False, ended: bool = False, ok: bool | None = None) -> None:
        if not self.stored or not self._begun:
            return
        if create:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#k)",
                                    "ExpressionAttributeNames": {"#k": self.coord.key}}  # type: ignore[union-attr]
        else:
            cond = {"ConditionExpression": "ownerRunId = :me", "ExpressionAttributeValues": {":me": {"S": self.run_id}}}
        try:
            self._client().put_item(TableName=self.coord.table, Item=self._item(ended, ok),  # type: ignore[union-attr]
                                    **cond)
            self.persist_error = None
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                self.persist_error = f"this run's journal {self.run_id} is owned by another run: not written"
                with self._lock:
                    self._begun = False  # never write into a journal that is not ours
            else:
                self.persist_error = f"could not write this run's journal: {exc}"
        except BotoCoreError as exc:  # the run goes on; the report says the journal is stale
            self.persist_error = f"could not write this run's journal: {exc}"

    def _point_last_run(self) -> None:
        try:
            self._client().put_item(TableName=self.coord.table, Item={  # type: ignore[union-attr]
                **self._key(self.coord.last_run_id), "runId": {"S": self.run_id},  # type: ignore[union-attr]
                "command": {"S": self.command}, "startedAt": {"S": self.started_at}})
        except (ClientError, BotoCoreError) as exc:
            self.persist_error = f"could not record the last run: {exc}"


def decode(item: dict[str, Any]) -> dict[str, Any]:
    """A stored journal item as plain data."""
    body = json.loads(item.get("journal", {}).get("S", "{}"))
    return {"runId": item.get("ownerRunId", {}).get("S"), "command": item.get("command", {}).get("S"),
            "startedAt": item.get("startedAt", {}).get("S"), "ended": item.get("ended", {}).get("BOOL", False),
            "ok": item.get("ok", {}).get("BOOL"), "resumedFrom": item.get("resumedFrom", {}).get("S"),
            "facts": body.get("facts", {}), "steps": body.get("steps", {})}
