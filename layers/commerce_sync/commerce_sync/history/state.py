"""What the sync-state table remembers about a store's history runs: one partition per store,
`pk = "<store_id>#history"`:

- `backfill`: the backfill's checkpoint (`BackfillCheckpoint`, JSON in `doc`);
- `lock`: the run lock (commerce_sync.aws.sync_lock), one backfill per store at a time;
- `batch#<key>`: a Mailchimp batch in flight: its operations (operation id → entity id and version), written
  before the batch is submitted, so nothing submitted is ever unaccounted for;
- `summary#last`, `summary#<finished>`: backfill summaries (the latter kept 90 days);
- `reconcile`: the reconciliation's watermark and its last summary;
- `reconcile#run`, `reconcile#lock`, `reconcile#summary#…`: the reconciliation's checkpoint, lock and summaries
  (history.reconcile_state).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, Field

from commerce_sync.aws import run_records

BACKFILL = "backfill"
LOCK = "lock"
BATCH = "batch#"
LAST_SUMMARY = run_records.LAST_SUMMARY
SUMMARY = run_records.SUMMARY
RECONCILE = "reconcile"
SUMMARY_TTL_DAYS = run_records.SUMMARY_TTL_DAYS
BATCH_TTL_DAYS = 8
RESOURCES = ("products", "customers", "orders")
Phase = Literal["products", "customers", "orders", "batches", "done"]


def partition(store_id: str) -> str:
    return f"{store_id}#history"


def _ttl(days: int) -> int:
    return int(time.time()) + days * 86400


class ResourceProgress(BaseModel):
    """One resource's share of a run. `total` is the snapshot taken at the start (None: the platform cannot
    count); `read` counts resources read from the platform, the rest what became of them."""

    total: int | None = None
    read: int = 0
    written: int = 0
    # A version as new or newer was applied already (by a live event, or an earlier run).
    unchanged: int = 0
    # Not written on purpose: unmappable, without an e-mail address, an order not yet placed.
    skipped: int = 0
    # Of an erased shopper (docs/privacy.md): never written again.
    erased: int = 0
    failed: int = 0
    dead_lettered: int = 0
    retried: int = 0
    # Written by the batch while a live event applied a newer version: the newer one was written again.
    superseded: int = 0


class BackfillCheckpoint(BaseModel):
    """Where a store's backfill is; saved after every page, so a fresh invocation continues from here."""

    run_id: str
    trigger: str = ""
    status: Literal["running", "done", "failed"] = "running"
    since: str
    # The run's end: its start. Resources changed later are the live webhooks' (and the next reconciliation's).
    until: str
    resources: list[str]
    phase: Phase = "products"
    cursor: str | None = None
    catalog_run_id: str | None = None
    progress: dict[str, ResourceProgress] = Field(default_factory=dict)
    # True while this run has set the Mailchimp store's is_syncing (and not yet set it back).
    syncing: bool = False
    started_at: float
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    slices: int = 0
    pages: int = 0
    batches: int = 0
    mailchimp_requests: int = 0
    last_error: str | None = None
    # Said when a run found (and reset) an is_syncing flag a crashed run left behind.
    flag_reset: str | None = None

    def of(self, resource: str) -> ResourceProgress:
        return self.progress.setdefault(resource, ResourceProgress())

    @property
    def duration_seconds(self) -> float:
        return round((self.finished_at or time.time()) - self.started_at, 3)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "status": self.status,
            "phase": self.phase,
            "since": self.since,
            "until": self.until,
            "resources": self.resources,
            "progress": {name: value.model_dump() for name, value in self.progress.items()},
            "pages": self.pages,
            "slices": self.slices,
            "batches": self.batches,
            "mailchimp_requests": self.mailchimp_requests,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "last_error": self.last_error,
            "flag_reset": self.flag_reset,
        }


class HistoryBatch(BaseModel):
    key: str
    run_id: str
    resource: Literal["customers", "orders"]
    status: Literal["submitting", "submitted"] = "submitting"
    mailchimp_id: str | None = None
    submitted_at: float = Field(default_factory=time.time)
    # operation id -> (entity id, version)
    ops: dict[str, tuple[str, str]] = Field(default_factory=dict)


class HistoryState:
    def __init__(self, table: Any) -> None:
        self.table = table

    def _get(self, store_id: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": partition(store_id), "sk": sk}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def load(self, store_id: str) -> BackfillCheckpoint | None:
        item = self._get(store_id, BACKFILL)
        return BackfillCheckpoint.model_validate_json(item["doc"]) if item else None

    def save(self, store_id: str, checkpoint: BackfillCheckpoint) -> None:
        run_records.save_checkpoint(self.table, partition(store_id), BACKFILL, checkpoint)

    def save_summary(self, store_id: str, summary: dict[str, Any]) -> None:
        run_records.save_summary(self.table, partition(store_id), summary)

    def last_summary(self, store_id: str) -> dict[str, Any] | None:
        return run_records.last_summary(self.table, partition(store_id), consistent=True)

    def put_batch(self, store_id: str, record: HistoryBatch) -> None:
        self.table.put_item(
            Item={
                "pk": partition(store_id),
                "sk": BATCH + record.key,
                "doc": record.model_dump_json(),
                "expires_at": _ttl(BATCH_TTL_DAYS),
            }
        )

    def delete_batch(self, store_id: str, key: str) -> None:
        self.table.delete_item(Key={"pk": partition(store_id), "sk": BATCH + key})

    def open_batches(self, store_id: str) -> list[HistoryBatch]:
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(partition(store_id)) & Key("sk").begins_with(BATCH),
            "ConsistentRead": True,
        }
        records: list[HistoryBatch] = []
        while True:
            page = self.table.query(**arguments)
            records += [HistoryBatch.model_validate_json(item["doc"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(records, key=lambda record: record.submitted_at)

    def reconcile_state(self, store_id: str) -> dict[str, Any]:
        item = self._get(store_id, RECONCILE)
        return json.loads(item["doc"]) if item else {}

    def save_reconcile_state(self, store_id: str, document: dict[str, Any]) -> None:
        self.table.put_item(Item={"pk": partition(store_id), "sk": RECONCILE, "doc": json.dumps(document, default=str)})
