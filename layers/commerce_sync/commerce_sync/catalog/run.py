"""The catalog sync: one store's catalog compared with what Mailchimp has, page by page, within Lambda's
time, resumable, and never two runs of one store at once. docs/product-sync.md is the long version.

A run goes through three phases, each resumable from the checkpoint (`RunCheckpoint`, sync-state table):

1. pages — read the catalog one page at a time (the platform's cursor is the checkpoint). Each product is
   mapped (commerce_sync.mailchimp.mapping), hashed, and compared with the hash recorded for it: unchanged products
   cost no Mailchimp call, only a blind "seen" mark. Changed products are collected and flushed: up to
   `direct_max` of them as direct PUTs (a small nightly change set), more as Mailchimp batch operations of
   `batch_size` or more. The cursor is committed only when nothing read is still unflushed, so a crash
   re-reads at most the pages since the last flush, and what was flushed is recorded and not sent again.
2. sweep — products recorded but not seen since the run started may be gone. Each is asked for by id
   first (a page shifted by a deletion during the run must not retire a live product); those the store no
   longer has are retired: every variant to inventory 0 and hidden, the product kept, because orders and
   carts that name it must keep working and a deleted product would break them (Mailchimp answers 400 to a
   line naming a missing product) — and hidden-and-empty is what stops Mailchimp recommending it.
   This is the one removal rule, the same for every platform; real-time deletions apply it too.
   unrecorded — the same rule for the products Mailchimp holds that no record names (created from an
   order or cart line, by another tool, or before the store was connected): Mailchimp's product ids are
   read a page at a time, and each without a record is asked for by id like the others; one the store has
   is written, one it does not is retired with the variants Mailchimp lists for it.
3. batches — wait for the batches in flight, read their results, match each back by operation_id
   (`product:<id>:<hash>`), and retry failed operations as direct writes of the product read afresh;
   a lasting refusal is dead-lettered with its reason. A batch whose results cannot be had (deleted,
   stuck, lost in a crash) has its products' hashes forgotten, so the next run writes them again.
4. promotions — when the run includes them (`what`, docs/promotions.md): the store's discount rules and codes,
   under the same lock and checkpoint (commerce_sync.catalog.promotion_sync). A run of promotions alone starts
   here.

Time: a slice stops starting new work `safety_margin_seconds` before Lambda's deadline (or after
`queue_slice_seconds` when it runs in the queue consumer, so product events keep flowing), flushes,
commits, releases the lock and queues a continuation message on the product queue.

Overlap: a lease lock in the sync-state table (commerce_sync.aws.sync_lock), renewed every `heartbeat_seconds` (at
the first commit or heartbeat after them; the lease lasts `lease_seconds`, five of them). A
request for a store whose run is unfinished resumes that run, which is how a crashed run resumes.

Mailchimp connections: one per invocation (the client's default), as docs/architecture.md budgets. Batches
are what make the nightly fast: a batch of 500 writes is one request, and its operations run inside
Mailchimp without holding any of the account's 10 connections.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import boto3

from commerce_sync.accounts.budget import AccountPaused
from commerce_sync.aws.metric_names import CATALOG_PRODUCT_COUNTERS, CATALOG_PRODUCTS, CATALOG_SYNC_DURATION
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_lock import LockLost, SyncLock, new_token
from commerce_sync.canonical.model import Product
from commerce_sync.catalog.checkpoints import (
    CATALOG_PARTS,
    PRODUCTS,
    PROMOTIONS,
    BatchRecord,
    RunCheckpoint,
    RunCounters,
)
from commerce_sync.catalog.promotion_state import PromotionState
from commerce_sync.catalog.promotion_sync import PromotionSync, emit_metrics
from commerce_sync.catalog.state import (
    LOCK,
    CatalogState,
    ProductRecord,
    partition,
)
from commerce_sync.catalog.writer import (
    SYNC_PRODUCT,
    SYNC_PROMOTION,
    CatalogDeadLetters,
    MailchimpCalls,
    Outcome,
    PendingWrite,
    ProductWriter,
    now_version,
    product_path,
    product_version,
    removal_write,
    unchanged,
    upsert_write,
)
from commerce_sync.mailchimp.batches import (
    BatchGone,
    BatchNotFinished,
    BatchOperation,
    BatchResultsUnavailable,
    BatchStatus,
    MailchimpBatches,
    OperationResult,
    operation_id,
    parse_operation_id,
)
from commerce_sync.mailchimp.client import MailchimpClient, ProductIdPage
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.platforms.http import PlatformApiError
from commerce_sync.platforms.products import (
    CatalogPage,
    CatalogSource,
    CatalogUnavailable,
    FingerprintingCatalogSource,
    RawCatalogPage,
    RawProduct,
    Skipped,
    chunks,
)
from commerce_sync.platforms.promotions import PromotionSource
from commerce_sync.platforms.registry import promotion_source_for, source_for
from commerce_sync.processing.services import Services

CATALOG_SYNC = "catalog_sync"
__all__ = ["CATALOG_SYNC", "SYNC_PRODUCT", "SYNC_PROMOTION", "CatalogSync"]


@dataclass(frozen=True)
class CatalogConfig:
    """Tuning; every field can be set from the environment as CATALOG_<NAME> (upper case)."""

    # A batch is submitted once this many changes are waiting (and after the last page); below
    # direct_max, changes go as direct PUTs: one request each on our single connection beats a batch's
    # submit + polls + download, and real Mailchimp takes minutes to run a batch.
    batch_size: int = 500
    max_batch_operations: int = 1000
    direct_max: int = 50
    hurry_direct_max: int = 10
    flush_interval_seconds: float = 30.0
    max_outstanding_batches: int = 4
    poll_initial_seconds: float = 1.0
    poll_max_seconds: float = 15.0
    batch_stale_seconds: float = 6 * 3600.0
    safety_margin_seconds: float = 60.0
    queue_slice_seconds: float = 240.0
    lease_seconds: float = 300.0
    heartbeat_seconds: float = 60.0
    run_max_age_seconds: float = 24 * 3600.0
    sweep_chunk: int = 100
    # Mailchimp product ids read per request in the unrecorded phase (Mailchimp's page holds 1,000 at most).
    listing_page: int = 1000

    @classmethod
    def from_environment(cls) -> CatalogConfig:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = os.environ.get(f"CATALOG_{spec.name.upper()}")
            if raw is not None and raw.strip():
                values[spec.name] = int(raw) if spec.type in ("int", int) else float(raw)
        return cls(**values)


class SyncRequests:
    """Catalog-sync messages on the product queue: one per store for the nightly fan-out, and the
    continuation of a run that ran out of time."""

    def __init__(self, queue_url: str | None, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, run_id: str | None = None, trigger: str = "") -> None:
        if not self._queue_url:
            raise RuntimeError("PRODUCT_SYNC_QUEUE_URL is not set: a catalog sync cannot be queued")
        body: dict[str, Any] = {"action": CATALOG_SYNC, "store_id": store_id, "trigger": trigger}
        if run_id:
            body["run_id"] = run_id
        (self._client or boto3.client("sqs")).send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))


class CatalogSync:
    def __init__(
        self,
        services: Services,
        config: CatalogConfig | None = None,
        requests: SyncRequests | None = None,
        dead_letters: CatalogDeadLetters | None = None,
        source_factory: Callable[[Store, dict[str, Any]], CatalogSource] | None = None,
        promotion_source_factory: Callable[[Store, dict[str, Any]], PromotionSource] | None = None,
    ) -> None:
        self.services = services
        self._config = config
        self.state = CatalogState(services.settings.sync_state_table, boto3.resource("dynamodb"))
        self.requests = requests or SyncRequests(os.environ.get("PRODUCT_SYNC_QUEUE_URL"))
        self.dead_letters = dead_letters or CatalogDeadLetters(os.environ.get("DEAD_LETTER_QUEUE_URL"))
        self._source_factory = source_factory or (lambda store, credentials: source_for(store, credentials))
        promotions = promotion_source_factory or (lambda store, credentials: promotion_source_for(store, credentials))
        self.promotions = PromotionSync(
            PromotionState(services.settings.sync_state_table, boto3.resource("dynamodb")),
            lambda store: promotions(store, self._credentials(store)),
            self.dead_letters,
        )

    @property
    def config(self) -> CatalogConfig:
        """Read for every run unless given, so an operator's (or a test's) setting applies at once."""
        return self._config or CatalogConfig.from_environment()

    # ---- entry points --------------------------------------------------------------------------------

    def fan_out(self, trigger: str) -> dict[str, Any]:
        """One catalog-sync message per active store; the queue consumer runs them (a few at a time)."""
        stores = [store.store_id for store in self.services.registry.list() if store.active]
        for store_id in stores:
            self.requests.send(store_id, trigger=trigger)
        logger.info("catalog sync queued", stores=len(stores), trigger=trigger)
        return {"status": "queued", "stores": stores}

    def run(
        self,
        store_id: str,
        *,
        trigger: str,
        remaining_ms: Callable[[], int],
        run_id: str | None = None,
        slice_seconds: float | None = None,
        what: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """One slice of the store's run: a new run, the unfinished one resumed, or `run_id` continued. `what`
        (products, promotions; both when None) is what a new run syncs; an unfinished run keeps its own."""
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        try:
            source = self._source(store)
        except CatalogUnavailable as error:
            logger.warning("catalog sync skipped", store_id=store_id, reason=str(error))
            return {"status": "skipped", "store_id": store_id, "reason": str(error)}
        lock = SyncLock(self.state.table, partition(store_id), LOCK)
        token = new_token()
        if not lock.acquire(token, self.config.lease_seconds, label=trigger):
            holder = lock.holder()
            logger.info("catalog sync already running", store_id=store_id)
            return {"status": "already_running", "store_id": store_id, "lease_until": holder and holder.lease_until}
        continue_run: str | None = None
        try:
            checkpoint = self.state.load_run(store_id)
            if run_id is not None and (
                checkpoint is None or checkpoint.run_id != run_id or checkpoint.status == "done"
            ):
                return {"status": "superseded", "store_id": store_id, "run_id": run_id}
            checkpoint = self._checkpoint_for(store_id, checkpoint, trigger, run_id is not None, what)
            checkpoint.slices += 1
            budget = remaining_ms() / 1000 - self.config.safety_margin_seconds
            if slice_seconds is not None:
                budget = min(budget, slice_seconds)
            logger.append_keys(store_id=store_id, run_id=checkpoint.run_id)
            work = _Slice(self, store, source, checkpoint, lock, token, time.monotonic() + max(budget, 0.0))
            try:
                # Bulk work: it may hold only the account's bulk share of slots, so live events keep the rest.
                with self.services.budget.holding(store.mailchimp_account, "bulk", max(budget, 1.0)):
                    finished = work.run()
            except AccountPaused as paused:
                logger.warning("catalog sync skipped: the store's Mailchimp account is paused", reason=paused.reason)
                return {"status": "skipped", "store_id": store_id, "reason": str(paused)}
            except LockLost:
                logger.warning("catalog sync lock lost; another invocation carries the run on")
                return {"status": "lock_lost", "store_id": store_id, "run_id": checkpoint.run_id}
            except Exception as error:
                checkpoint.last_error = f"{type(error).__name__}: {error}"[:500]
                self.state.save_run(store_id, checkpoint)
                raise
            if finished:
                return self._finish(store, checkpoint)
            continue_run = checkpoint.run_id
            result = {"status": "continued", "store_id": store_id, **checkpoint.summary()}
        finally:
            lock.release(token)
        # After the lock is released, or the continuation could arrive, find it held, and be dropped.
        self.requests.send(store_id, run_id=continue_run, trigger="continuation")
        logger.info("catalog sync continues in a fresh invocation", phase=result["phase"], pages=result["pages"])
        return result

    def resync(self, store_id: str, product_ids: Sequence[str]) -> dict[str, Any]:
        """Read products from the store and write them directly (dead-letter replays, lost races). A
        Mailchimp refusal is raised, so the queue record is retried or dead-lettered with it."""
        store = self.services.registry.get(store_id)
        if store is None:
            return {"status": "skipped", "store_id": store_id, "reason": "no store with this id"}
        source = self._source(store)
        writer = ProductWriter(store, self.state, self._mailchimp(store), self.dead_letters)
        results = {}
        found = {product.id: product for product in source.products_by_id(list(product_ids))}
        records = self.state.products(store_id, list(product_ids))
        for product_id in product_ids:
            write = _write_for(found.get(product_id), records.get(product_id), store)
            if write is None:
                results[product_id] = "unchanged"
                continue
            outcome = writer.write(write, condition="hash", raise_errors=True)
            results[product_id] = write.kind if outcome is Outcome.APPLIED else outcome.value
        logger.info("products synced from the store", results=results)
        return {"status": "done", "store_id": store_id, "products": results}

    def resync_promotion(self, store_id: str, rule_id: str, code_id: str | None) -> dict[str, Any]:
        """A dead-lettered promo rule or code, replayed: read from the store again and written directly. A
        Mailchimp refusal is raised, so the queue record is retried or dead-lettered again with it."""
        store = self.services.registry.get(store_id)
        if store is None:
            return {"status": "skipped", "store_id": store_id, "reason": "no store with this id"}
        calls = MailchimpCalls(self._mailchimp(store))
        with self.services.budget.holding(store.mailchimp_account, "live"):
            result = self.promotions.resync(store, calls, rule_id, code_id)
        logger.info("promotion synced from the store", **result)
        return {"status": "done", "store_id": store_id, **result}

    # ---- helpers ---------------------------------------------------------------------------------------

    def _mailchimp(self, store: Store) -> Callable[[bool], Any]:
        """The store's Mailchimp client; `True` reads its credentials again (after a 401)."""
        return lambda refresh: self.services.mailchimp(store, refresh_key=refresh)

    def _credentials(self, store: Store) -> dict[str, Any]:
        return dict(self.services.secrets.current(store.secret_id).get("platform_api_credentials") or {})

    def _source(self, store: Store) -> CatalogSource:
        return self._source_factory(store, self._credentials(store))

    def repair(self, store: Store, product_id: str) -> None:
        """Reads the product from the store again and writes it (after a product event lost its lease)."""
        try:
            self.resync(store.store_id, [product_id])
        except CatalogUnavailable:
            logger.warning("a concurrent newer change may have been overwritten", product_id=product_id)

    def _checkpoint_for(
        self,
        store_id: str,
        checkpoint: RunCheckpoint | None,
        trigger: str,
        resuming: bool,
        what: Sequence[str] | None = None,
    ) -> RunCheckpoint:
        too_old = checkpoint is not None and time.time() - checkpoint.started_at > self.config.run_max_age_seconds
        if checkpoint is not None and checkpoint.status != "done" and too_old:
            logger.warning("abandoning an unfinished run that is too old", old_run_id=checkpoint.run_id)
            checkpoint = None
        if checkpoint is None or checkpoint.status == "done":
            parts = [part for part in CATALOG_PARTS if what is None or part in what]
            return RunCheckpoint(
                run_id=uuid.uuid4().hex,
                trigger=trigger,
                started_at=time.time(),
                what=parts,
                phase="pages" if PRODUCTS in parts else "promotions",
            )
        if not resuming:
            logger.info("resuming an interrupted catalog run", run_id=checkpoint.run_id, phase=checkpoint.phase)
        return checkpoint

    def _finish(self, store: Store, checkpoint: RunCheckpoint) -> dict[str, Any]:
        checkpoint.status, checkpoint.phase, checkpoint.finished_at = "done", "done", time.time()
        checkpoint.last_error = None
        self.state.save_run(store.store_id, checkpoint)
        summary = {"store_id": store.store_id, **checkpoint.summary()}
        self.state.save_summary(store.store_id, summary)
        counters = checkpoint.counters
        for name in CATALOG_PRODUCT_COUNTERS:
            metrics.add_metric(name=CATALOG_PRODUCTS[name].name, unit="Count", value=getattr(counters, name))
        metrics.add_metric(name=CATALOG_SYNC_DURATION.name, unit="Seconds", value=checkpoint.duration_seconds)
        metrics.add_metric(name="CatalogMailchimpRequests", unit="Count", value=checkpoint.mailchimp_requests)
        emit_metrics(checkpoint.promotions)
        logger.info("catalog sync finished", summary=summary)
        return {"status": "done", **summary}


