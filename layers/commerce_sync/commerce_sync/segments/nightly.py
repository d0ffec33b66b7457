"""The nightly pass over a store's segment aggregates: time moves customers across thresholds without an order
(at risk 90 days after their last order, one-time buyer 30 days after their only one, an advocate's orders
leaving the 30-day window), so every aggregate of the store is evaluated again at one moment, `at`, and tags are
written for the customers whose segments differ from the tags last written (segments.tags.SegmentTagger). No
order is read again: the aggregate holds what the rules need.

- Listing: the store's aggregates from the sync-state table's sparse index (segments.aggregate, 16 shards per
  store), a page at a time; memory stays flat whatever the store's size.
- Chained (aws.chained_runs): a run is a chain of slices of the product_sync function; its checkpoint (shard,
  the index's LastEvaluatedKey and the counts) is committed after every page, the rest continued through the
  product queue. One pass per store at a time; an unfinished pass is resumed by the next request.
- Mailchimp: the changed customers of a page are written by `concurrency` workers, each holding one of the
  account's bulk connection slots (accounts.budget) for the slice, on a client of that many connections. A
  write that fails (after the client's own retries) is tried again `attempts` times in all, then dead-lettered
  as `{"action": "segment_tags", "store_id", "customer_id"}` in the function's dead-letter queue: a replay
  (`commerce-sync dead-letters product_sync --replay`) writes that customer's tags from their aggregate then.
- Skipped: a store with segments off; per customer, the order path's reasons (no audience member, compliance
  state, unsubscribed/cleaned/archived member), counted by reason.
- Summary per run: examined, changed, tags_added, tags_removed, skipped_no_member, skipped (by reason),
  dead_lettered, failed, pages, slices, duration; kept as the store's last pass (`commerce-sync segments STORE`).

`at` is fixed when a run starts (a request may give it: the tests' clock), so the slices of one run agree.
A pass requested by a backfill's end (`history`) writes with `is_syncing: true`: tags for the past start no
automation. The nightly schedule's reconciliation fan-out queues one pass per store with segments on.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from pydantic import BaseModel, Field

from commerce_sync.accounts.budget import AccountPaused
from commerce_sync.aws import run_records
from commerce_sync.aws.chained_runs import (
    CONTINUE,
    FINISHED,
    Chain,
    Continuations,
    Link,
    Next,
    slice_deadline,
    tuning_from_environment,
)
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import SegmentRules, Store
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.services import Services
from commerce_sync.segments.aggregate import SHARDS, Aggregates, Listed, store_shards
from commerce_sync.segments.rules import segments_of
from commerce_sync.segments.tags import SegmentTagger

SEGMENT_PASS = "segment_pass"
SEGMENT_TAGS = "segment_tags"
RUN = "pass#run"
LOCK = "pass#lock"
SUMMARY_PREFIX = "pass#"
NO_MEMBER = "no_audience_member"


def partition(store_id: str) -> str:
    return f"{store_id}#segments"


@dataclass(frozen=True)
class PassConfig:
    """Tuning; every field can be set from the environment as SEGMENT_PASS_<NAME> (upper case)."""

    safety_margin_seconds: float = 60.0
    # A slice run by the queue consumer stops after this, so the product events behind it are not held up.
    queue_slice_seconds: float = 240.0
    lease_seconds: float = 300.0
    # Workers writing tags at once, each holding one bulk connection slot of the store's Mailchimp account.
    concurrency: int = 2
    # Tries per customer (the client retries 429s and 5xx itself within each) before the dead letter.
    attempts: int = 2
    # An unfinished run older than this is dropped and a fresh one started (its `at` is a day old).
    run_max_age_seconds: float = 20 * 3600.0
    page_items: int = 500

    @classmethod
    def from_environment(cls) -> PassConfig:
        return tuning_from_environment(cls, "SEGMENT_PASS_")


class PassCheckpoint(BaseModel):
    run_id: str
    trigger: str = ""
    status: Literal["running", "done"] = "running"
    at: str
    history: bool = False
    shard: int = 0
    cursor: dict[str, Any] | None = None
    examined: int = 0
    changed: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    skipped_no_member: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    dead_lettered: int = 0
    failed: int = 0
    pages: int = 0
    slices: int = 0
    started_at: float
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    last_error: str | None = None
    failed_slice: int | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "changed": self.changed,
            "tags_added": self.tags_added,
            "tags_removed": self.tags_removed,
            "skipped_no_member": self.skipped_no_member,
            "skipped": dict(self.skipped),
            "dead_lettered": self.dead_lettered,
            "failed": self.failed,
        }

    def progress(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "shard": self.shard, "pages": self.pages, "slices": self.slices, **self.counts()}

    def summary(self) -> dict[str, Any]:
        finished = self.finished_at or time.time()
        return {
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "at": self.at,
            "history": self.history,
            **self.counts(),
            "pages": self.pages,
            "slices": self.slices,
            "started_at": self.started_at,
            "finished_at": finished,
            "duration_seconds": round(finished - self.started_at, 3),
            "last_error": self.last_error,
        }


class PassRecords:
    """A store's pass in the sync-state table, partition `<store_id>#segments`: `pass#run` (the checkpoint),
    `pass#lock`, `pass#summary#last` and `pass#summary#<finished>` (kept 90 days)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def chain(
        self, store_id: str, lease_seconds: float = 300.0, continuations: Continuations | None = None
    ) -> Chain[PassCheckpoint]:
        return Chain(
            self.table,
            partition(store_id),
            checkpoint_sk=RUN,
            lock_sk=LOCK,
            parse=PassCheckpoint.model_validate_json,
            lease_seconds=lease_seconds,
            continuations=continuations,
        )

    def load(self, store_id: str) -> PassCheckpoint | None:
        return self.chain(store_id).load()

    def save_end(self, store_id: str, checkpoint: PassCheckpoint, summary: dict[str, Any]) -> None:
        run_records.save_summary(self.table, partition(store_id), summary, prefix=SUMMARY_PREFIX)
        self.chain(store_id).save(checkpoint)

    def last_summary(self, store_id: str) -> dict[str, Any] | None:
        return run_records.last_summary(self.table, partition(store_id), consistent=True, prefix=SUMMARY_PREFIX)


