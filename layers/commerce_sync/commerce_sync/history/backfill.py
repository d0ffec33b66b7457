"""The backfill: a store's history brought into Mailchimp — products (the catalog sync), then customers, then
orders — as chained invocations of the product_sync function, resumable from a checkpoint, one run per store
at a time. docs/history.md is the long version.

- The end is real: at the start the run takes `until` = now and snapshots the counts of customers and orders
  updated in [since, until]; it is done when its pages have read that window to the end (what changes later
  is the live webhooks' and the reconciliation's).
- The Mailchimp store's `is_syncing` is true for the whole run, so nothing written fires an automation, and
  false afterwards: at the end, when a slice fails, and — for a run killed outright — by the next run or
  `commerce-sync status`, which find a flag whose run has not moved for `stale_seconds` and reset it.
- Writes go through Mailchimp batches (history.batches) while the invocation holds one of the account's
  bulk slots, so live events keep the rest of the account's connections.
- Segments (docs/segments.md): the orders written feed their customers' segment aggregates (history.batches);
  a store with segments on whose run wrote orders queues its segment pass at the end (segments.nightly, as
  history), which writes the tags.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from commerce_sync.accounts.budget import AccountPaused
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_lock import LockLost, SyncLock, new_token
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.canonical.versions import version_number
from commerce_sync.catalog.run import CatalogSync
from commerce_sync.history.batches import HistoryWriter
from commerce_sync.history.state import (
    LOCK,
    RESOURCES,
    BackfillCheckpoint,
    HistoryBatch,
    HistoryState,
    Phase,
    partition,
)
from commerce_sync.mailchimp.batches import (
    BatchGone,
    BatchNotFinished,
    BatchResultsUnavailable,
    MailchimpBatches,
    operation_id,
)
from commerce_sync.mailchimp.models import McStoreUpdate
from commerce_sync.platforms.history import HistorySource, HistoryUnavailable
from commerce_sync.platforms.registry import history_source_for
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.services import Services
from commerce_sync.segments.nightly import PassRequests

BACKFILL = "backfill"
DEFAULT_SINCE_DAYS = 182


@dataclass(frozen=True)
class BackfillConfig:
    """Tuning; every field can be set from the environment as BACKFILL_<NAME> (upper case)."""

    safety_margin_seconds: float = 60.0
    queue_slice_seconds: float = 240.0
    lease_seconds: float = 300.0
    max_outstanding_batches: int = 4
    poll_initial_seconds: float = 1.0
    poll_max_seconds: float = 15.0
    batch_stale_seconds: float = 6 * 3600.0
    # A running checkpoint that has not moved this long, with its lock free, was killed: its flag is reset.
    stale_seconds: float = 1200.0
    run_max_age_seconds: float = 7 * 86400.0
    # How long a continuation waits (SQS delay) while the catalog sync's own chain works.
    catalog_wait_seconds: int = 30

    @classmethod
    def from_environment(cls) -> BackfillConfig:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = os.environ.get(f"BACKFILL_{spec.name.upper()}")
            if raw is not None and raw.strip():
                values[spec.name] = int(raw) if spec.type in ("int", int) else float(raw)
        return cls(**values)


class BackfillRequests:
    """Backfill continuations on the product queue."""

    def __init__(self, queue_url: str | None, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, run_id: str, delay_seconds: int = 0) -> None:
        if not self._queue_url:
            raise RuntimeError("PRODUCT_SYNC_QUEUE_URL is not set: a backfill cannot continue")
        body = {"action": BACKFILL, "store_id": store_id, "run_id": run_id, "trigger": "continuation"}
        (self._client or boto3.client("sqs")).send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=max(0, min(delay_seconds, 900))
        )


def parse_since(value: str | None, now: datetime) -> datetime:
    if not value:
        return now - timedelta(days=DEFAULT_SINCE_DAYS)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ordered_resources(resources: Sequence[str] | None) -> list[str]:
    wanted = set(resources or RESOURCES)
    unknown = wanted - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown resources: {', '.join(sorted(unknown))} (known: {', '.join(RESOURCES)})")
    return [resource for resource in RESOURCES if resource in wanted]


def history_operation_id(resource: str, event: CanonicalEvent) -> str:
    kind = "customer" if resource == "customers" else "order"
    return operation_id(kind, event.entity_id, str(version_number(event.entity_version)))


class Backfill:
    def __init__(
        self,
        services: Services,
        catalog: CatalogSync | None = None,
        config: BackfillConfig | None = None,
        requests: BackfillRequests | None = None,
        dead_letters: DeadLetters | None = None,
        source_factory: Callable[[Store, dict[str, Any]], HistorySource] | None = None,
    ) -> None:
        self.services = services
        self.catalog = catalog or CatalogSync(services)
        self._config = config
        self.state = HistoryState(services.sync_state.table)
        self.requests = requests or BackfillRequests(os.environ.get("PRODUCT_SYNC_QUEUE_URL"))
        self.dead_letters = dead_letters or DeadLetters.from_environment()
        self.segment_passes = PassRequests(os.environ.get("PRODUCT_SYNC_QUEUE_URL"))
        self._source_factory = source_factory or (lambda store, credentials: history_source_for(store, credentials))

    @property
    def config(self) -> BackfillConfig:
        return self._config or BackfillConfig.from_environment()

    def source(self, store: Store) -> HistorySource:
        credentials = self.services.secrets.current(store.secret_id).get("platform_api_credentials") or {}
        return self._source_factory(store, dict(credentials))

    # ---- the flag ------------------------------------------------------------------------------------

    def set_syncing(self, store: Store, value: bool) -> None:
        self.services.mailchimp(store).update_store(store.store_id, McStoreUpdate(is_syncing=value))

    def release_left_flag(self, store: Store) -> str | None:
        """Reset an is_syncing flag a killed run left on (its lock free and its checkpoint still for
        `stale_seconds`); returns what was done, None when there was nothing to do."""
        checkpoint = self.state.load(store.store_id)
        if checkpoint is None or not checkpoint.syncing:
            return None
        holder = SyncLock(self.state.table, partition(store.store_id), LOCK).holder()
        if holder is not None and not holder.expired:
            return None
        if checkpoint.status == "running" and time.time() - checkpoint.updated_at < self.config.stale_seconds:
            return None  # between two slices of a live chain
        self.set_syncing(store, False)
        since = datetime.fromtimestamp(checkpoint.updated_at, UTC).isoformat(timespec="seconds")
        message = f"is_syncing left on by backfill run {checkpoint.run_id} (last seen {since}) was reset"
        checkpoint.syncing = False
        checkpoint.flag_reset = message
        self.state.save(store.store_id, checkpoint)
        logger.warning("is_syncing flag left behind reset", store_id=store.store_id, run_id=checkpoint.run_id)
        metrics.add_metric(name="BackfillFlagsReset", unit="Count", value=1)
        return message

    # ---- entry point ---------------------------------------------------------------------------------

    def run(
        self,
        store_id: str,
        *,
        trigger: str,
        remaining_ms: Callable[[], int],
        since: str | None = None,
        resources: Sequence[str] | None = None,
        run_id: str | None = None,
        slice_seconds: float | None = None,
    ) -> dict[str, Any]:
        """One slice of the store's backfill: a new run, the unfinished one resumed, or `run_id` continued."""
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        config = self.config
        lock = SyncLock(self.state.table, partition(store_id), LOCK)
        token = new_token()
        if not lock.acquire(token, config.lease_seconds, label=trigger):
            return {"status": "already_running", "store_id": store_id}
        delay: int | None = None
        try:
            checkpoint = self.state.load(store_id)
            unfinished = checkpoint is not None and checkpoint.status == "running"
            if run_id is not None and (checkpoint is None or checkpoint.run_id != run_id or not unfinished):
                return {"status": "superseded", "store_id": store_id, "run_id": run_id}
            resuming = checkpoint is not None and checkpoint.status == "running"
            wanted = checkpoint.resources if checkpoint is not None and resuming else (resources or RESOURCES)
            try:
                source = self.source(store) if set(wanted) - {"products"} else None
                checkpoint = self._checkpoint_for(store, checkpoint, source, trigger, since, resources)
            except (HistoryUnavailable, ValueError) as error:
                logger.warning("backfill refused", store_id=store_id, reason=str(error))
                return {"status": "skipped", "store_id": store_id, "reason": str(error)}
            checkpoint.slices += 1
            budget = remaining_ms() / 1000 - config.safety_margin_seconds
            if slice_seconds is not None:
                budget = min(budget, slice_seconds)
            logger.append_keys(store_id=store_id, run_id=checkpoint.run_id)
            deadline = time.monotonic() + max(budget, 0.0)
            work = _Slice(self, store, source, checkpoint, lock, token, deadline, remaining_ms)
            try:
                finished = work.run()
            except AccountPaused as paused:
                self._drop_flag(store, checkpoint)
                logger.warning("backfill paused: the store's Mailchimp account is paused", reason=paused.reason)
                return {"status": "skipped", "store_id": store_id, "reason": str(paused)}
            except LockLost:
                return {"status": "lock_lost", "store_id": store_id, "run_id": checkpoint.run_id}
            except Exception as error:
                checkpoint.last_error = f"{type(error).__name__}: {error}"[:500]
                self._drop_flag(store, checkpoint)
                self.state.save(store_id, checkpoint)
                raise
            if finished:
                return self._finish(store, checkpoint)
            delay = config.catalog_wait_seconds if checkpoint.phase == "products" else 0
            result = {"status": "continued", "store_id": store_id, **checkpoint.summary()}
        finally:
            lock.release(token)
        self.requests.send(store_id, checkpoint.run_id, delay_seconds=delay or 0)
        logger.info("backfill continues in a fresh invocation", phase=checkpoint.phase)
        return result

    def _drop_flag(self, store: Store, checkpoint: BackfillCheckpoint) -> None:
        """A slice that fails leaves no flag on: the resumed run sets it again."""
        if not checkpoint.syncing:
            return
        try:
            self.set_syncing(store, False)
            checkpoint.syncing = False
        except Exception as error:  # the next run or `status` resets it
            logger.warning("is_syncing could not be reset now", error_type=type(error).__name__)
        self.state.save(store.store_id, checkpoint)

    def _checkpoint_for(
        self,
        store: Store,
        checkpoint: BackfillCheckpoint | None,
        source: HistorySource | None,
        trigger: str,
        since: str | None,
        resources: Sequence[str] | None,
    ) -> BackfillCheckpoint:
        config = self.config
        if checkpoint is not None and checkpoint.status == "running":
            too_old = time.time() - checkpoint.started_at > config.run_max_age_seconds
            if not too_old:
                return checkpoint  # an unfinished run resumes, whatever this request asked
            logger.warning("abandoning an unfinished backfill that is too old", old_run_id=checkpoint.run_id)
        flag_reset = self.release_left_flag(store) if checkpoint is not None else None
        now = datetime.now(UTC)
        start = parse_since(since, now)
        fresh = BackfillCheckpoint(
            run_id=uuid.uuid4().hex,
            trigger=trigger,
            since=start.isoformat(),
            until=now.isoformat(),
            resources=ordered_resources(resources),
            started_at=time.time(),
            flag_reset=flag_reset,
        )
        fresh.phase = fresh.resources[0]  # type: ignore[assignment]
        for resource in fresh.resources:
            progress = fresh.of(resource)
            if resource != "products" and source is not None:
                progress.total = source.count(resource, start, now)  # type: ignore[arg-type]
        self.state.save(store.store_id, fresh)
        return fresh

    def _finish(self, store: Store, checkpoint: BackfillCheckpoint) -> dict[str, Any]:
        if checkpoint.syncing:
            self.set_syncing(store, False)
            checkpoint.syncing = False
        checkpoint.status, checkpoint.phase, checkpoint.finished_at = "done", "done", time.time()
        self.state.save(store.store_id, checkpoint)
        summary = checkpoint.summary()
        orders = checkpoint.progress.get("orders")
        if store.segments is not None and orders is not None and orders.written:
            # After the summary's counts, before it is saved: a pass that could not be queued is said there.
            try:
                self.segment_passes.send(store.store_id, trigger="backfill", history=True)
                summary["segment_pass"] = "queued"
            except Exception as error:
                logger.warning("segment pass not queued after the backfill", error_type=type(error).__name__)
                summary["segment_pass"] = f"not queued: {type(error).__name__}"
        self.state.save_summary(store.store_id, summary)
        for resource, progress in checkpoint.progress.items():
            metrics.add_metric(name=f"Backfill{resource.title()}Written", unit="Count", value=progress.written)
            metrics.add_metric(name=f"Backfill{resource.title()}Failed", unit="Count", value=progress.failed)
        logger.info("backfill finished", **{k: v for k, v in summary.items() if k != "progress"})
        return {"store_id": store.store_id, **summary}