def _write_for(product: Product | None, record: ProductRecord | None, store: Store) -> PendingWrite | None:
    """The write that brings Mailchimp in line with the store for one product, or None."""
    if product is None:
        if record is None or record.removed:
            return None
        return removal_write(record, now_version())
    write = upsert_write(product, record, store, product_version(product) or now_version())
    return None if unchanged(write, record) else write


class _Slice:
    """One invocation's share of a run (see the module docstring for the phases)."""

    def __init__(
        self,
        sync: CatalogSync,
        store: Store,
        source: CatalogSource,
        checkpoint: RunCheckpoint,
        lock: SyncLock,
        token: str,
        deadline: float,
    ) -> None:
        self.sync = sync
        self.config = sync.config
        self.state = sync.state
        self.store = store
        self.source = source
        self.checkpoint = checkpoint
        self.lock = lock
        self.token = token
        self.deadline = deadline
        self.writer = ProductWriter(store, sync.state, sync._mailchimp(store), sync.dead_letters)
        self.batches = MailchimpBatches(sync.services.mailchimp(store))
        self.committed_requests = 0
        self.pending: dict[str, PendingWrite] = {}
        self.pending_since: float | None = None
        self.outstanding: list[BatchRecord] = []
        self.delta = RunCounters()
        self.delta_pages = 0
        self.delta_batches = 0
        self.cursor = checkpoint.cursor
        self.listing_offset = checkpoint.listing_offset
        self.last_heartbeat = time.monotonic()
        # While the pages phase runs: the thread that writes a page's seen marks, and the marks being written.
        self._seen_marker: ThreadPoolExecutor | None = None
        self._seen_marking: Future[None] | None = None

    @property
    def store_id(self) -> str:
        return self.store.store_id

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def _run_started_ms(self) -> int:
        """The run's identity in its seen marks: what the sweep compares them with."""
        return int(self.checkpoint.started_at * 1000)

    # ---- phases ------------------------------------------------------------------------------------

    def run(self) -> bool:
        """True when the run is finished; False when it must continue in a fresh invocation."""
        self._recover_batches()
        if self.checkpoint.phase == "pages" and not self._pages():
            return self._pause()
        if self.checkpoint.phase == "sweep" and not self._sweep():
            return self._pause()
        if self.checkpoint.phase == "unrecorded" and not self._unrecorded():
            return self._pause()
        if self.checkpoint.phase == "batches" and not self._settle_all():
            return self._pause()
        if self.checkpoint.phase == "promotions" and not self._promotions():
            return self._pause()
        return True

    def _pages(self) -> bool:
        # The next page is read while this one is compared and flushed: reading a page is mostly waiting on the
        # platform, and the sync waited on 400 page reads one after another at 100,000 products (issue 17). The
        # cursor committed is still that of the last page compared, so a page read ahead and not compared is
        # read again by the next slice; the one reader thread keeps the reads in order, one at a time.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-page") as reader,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-seen") as self._seen_marker,
        ):
            try:
                return self._compare_pages(reader)
            finally:
                self._seen_marker = None

    def _read_page(self, cursor: str | None) -> tuple[str, CatalogPage | RawCatalogPage]:
        """The page at `cursor`, unparsed when the source can fingerprint its products, and the version of the
        moment before it was read (see `_newer_applied`)."""
        fetched = now_version()
        if isinstance(self.source, FingerprintingCatalogSource):
            return fetched, self.source.raw_page(cursor)
        return fetched, self.source.page(cursor)

    def _compare_pages(self, reader: ThreadPoolExecutor) -> bool:
        first = True
        upcoming: Future[tuple[str, CatalogPage | RawCatalogPage]] | None = reader.submit(self._read_page, self.cursor)
        while upcoming is not None:
            if not first and self.time_left() <= 0:
                return False
            first = False
            fetched, page = upcoming.result()
            upcoming = reader.submit(self._read_page, page.next_cursor) if page.next_cursor is not None else None
            if isinstance(page, RawCatalogPage):
                skipped = self._compare_raw(page.items, fetched)
            else:
                self._compare(page.products, fetched)
                skipped = page.skipped
            for product_id, reason in skipped:
                self.delta.failed += 1
                logger.warning("catalog product skipped", product_id=product_id, reason=reason)
            self.delta_pages += 1
            if page.total is not None:
                self.checkpoint.total = page.total
            self.cursor = page.next_cursor
            if self.cursor is None:
                self._flush()
                seen = self.checkpoint.counters.seen + self.delta.seen
                # An empty answer for a catalog we know is more likely a platform fault than a store
                # that deleted everything: retire nothing on its say-so.
                phase = "sweep" if seen else "batches"
                if not seen:
                    logger.warning("the catalog came back empty; no product is retired this run")
                self._commit(cursor=None, phase=phase)
                return True
            self._maybe_flush()
            if not self.pending:
                self._commit(cursor=self.cursor)
            else:
                self._heartbeat()
        return True

    def _sweep(self) -> bool:
        started = self._run_started_ms
        seen_by_pages = self.state.seen_in_run(self.store_id, started)
        candidates: list[ProductRecord] = []
        examined = self.checkpoint.sweep_after
        for record in self.state.iter_products(self.store_id, after=self.checkpoint.sweep_after):
            examined = record.product_id
            if record.removed or not record.variants:
                continue
            # A product an event wrote since the run started exists (a deletion writes `removed`). Whole seconds,
            # rounded down: a write in the run's first second may still be taken, and is then asked for by id.
            if record.product_id in seen_by_pages or record.updated_at * 1000 >= started:
                continue
            candidates.append(record)
            if len(candidates) >= self.config.sweep_chunk:
                self._retire(candidates)
                candidates = []
                self._maybe_flush()
                if not self.pending:
                    self._commit(sweep_after=examined)
                if self.time_left() <= 0:
                    self._flush(hurry=True)
                    self._commit(sweep_after=examined)
                    return False
        if candidates:
            self._retire(candidates)
        self._flush()
        self._commit(sweep_after=None, phase="unrecorded")
        return True

    def _unrecorded(self) -> bool:
        """The removal rule for the products Mailchimp holds that no record names (the module docstring).
        Mailchimp pages by offset: a product created meanwhile can shift one past this walk, and the next
        run finds it; nothing here removes a product from Mailchimp's list, so the walk skips nothing else.

        Which products have a record comes from one keys-only Query of the records (a few requests at 100,000
        products) instead of reading each page's records by key (1,000 BatchGetItems: a third of an unchanged
        re-run's time, issue 17). A record written after that read is taken for unrecorded and asked for by id, as
        any unrecorded product is: it is written, not retired."""
        recorded = self.state.recorded_ids(self.store_id)
        while True:
            page = self._product_ids(self.listing_offset)
            unrecorded = [product_id for product_id in page.ids if product_id not in recorded]
            for part in chunks(unrecorded, self.config.sweep_chunk):
                self._retire_unrecorded(part)
            self.listing_offset += len(page.ids)
            if not page.ids or self.listing_offset >= page.total_items:
                self._flush()
                self._commit(listing_offset=0, phase="batches")
                return True
            self._maybe_flush()
            if not self.pending:
                self._commit(listing_offset=self.listing_offset)
            if self.time_left() <= 0:
                self._flush(hurry=True)
                self._commit(listing_offset=self.listing_offset)
                return False

    def _product_ids(self, offset: int) -> ProductIdPage:
        return self.writer.call(
            partial(MailchimpClient.product_ids, store_id=self.store_id, offset=offset, count=self.config.listing_page)
        )

    def _settle_all(self) -> bool:
        while self.outstanding:
            if not self._settle(self.outstanding[0], wait=True):
                return False
        self._commit(phase="promotions" if PROMOTIONS in self.checkpoint.what else "done")
        return True

    def _promotions(self) -> bool:
        """The run's promotions part, on this slice's Mailchimp connection, lock and checkpoint."""
        finished = self.sync.promotions.run_slice(
            self.store,
            self.checkpoint,
            self.writer.calls,
            self.batches,
            self.config,
            self._commit,
            self.time_left,
            self._heartbeat,
        )
        if finished:
            self._commit(phase="done")
        return finished

    def _pause(self) -> bool:
        self._flush(hurry=True)
        if self.checkpoint.phase == "unrecorded":
            self._commit(listing_offset=self.listing_offset)
        else:
            self._commit(cursor=self.cursor if self.checkpoint.phase == "pages" else self.checkpoint.cursor)
        return False

    # ---- comparing -----------------------------------------------------------------------------------

    def _compare(self, products: Sequence[Product], fetched: str) -> None:
        if not products:
            return
        ids = [product.id for product in products]
        records = self.state.products_marking_seen(self.store_id, self._run_started_ms, ids, time.time())
        self._compare_with(products, records, fetched)

    def _compare_raw(self, items: Sequence[RawProduct], fetched: str) -> Skipped:
        """`_compare` for a page not parsed yet: a product whose fingerprint is the one recorded with its last
        write is unchanged without being parsed or mapped — the same fingerprint is the same Mailchimp body
        (platforms.products.fingerprinted), and that record cannot hold a newer version than the page (it was
        written from this very product; an event's write replaces the fingerprint). The others are parsed and
        compared as `_compare` does. As there, only the products that parse are marked seen."""
        if not items:
            return []
        records = self.state.products(self.store_id, [item.id for item in items if item.id])
        unchanged_ids: list[str] = []
        changed: list[RawProduct] = []
        for item in items:
            record = records.get(item.id)
            if record is not None and record.hash and not record.removed and record.source == item.fingerprint:
                unchanged_ids.append(item.id)
            else:
                changed.append(item)
        products, skipped = self._fingerprinting_source.to_products(changed) if changed else ([], [])
        self._mark_seen([*unchanged_ids, *(product.id for product in products)])
        self.delta.seen += len(unchanged_ids)
        self.delta.unchanged += len(unchanged_ids)
        fingerprints = {item.id: item.fingerprint for item in changed}
        self._compare_with(products, records, fetched, fingerprints)
        return skipped

    def _mark_seen(self, product_ids: Sequence[str]) -> None:
        """Seen marks, written while the page is compared and flushed when the pages phase can (a round trip a
        page less); `_commit` waits for them, so no cursor is committed before its page's marks are written."""
        at = time.time()
        if self._seen_marker is None:
            self.state.mark_seen_in_run(self.store_id, self._run_started_ms, product_ids, at)
            return
        self._wait_for_seen_marks()
        self._seen_marking = self._seen_marker.submit(
            self.state.mark_seen_in_run, self.store_id, self._run_started_ms, product_ids, at
        )

    def _wait_for_seen_marks(self) -> None:
        marking, self._seen_marking = self._seen_marking, None
        if marking is not None:
            marking.result()

    @property
    def _fingerprinting_source(self) -> FingerprintingCatalogSource:
        assert isinstance(self.source, FingerprintingCatalogSource)
        return self.source

    def _compare_with(
        self,
        products: Sequence[Product],
        records: dict[str, ProductRecord],
        fetched: str,
        fingerprints: dict[str, str] | None = None,
    ) -> None:
        refingerprinted: list[tuple[ProductRecord, str | None]] = []
        for product in products:
            self.delta.seen += 1
            record = records.get(product.id)
            version = product_version(product)
            if record is not None and _newer_applied(record, version, fetched):
                self.delta.skipped_newer += 1
                continue
            source = (fingerprints or {}).get(product.id, "")
            write = upsert_write(product, record, self.store, version or fetched, source)
            if unchanged(write, record):
                self.delta.unchanged += 1
                if record is not None and source and record.source != source:
                    refingerprinted.append((record.with_changes(source=source), record.hash))
                continue
            self._add(write)
        if refingerprinted:
            # The same content from another fingerprint (a record from before fingerprints, a platform field the
            # mapping ignores, a new release): only the fingerprint is recorded, so the next run need not parse it.
            # Conditional on the hash read, as every catalog write; a conflict means an event wrote it meanwhile.
            self.state.put_products(self.store_id, refingerprinted)

    def _retire(self, candidates: Sequence[ProductRecord]) -> None:
        """Retire the recorded products the pages did not show and the store no longer has."""
        gone = self._gone([record.product_id for record in candidates])
        for record in candidates:
            if record.product_id in gone:
                self._add(removal_write(record, now_version()))

    def _retire_unrecorded(self, product_ids: Sequence[str]) -> None:
        """Retire the products Mailchimp holds without a record that the store no longer has; Mailchimp is
        asked for each one's variants, since no record lists them."""
        for product_id in sorted(self._gone(product_ids)):
            held = self.writer.call(partial(MailchimpClient.get_product, store_id=self.store_id, product_id=product_id))
            if held is not None:
                record = ProductRecord.from_mailchimp({**held, "id": product_id})
                self._add(removal_write(record, now_version(), stored=False))

    def _gone(self, product_ids: Sequence[str]) -> set[str]:
        """Ask the store about products the pages did not show: those it still has are compared (and written
        when they differ); the ids it no longer has are returned."""
        present = self.source.products_by_id(product_ids)
        if present:
            logger.info("products missed by paging are still in the catalog", count=len(present))
            self._compare(present, now_version())
        return set(product_ids) - {product.id for product in present}

    def _add(self, write: PendingWrite) -> None:
        self.pending[write.product_id] = write
        if self.pending_since is None:
            self.pending_since = time.monotonic()

    # ---- flushing ------------------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        full = len(self.pending) >= self.config.batch_size
        due = self.pending_since is not None and (
            time.monotonic() - self.pending_since >= self.config.flush_interval_seconds
        )
        if full or due:
            self._flush()

    def _flush(self, hurry: bool = False) -> None:
        writes = list(self.pending.values())
        self.pending.clear()
        self.pending_since = None
        if not writes:
            return
        if len(writes) <= (self.config.hurry_direct_max if hurry else self.config.direct_max):
            self._write_direct(writes)
            return
        for part in chunks(writes, self.config.max_batch_operations):
            self._submit(list(part))

    def _write_direct(self, writes: Sequence[PendingWrite]) -> None:
        for write in writes:
            self._count(write, self.writer.write(write, condition="hash", raise_errors=False))

    def _count(self, write: PendingWrite, outcome: Outcome, kind: str | None = None) -> None:
        if outcome is Outcome.APPLIED:
            kind = kind or write.kind
            setattr(self.delta, kind, getattr(self.delta, kind) + 1)
        elif outcome is Outcome.CONFLICT:
            self.delta.skipped_newer += 1
        else:
            self.delta.failed += 1
            if outcome is Outcome.DEAD_LETTERED:
                self.delta.dead_lettered += 1

    def _submit(self, writes: list[PendingWrite]) -> None:
        # Backpressure: a few batches in flight per run; the oldest is waited for before another goes.
        while len(self.outstanding) >= self.config.max_outstanding_batches and self.time_left() > 0:
            if not self._settle(self.outstanding[0], wait=True):
                break
        record = BatchRecord(
            key=uuid.uuid4().hex,
            run_id=self.checkpoint.run_id,
            ops={write.product_id: (write.record.hash, write.kind) for write in writes},
        )
        # Written first: whatever happens next, this record says which products may be in flight.
        self.state.put_batch(self.store_id, record)
        conflicts = self.state.put_products(self.store_id, [(write.record, write.read_hash) for write in writes])
        if conflicts:
            self.delta.skipped_newer += len(conflicts)
            writes = [write for write in writes if write.product_id not in conflicts]
            record.ops = {pid: op for pid, op in record.ops.items() if pid not in conflicts}
            if not writes:
                self.state.delete_batch(self.store_id, record.key)
                return
            self.state.put_batch(self.store_id, record)
        operations = [
            BatchOperation(
                method="PUT",
                path=product_path(self.store_id, write.product_id),
                operation_id=operation_id("product", write.product_id, write.record.hash),
                body=write.body.body(),
            )
            for write in writes
        ]
        try:
            status = self.batches.submit(operations)
        except MailchimpError:
            self._lost(record, "the batch could not be submitted")
            raise
        record.mailchimp_id, record.status = status.id, "submitted"
        self.state.put_batch(self.store_id, record)
        self.outstanding.append(record)
        self.delta_batches += 1
        for write in writes:
            setattr(self.delta, write.kind, getattr(self.delta, write.kind) + 1)
        logger.info("batch submitted", batch_id=status.id, operations=len(operations))

    # ---- batches in flight ---------------------------------------------------------------------------

    def _recover_batches(self) -> None:
        for record in self.state.open_batches(self.store_id):
            if record.status == "submitting" or not record.mailchimp_id:
                # The invocation that wrote it ended before it could say what Mailchimp answered.
                self._lost(record, "interrupted while being submitted")
            else:
                self.outstanding.append(record)

    def _settle(self, record: BatchRecord, wait: bool) -> bool:
        """Poll one batch; apply its results once finished. True when it is settled."""
        interval = self.config.poll_initial_seconds
        while True:
            status = self.batches.status(str(record.mailchimp_id))
            if status is None:
                self._lost(record, "Mailchimp no longer has the batch")
                return True
            if status.finished and self._apply_results(record, status):
                return True
            if time.time() - record.submitted_at > self.config.batch_stale_seconds:
                self.batches.delete(str(record.mailchimp_id))
                self._lost(record, f"the batch was still {status.status} after hours")
                return True
            if not wait or self.time_left() <= 0:
                return False
            time.sleep(min(interval, max(self.time_left(), 0.0)))
            interval = min(interval * 1.5, self.config.poll_max_seconds)
            self._heartbeat()

    def _apply_results(self, record: BatchRecord, status: BatchStatus) -> bool:
        failed: dict[str, OperationResult] = {}
        succeeded: dict[str, str] = {}
        try:
            for result in self.batches.results(str(record.mailchimp_id), status):
                parsed = parse_operation_id(result.operation_id)
                if parsed is None or parsed[0] != "product" or parsed[1] not in record.ops:
                    continue
                _, product_id, written_hash = parsed
                if result.ok:
                    succeeded[product_id] = written_hash
                    failed.pop(product_id, None)
                else:
                    failed[product_id] = result
        except BatchGone:
            self._lost(record, "Mailchimp no longer has the batch")
            return True
        except (BatchResultsUnavailable, BatchNotFinished) as error:
            # Not settled: the record stays, and a later poll (or the next run) reads the results again.
            logger.warning("batch results not readable yet", batch_id=record.mailchimp_id, reason=str(error))
            return False
        mine = record.run_id == self.checkpoint.run_id
        retry: list[str] = []
        for product_id, result in failed.items():
            written_hash, kind = record.ops[product_id]
            title, _ = result.problem()
            logger.info("batch operation failed", product_id=product_id, status=result.status_code, title=title)
            self.state.forget_hash(self.store_id, product_id, written_hash)
            if mine:
                setattr(self.delta, kind, getattr(self.delta, kind) - 1)
            retry.append(product_id)
        missing = [pid for pid in record.ops if pid not in succeeded and pid not in failed]
        for product_id in missing:
            self.state.forget_hash(self.store_id, product_id, record.ops[product_id][0])
            retry.append(product_id)
        # A product written again (by an event) while the batch waited may have been overwritten by the
        # batch's older content: the record then holds another hash, and the product is written afresh.
        current = self.state.products(self.store_id, list(succeeded))
        for product_id, written_hash in succeeded.items():
            held = current.get(product_id)
            if held is not None and held.hash and held.hash != written_hash:
                retry.append(product_id)
        self.state.delete_batch(self.store_id, record.key)
        self.outstanding = [other for other in self.outstanding if other.key != record.key]
        metrics.add_metric(name="CatalogBatchOperationsFailed", unit="Count", value=len(failed))
        logger.info(
            "batch settled",
            batch_id=record.mailchimp_id,
            succeeded=len(succeeded),
            failed=len(failed),
            retry=len(retry),
        )
        if retry:
            self._retry(retry, {pid: kind for pid, (_, kind) in record.ops.items()} if mine else None)
        return True

    def _lost(self, record: BatchRecord, why: str) -> None:
        """Nothing is known of what this batch did: its products are written again by the next run."""
        for product_id, (written_hash, kind) in record.ops.items():
            self.state.forget_hash(self.store_id, product_id, written_hash)
            if record.run_id == self.checkpoint.run_id and record.status == "submitted":
                setattr(self.delta, kind, getattr(self.delta, kind) - 1)
                self.delta.failed += 1
        self.state.delete_batch(self.store_id, record.key)
        self.outstanding = [other for other in self.outstanding if other.key != record.key]
        metrics.add_metric(name="CatalogBatchesLost", unit="Count", value=1)
        logger.warning("batch lost; its products are written again next run", batch=record.key, why=why)

    def _retry(self, product_ids: Sequence[str], kinds: dict[str, str] | None) -> None:
        """Failed batch operations, as direct writes of the product read from the store again. `kinds`
        (what each operation was) when the batch is this run's, whose counters it corrects."""
        count_as_mine = kinds is not None
        unique = list(dict.fromkeys(product_ids))
        for part in chunks(unique, self.config.sweep_chunk):
            try:
                found = {product.id: product for product in self.source.products_by_id(list(part))}
            except PlatformApiError as error:
                logger.warning("retries postponed: the store's API failed", error=str(error), products=len(part))
                if count_as_mine:
                    self.delta.failed += len(part)
                continue
            records = self.state.products(self.store_id, list(part))
            for product_id in part:
                write = _write_for(found.get(product_id), records.get(product_id), self.store)
                if write is None:
                    continue
                outcome = self.writer.write(write, condition="hash", raise_errors=False)
                if kinds is not None:
                    self.delta.retried += 1
                    kind = kinds.get(product_id, write.kind)
                    self._count(write, outcome, kind if write.kind != "removed" else write.kind)

    # ---- checkpoint --------------------------------------------------------------------------------

    def _commit(self, **changes: Any) -> None:
        self._wait_for_seen_marks()
        checkpoint = self.checkpoint
        checkpoint.counters.add(self.delta)
        self.delta = RunCounters()
        checkpoint.pages += self.delta_pages
        checkpoint.batches += self.delta_batches
        self.delta_pages = self.delta_batches = 0
        requests = self.writer.requests + self.batches.requests
        checkpoint.mailchimp_requests += requests - self.committed_requests
        self.committed_requests = requests
        for name, value in changes.items():
            setattr(checkpoint, name, value)
        if time.monotonic() - self.last_heartbeat < self.config.heartbeat_seconds:
            # The lease was renewed less than a heartbeat ago and lasts five: a commit follows every page, and
            # renewing it each time was 400 writes at 100,000 products (issue 17).
            self.state.save_run(self.store_id, checkpoint)
            return
        # The checkpoint and the lease are two items written side by side rather than one after the other. Both are
        # done (or raised: LockLost from the renewal) when this returns.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-lease") as renewer:
            renewal = renewer.submit(self.lock.renew, self.token, self.config.lease_seconds)
            self.state.save_run(self.store_id, checkpoint)
            renewal.result()
        self.last_heartbeat = time.monotonic()

    def _heartbeat(self) -> None:
        if time.monotonic() - self.last_heartbeat >= self.config.heartbeat_seconds:
            self.lock.renew(self.token, self.config.lease_seconds)
            self.last_heartbeat = time.monotonic()


def _newer_applied(record: ProductRecord, version: str, fetched: str) -> bool:
    """True when the record holds a change the page we read cannot know about: a newer version from an
    event, or a deletion announced after the page was read."""
    if record.removed:
        return bool(record.version) and record.version > fetched
    return bool(version) and bool(record.version) and record.version > version