class PassRequests:
    """One pass per store on the product queue (the nightly fan-out, a backfill's end)."""

    def __init__(self, queue_url: str | None, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, trigger: str, history: bool = False) -> None:
        if not self._queue_url:
            raise RuntimeError("PRODUCT_SYNC_QUEUE_URL is not set: the segment pass cannot be queued")
        body: dict[str, Any] = {"action": SEGMENT_PASS, "store_id": store_id, "trigger": trigger}
        if history:
            body["history"] = True
        (self._client or boto3.client("sqs")).send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))


def parse_moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SegmentPass:
    def __init__(
        self,
        services: Services,
        config: PassConfig | None = None,
        requests: PassRequests | None = None,
        continuations: Continuations | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.services = services
        self.records = PassRecords(services.sync_state.table)
        self.aggregates = Aggregates(services.sync_state)
        self.tagger = SegmentTagger(services.sync_state)
        queue_url = os.environ.get("PRODUCT_SYNC_QUEUE_URL")
        self.requests = requests or PassRequests(queue_url)
        self.continuations = continuations or Continuations(SEGMENT_PASS, queue_url)
        self.dead_letters = dead_letters or DeadLetters.from_environment()
        self._config = config

    @property
    def config(self) -> PassConfig:
        """Read for every slice unless given, so an operator's (or a test's) setting applies at once."""
        return self._config or PassConfig.from_environment()

    def fan_out(self, trigger: str) -> dict[str, Any]:
        """One pass queued per active store with segments on."""
        stores = [store.store_id for store in self.services.registry.list() if store.active and store.segments]
        for store_id in stores:
            self.requests.send(store_id, trigger)
        logger.info("segment passes queued", stores=len(stores), trigger=trigger)
        return {"status": "queued", "stores": stores}

    def run(
        self,
        store_id: str,
        *,
        trigger: str,
        remaining_ms: Callable[[], int],
        run_id: str | None = None,
        slice_seconds: float | None = None,
        at: str | None = None,
        history: bool = False,
    ) -> dict[str, Any]:
        """One slice of the store's pass: a new run (evaluated at `at`, default now), the unfinished one
        resumed, or `run_id` continued."""
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        if store.segments is None:
            return {"status": "skipped", "store_id": store_id, "reason": "segments are off for this store"}
        config = self.config
        chain = self.records.chain(store_id, config.lease_seconds, self.continuations)
        deadline = slice_deadline(remaining_ms(), config.safety_margin_seconds, slice_seconds)
        work = _Slice(self, store, store.segments, config, deadline)
        logger.append_keys(store_id=store_id)
        try:
            return chain.run_slice(
                store_id,
                label=trigger,
                run_id=run_id,
                begin=lambda held: self._begin(held, trigger, at, history),
                work=work.run,
                finish=work.finish,
                progress=PassCheckpoint.progress,
            )
        except AccountPaused as paused:
            logger.warning("segment pass skipped: the store's Mailchimp account is paused", reason=paused.reason)
            return {"status": "skipped", "store_id": store_id, "reason": str(paused)}

    def _begin(self, held: PassCheckpoint | None, trigger: str, at: str | None, history: bool) -> PassCheckpoint:
        if held is not None and held.status == "running":
            if time.time() - held.started_at <= self.config.run_max_age_seconds:
                logger.append_keys(run_id=held.run_id)
                return held
            logger.warning("abandoning an unfinished segment pass that is too old", old_run_id=held.run_id)
        moment = parse_moment(at) if at else datetime.now(UTC)
        checkpoint = PassCheckpoint(
            run_id=uuid.uuid4().hex, trigger=trigger, at=moment.isoformat(), history=history, started_at=time.time()
        )
        logger.append_keys(run_id=checkpoint.run_id)
        return checkpoint

    def retag(self, store_id: str, customer: str) -> dict[str, Any]:
        """One customer's tags from their aggregate, now (a replayed dead letter of a pass)."""
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        with self.services.budget.holding(store.mailchimp_account, "live"):
            outcome = self.tagger.retag(self.services.mailchimp(store), store, customer)
        return {"status": "done", "store_id": store_id, "customer_id": customer, **outcome}


@dataclass(frozen=True)
class _Change:
    listed: Listed
    added: int
    removed: int


class _Slice:
    """One invocation's share of a store's pass: pages read until the deadline (at least one), their changed
    customers written by the workers, the checkpoint committed after each page."""

    def __init__(
        self, owner: SegmentPass, store: Store, rules: SegmentRules, config: PassConfig, deadline: float
    ) -> None:
        self.owner = owner
        self.store = store
        self.rules = rules
        self.config = config
        self.deadline = deadline

    def run(self, checkpoint: PassCheckpoint, link: Link[PassCheckpoint]) -> Next:
        workers = max(1, self.config.concurrency)
        at = parse_moment(checkpoint.at)
        with ExitStack() as held:
            slot_seconds = max(self.deadline - time.monotonic(), 1.0) + self.config.safety_margin_seconds
            for _ in range(workers):
                held.enter_context(
                    self.owner.services.budget.holding(self.store.mailchimp_account, "bulk", slot_seconds)
                )
            client = replace(self.owner.services.mailchimp(self.store), max_connections=workers)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segment-pass") as pool:
                first = True
                while checkpoint.shard < SHARDS:
                    if not first and time.monotonic() >= self.deadline:
                        logger.info("segment pass continues in a fresh invocation", shard=checkpoint.shard)
                        return CONTINUE
                    first = False
                    self._page(checkpoint, client, pool, at)
                    link.commit(checkpoint)
        return FINISHED

    def _page(
        self, checkpoint: PassCheckpoint, client: MailchimpClient, pool: ThreadPoolExecutor, at: datetime
    ) -> None:
        shard = store_shards(self.store.store_id)[checkpoint.shard]
        page = self.owner.aggregates.page(shard, checkpoint.cursor, self.config.page_items)
        checkpoint.pages += 1
        changes: list[_Change] = []
        for listed in page.aggregates:
            checkpoint.examined += 1
            wanted = segments_of(listed.stored.aggregate.standing(), self.rules, at)
            written = listed.stored.written
            if wanted != written:
                changes.append(_Change(listed, len(wanted - written), len(written - wanted)))
        # Written before the cursor moves: a slice killed in between reads the page again, and finds the tags
        # it wrote recorded (nothing to do for them).
        outcomes = pool.map(lambda change: self._write(client, change, checkpoint, at), changes)
        for change, outcome in zip(changes, outcomes, strict=True):
            self._count(checkpoint, change, outcome)
        if page.next_key is None:
            checkpoint.shard, checkpoint.cursor = checkpoint.shard + 1, None
        else:
            checkpoint.cursor = page.next_key

    def _write(
        self, client: MailchimpClient, change: _Change, checkpoint: PassCheckpoint, at: datetime
    ) -> dict[str, Any]:
        customer = change.listed.customer
        error: Exception | None = None
        for _ in range(max(1, self.config.attempts)):
            try:
                return self.owner.tagger.write_tags(
                    client, self.store, self.rules, customer, change.listed.stored, checkpoint.history, at
                )
            except Exception as failure:  # a Mailchimp refusal, a timeout, an aggregate that kept changing
                error = failure
        assert error is not None
        return self._dead_letter(customer, error)

    def _dead_letter(self, customer: str, error: Exception) -> dict[str, Any]:
        reason = redact_emails(f"{type(error).__name__}: {error}")[:300]
        logger.warning("segment tags failed", customer_id=customer, reason=reason)
        body = json.dumps({"action": SEGMENT_TAGS, "store_id": self.store.store_id, "customer_id": customer})
        try:
            self.owner.dead_letters.keep(body, error, source="segment_pass")
        except Exception as failure:  # no dead-letter queue configured: counted as failed, logged
            logger.error("segment tags not dead-lettered", error_type=type(failure).__name__)
            return {"segments": "failed"}
        return {"segments": "dead_lettered"}

    @staticmethod
    def _count(checkpoint: PassCheckpoint, change: _Change, outcome: dict[str, Any]) -> None:
        kind = outcome.get("segments")
        if kind == "written":
            checkpoint.changed += 1
            checkpoint.tags_added += change.added
            checkpoint.tags_removed += change.removed
        elif kind == "skipped":
            reason = str(outcome.get("segments_reason") or "unknown")
            checkpoint.skipped[reason] = checkpoint.skipped.get(reason, 0) + 1
            if reason == NO_MEMBER:
                checkpoint.skipped_no_member += 1
        elif kind == "dead_lettered":
            checkpoint.dead_lettered += 1
        elif kind == "failed":
            checkpoint.failed += 1

    def finish(self, checkpoint: PassCheckpoint) -> dict[str, Any]:
        checkpoint.status, checkpoint.finished_at = "done", time.time()
        summary = {"store_id": self.store.store_id, **checkpoint.summary()}
        self.owner.records.save_end(self.store.store_id, checkpoint, summary)
        metrics.add_metric(name="SegmentPassTagWrites", unit="Count", value=checkpoint.changed)
        metrics.add_metric(name="SegmentPassDeadLettered", unit="Count", value=checkpoint.dead_lettered)
        fields = {key: value for key, value in summary.items() if key != "skipped"}
        if checkpoint.dead_lettered or checkpoint.failed:
            logger.warning("segment pass finished with failures", **fields)
        else:
            logger.info("segment pass finished", **fields)
        return summary
