"""What the sync-state table holds of a store's reconciliation, in the store's history partition
(`<store_id>#history`, beside the backfill's items; history.state):

- `reconcile#run`: the run's checkpoint (`ReconcileCheckpoint`), saved after every page, so a fresh invocation
  continues from there (aws.chained_runs);
- `reconcile#lock`: one reconciliation of the store at a time (a lease, aws.sync_lock);
- `reconcile#summary#last`, `reconcile#summary#<finished>`: its summaries (the latter kept 90 days);
- `reconcile`: the watermarks (and the last summary), moved only at a run's end.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from commerce_sync.aws import run_records
from commerce_sync.aws.chained_runs import Chain, Continuations
from commerce_sync.history.state import HistoryState, partition

RUN = "reconcile#run"
LOCK = "reconcile#lock"
SUMMARY_PREFIX = "reconcile#"
# "carts": abandoned carts, read only from a reader that lists them (platforms.history.AbandonedCartSource).
ReconcilePhase = Literal["customers", "orders", "carts", "done"]


class ReconcileCheckpoint(BaseModel):
    """Where a store's reconciliation is. The window is fixed when the run starts: per resource from its watermark
    less the overlap (`windows`), to the run's start (`until`); what changes later is the next run's."""

    run_id: str
    trigger: str = ""
    status: Literal["running", "done"] = "running"
    phase: ReconcilePhase = "customers"
    cursor: str | None = None
    windows: dict[str, str]
    until: str
    # The watermarks held when the run started, and the latest `updated_at` its pages held so far per resource.
    watermarks: dict[str, str] = Field(default_factory=dict)
    high_water: dict[str, str] = Field(default_factory=dict)
    checked: dict[str, int] = Field(default_factory=dict)
    repaired: dict[str, int] = Field(default_factory=dict)
    # Abandoned carts written from the pull (`carts_missing`, `carts_outdated`): not repairs, since a cart
    # without basket webhooks has no other way in, and counting them would set off the lost-webhook alarm.
    pulled: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    skipped: int = 0
    # Resources of an erased shopper the store still has (docs/privacy.md): left out of Mailchimp on purpose.
    erased: int = 0
    # Resources the store cannot give, with the reason (a cart type without abandoned carts): not a failure.
    not_read: dict[str, str] = Field(default_factory=dict)
    pages: int = 0
    slices: int = 0
    # The webhook check made when the run started (history.reconcile.webhook_report).
    webhooks: dict[str, Any] | None = None
    # The run of a backfill of the store this run waits for (None: not waiting).
    waiting_for: str | None = None
    started_at: float
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    last_error: str | None = None
    failed_slice: int | None = None

    @property
    def repairs(self) -> int:
        return sum(self.repaired.values())

    def progress(self) -> dict[str, Any]:
        """What a slice that continues answers, and what the CLI shows while the run works."""
        return {
            "run_id": self.run_id,
            "phase": self.phase,
            "checked": dict(self.checked),
            "repairs": self.repairs,
            "failed": self.failed,
            "pages": self.pages,
            "slices": self.slices,
            "waiting_for": self.waiting_for,
        }

    @property
    def failing(self) -> bool:
        """The latest slice failed (the queue retries it, or the next request resumes the run)."""
        return self.last_error is not None and self.failed_slice == self.slices

    def summary(self, watermarks: dict[str, str]) -> dict[str, Any]:
        finished = self.finished_at or time.time()
        return {
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "windows": dict(self.windows),
            "until": self.until,
            "watermarks": dict(watermarks),
            "checked": dict(self.checked),
            "repaired": dict(self.repaired),
            "repairs": self.repairs,
            "pulled": dict(self.pulled),
            "failed": self.failed,
            "skipped": self.skipped,
            "erased": self.erased,
            "not_read": dict(self.not_read),
            "pages": self.pages,
            "slices": self.slices,
            "webhooks": self.webhooks,
            "started_at": self.started_at,
            "finished_at": finished,
            "duration_seconds": round(finished - self.started_at, 3),
            "last_error": self.last_error,
        }


class ReconcileRecords:
    def __init__(self, table: Any) -> None:
        self.table = table
        self._history = HistoryState(table)

    def chain(
        self, store_id: str, lease_seconds: float = 300.0, continuations: Continuations | None = None
    ) -> Chain[ReconcileCheckpoint]:
        return Chain(
            self.table,
            partition(store_id),
            checkpoint_sk=RUN,
            lock_sk=LOCK,
            parse=ReconcileCheckpoint.model_validate_json,
            lease_seconds=lease_seconds,
            continuations=continuations,
        )

    def load(self, store_id: str) -> ReconcileCheckpoint | None:
        return self.chain(store_id).load()

    def watermarks(self, store_id: str) -> dict[str, str]:
        return dict(self._history.reconcile_state(store_id).get("watermarks") or {})

    def save_end(
        self, store_id: str, checkpoint: ReconcileCheckpoint, watermarks: dict[str, str], summary: dict[str, Any]
    ) -> None:
        """A run's end, in an order that a kill between two writes leaves safe: the watermarks, the summaries, then
        the checkpoint marked done (a run still marked running is resumed, and ends again the same way)."""
        self._history.save_reconcile_state(store_id, {"watermarks": watermarks, "last": summary})
        run_records.save_summary(self.table, partition(store_id), summary, prefix=SUMMARY_PREFIX)
        self.chain(store_id).save(checkpoint)

    def last_summary(self, store_id: str) -> dict[str, Any] | None:
        return run_records.last_summary(self.table, partition(store_id), consistent=True, prefix=SUMMARY_PREFIX)