class _Slice:
    def __init__(
        self,
        backfill: Backfill,
        store: Store,
        source: HistorySource | None,
        checkpoint: BackfillCheckpoint,
        lock: SyncLock,
        token: str,
        deadline: float,
        remaining_ms: Callable[[], int],
    ) -> None:
        self.backfill = backfill
        self.config = backfill.config
        self.store = store
        self.source = source
        self.checkpoint = checkpoint
        self.lock = lock
        self.token = token
        self.deadline = deadline
        self.remaining_ms = remaining_ms
        self.outstanding: list[HistoryBatch] = []
        services = backfill.services
        client = services.mailchimp(store)
        self.batches = MailchimpBatches(client)
        self.writer = HistoryWriter(
            store,
            services.sync_state,
            backfill.state,
            lambda: services.mailchimp(store),
            self.batches,
            backfill.dead_letters,
            self.time_left,
        )
        self.committed_requests = 0

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self) -> bool:
        checkpoint = self.checkpoint
        if checkpoint.phase == "products" and not self._products():
            self._commit()
            return False
        services = self.backfill.services
        with services.budget.holding(self.store.mailchimp_account, "bulk", max(self.time_left(), 1.0)):
            if not checkpoint.syncing:
                self.backfill.set_syncing(self.store, True)
                checkpoint.syncing = True
                self._commit()
            self.outstanding = self.backfill.state.open_batches(self.store.store_id)
            for record in list(self.outstanding):
                if record.status == "submitting" or not record.mailchimp_id:
                    self.outstanding.remove(record)
                    self.writer.lost(record, "interrupted while being submitted")
            while checkpoint.phase in ("customers", "orders") and self.time_left() > 0:
                self._page(checkpoint.phase)
            if checkpoint.phase == "batches":
                while self.outstanding and self.time_left() > 0:
                    self._settle(self.outstanding[0], wait=True)
                if not self.outstanding:
                    self._commit()
                    return True
            self._commit()
        return False

    # ---- products: the catalog sync -------------------------------------------------------------------

    def _products(self) -> bool:
        """Runs (or resumes) the store's catalog sync; True once the run this backfill started is done."""
        catalog = self.backfill.catalog
        checkpoint = self.checkpoint
        if checkpoint.catalog_run_id is None:
            # Syncing from the start: the products written by the catalog run fire nothing either.
            with self.backfill.services.budget.holding(self.store.mailchimp_account, "bulk", 30.0):
                self.backfill.set_syncing(self.store, True)
            checkpoint.syncing = True
        held = catalog.state.load_run(self.store.store_id)
        if held is not None and held.run_id == checkpoint.catalog_run_id and held.status == "done":
            self._next_phase()
            return True
        result = catalog.run(
            self.store.store_id,
            trigger=BACKFILL,
            remaining_ms=self.remaining_ms,
            slice_seconds=max(self.time_left(), 1.0),
        )
        current = catalog.state.load_run(self.store.store_id)
        if checkpoint.catalog_run_id is None and current is not None:
            checkpoint.catalog_run_id = current.run_id
        progress = checkpoint.of("products")
        if current is not None and current.run_id == checkpoint.catalog_run_id:
            counters = current.counters
            progress.read, progress.total = counters.seen, current.total
            progress.written = counters.created + counters.updated + counters.removed
            progress.unchanged, progress.failed = counters.unchanged, counters.failed
        if result.get("status") in ("done", "skipped"):
            if result.get("status") == "skipped":
                logger.warning("backfill: products skipped", reason=result.get("reason"))
            self._next_phase()
            return True
        return False

    # ---- customers and orders ------------------------------------------------------------------------

    def _page(self, resource: str) -> None:
        checkpoint = self.checkpoint
        assert self.source is not None
        since, until = datetime.fromisoformat(checkpoint.since), datetime.fromisoformat(checkpoint.until)
        page = self.source.page(resource, since, checkpoint.cursor, until)  # type: ignore[arg-type]
        progress = checkpoint.of(resource)
        progress.read += page.resources
        progress.failed += len(page.skipped)
        for platform_id, reason in page.skipped:
            logger.warning("history resource skipped", resource=resource, platform_id=platform_id, reason=reason)
        if page.events:
            self._write(resource, page.events)
        checkpoint.pages += 1
        checkpoint.cursor = page.next_cursor
        if page.next_cursor is None:
            self._next_phase()
        self._commit()

    def _write(self, resource: str, events: Sequence[CanonicalEvent]) -> None:
        while len(self.outstanding) >= self.config.max_outstanding_batches and self.time_left() > 0:
            if not self._settle(self.outstanding[0], wait=True):
                break
        # The batch record names every candidate before any version is recorded, so an invocation killed
        # before the submit leaves a record that takes them all back (and the cursor was not moved).
        record = HistoryBatch(
            key=uuid.uuid4().hex,
            run_id=self.checkpoint.run_id,
            resource=resource,  # type: ignore[arg-type]
            ops={history_operation_id(resource, event): (event.entity_id, event.entity_version) for event in events},
        )
        self.backfill.state.put_batch(self.store.store_id, record)
        prepared = self.writer.prepare(resource, events, self.checkpoint.of(resource))
        if not prepared.operations:
            self.backfill.state.delete_batch(self.store.store_id, record.key)
            return
        self.outstanding.append(self.writer.submit(record, prepared))
        self.checkpoint.batches += 1

    def _settle(self, record: HistoryBatch, wait: bool) -> bool:
        interval = self.config.poll_initial_seconds
        progress = self.checkpoint.of(record.resource)
        while True:
            status = self.batches.status(str(record.mailchimp_id))
            if status is None:
                progress.failed += self.writer.lost(record, "Mailchimp no longer has the batch")
                self.outstanding.remove(record)
                return True
            if status.finished:
                try:
                    results = list(self.batches.results(str(record.mailchimp_id)))
                except BatchGone:
                    progress.failed += self.writer.lost(record, "Mailchimp no longer has the batch")
                    self.outstanding.remove(record)
                    return True
                except (BatchResultsUnavailable, BatchNotFinished) as error:
                    logger.warning("history batch results not readable yet", reason=str(error))
                else:
                    self.writer.apply_results(record, results, progress)
                    self.outstanding.remove(record)
                    self._commit()
                    return True
            if time.time() - record.submitted_at > self.config.batch_stale_seconds:
                self.batches.delete(str(record.mailchimp_id))
                progress.failed += self.writer.lost(record, f"the batch was still {status.status} after hours")
                self.outstanding.remove(record)
                return True
            if not wait or self.time_left() <= 0:
                return False
            time.sleep(min(interval, max(self.time_left(), 0.0)))
            interval = min(interval * 1.5, self.config.poll_max_seconds)
            self.lock.renew(self.token, self.config.lease_seconds)

    # ---- checkpoint --------------------------------------------------------------------------------

    def _next_phase(self) -> None:
        checkpoint = self.checkpoint
        order = [*checkpoint.resources, "batches"]
        current = order.index(checkpoint.phase) if checkpoint.phase in order else len(order) - 1
        nxt: Phase = order[min(current + 1, len(order) - 1)]  # type: ignore[assignment]
        checkpoint.phase = nxt
        checkpoint.cursor = None

    def _commit(self) -> None:
        requests = self.writer.direct_requests + self.batches.requests
        self.checkpoint.mailchimp_requests += requests - self.committed_requests
        self.committed_requests = requests
        self.backfill.state.save(self.store.store_id, self.checkpoint)
        self.lock.renew(self.token, self.config.lease_seconds)
