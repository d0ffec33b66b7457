"""A catalog run's records in the sync-state table (commerce_sync.catalog.state keeps them): the checkpoint of the
current or last run (`RunCheckpoint`: where it is, what it counted, its promotions part) and each Mailchimp batch in
flight (`BatchRecord`). Apart from the product records, whose module every product event imports: only a catalog run
(or a backfill) reads or writes these.
"""

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# defer_build: their validators are built when a catalog run (or a backfill) first reads or writes its checkpoint or a
# batch, not when the catalog run is imported.
RUN_MODEL_CONFIG = ConfigDict(defer_build=True)


class RunCounters(BaseModel):
    model_config = RUN_MODEL_CONFIG

    seen: int = 0
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    retried: int = 0
    skipped_newer: int = 0

    def add(self, other: "RunCounters") -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


Phase = Literal["pages", "sweep", "unrecorded", "batches", "promotions", "done"]
# What a catalog run syncs: products (phases pages to batches), then promotions (docs/promotions.md).
PRODUCTS = "products"
PROMOTIONS = "promotions"
CATALOG_PARTS = (PRODUCTS, PROMOTIONS)


class PromotionCounters(BaseModel):
    model_config = RUN_MODEL_CONFIG

    rules_seen: int = 0
    rules_unchanged: int = 0
    rules_created: int = 0
    rules_updated: int = 0
    rules_deleted: int = 0
    rules_failed: int = 0
    # Of the failed: refused by Mailchimp and put in the dead-letter queue (a `sync_promotion` request).
    rules_dead_lettered: int = 0
    # Rules of a kind Mailchimp cannot express (or unreadable), left out with their reason.
    rules_skipped: int = 0
    codes_seen: int = 0
    codes_unchanged: int = 0
    codes_created: int = 0
    codes_updated: int = 0
    codes_deleted: int = 0
    codes_failed: int = 0
    codes_dead_lettered: int = 0
    codes_skipped: int = 0

    def add(self, other: "PromotionCounters") -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


PromotionPhase = Literal[
    "rules", "rule_batches", "codes", "sweep_rules", "sweep_batches", "sweep_codes", "batches", "done", "skipped"
]
# The reasons a summary lists (the counters count every one).
MAX_SKIP_REASONS = 20


class PromotionProgress(BaseModel):
    """Where a run's promotions part is (docs/promotions.md, "The nightly sync"): rules first, then, once every
    rule write has settled, the codes of each rule, then the sweep of what the store no longer has."""

    model_config = RUN_MODEL_CONFIG

    phase: PromotionPhase = "rules"
    started_at: float = Field(default_factory=time.time)
    # The rules page being read (its cursor), the rule of it whose codes are read, and where in its codes.
    cursor: str | None = None
    rule_index: int = 0
    # The id of that rule, so a page that shifted (a rule deleted meanwhile) is not read with another's cursor.
    code_rule: str | None = None
    code_cursor: str | None = None
    sweep_after: str | None = None
    counters: PromotionCounters = Field(default_factory=PromotionCounters)
    skipped: list[str] = Field(default_factory=list)
    reason: str | None = None

    def note_skipped(self, what: str, item_id: str, reason: str) -> None:
        if len(self.skipped) < MAX_SKIP_REASONS:
            self.skipped.append(f"{what} {item_id}: {reason}"[:300])

    def summary(self) -> dict[str, Any]:
        return {"phase": self.phase, **self.counters.model_dump(), "skipped": list(self.skipped), "reason": self.reason}


class RunCheckpoint(BaseModel):
    """Where a store's catalog run is. Saved after every committed page, so a fresh invocation (or a
    crashed run's successor) continues from here; the counters are committed with the cursor, so pages
    read again after a crash are not counted twice."""

    model_config = RUN_MODEL_CONFIG

    run_id: str
    trigger: str = ""
    status: Literal["running", "done"] = "running"
    phase: Phase = "pages"
    cursor: str | None = None
    sweep_after: str | None = None
    # Where the walk through Mailchimp's own product list is (the `offset` of its next page).
    listing_offset: int = 0
    started_at: float
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    pages: int = 0
    slices: int = 0
    total: int | None = None
    batches: int = 0
    mailchimp_requests: int = 0
    counters: RunCounters = Field(default_factory=RunCounters)
    last_error: str | None = None
    # A checkpoint saved before promotions existed names no parts: it was a products run.
    what: list[str] = Field(default_factory=lambda: [PRODUCTS])
    promotions: PromotionProgress | None = None

    @property
    def duration_seconds(self) -> float:
        return round((self.finished_at or time.time()) - self.started_at, 3)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "status": self.status,
            "phase": self.phase,
            **self.counters.model_dump(),
            "pages": self.pages,
            "slices": self.slices,
            "batches": self.batches,
            "mailchimp_requests": self.mailchimp_requests,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "last_error": self.last_error,
            "what": list(self.what),
            "promotions": self.promotions.summary() if self.promotions else None,
        }


class BatchRecord(BaseModel):
    model_config = RUN_MODEL_CONFIG

    key: str
    run_id: str
    status: Literal["submitting", "submitted"] = "submitting"
    mailchimp_id: str | None = None
    submitted_at: float = Field(default_factory=time.time)
    # product id -> (hash written, "created" | "updated" | "removed")
    ops: dict[str, tuple[str, str]] = Field(default_factory=dict)
