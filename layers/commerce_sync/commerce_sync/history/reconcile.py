"""The nightly reconciliation: per store, the orders and customers the platform says changed since the last run
are compared with what the sync state says was applied, and whatever is missing or older is put on the event bus,
so the normal processing path (idempotency, the version guard, cart conversion, notifications) applies it.
docs/history.md is the long version.

- Window: per resource from its stored watermark minus OVERLAP (a change whose webhook is still on its way,
  a platform's clock, a page read while a resource changed), to the run's start (`until`); the first run looks
  back FIRST_WINDOW. The new watermark is the latest `updated_at` its pages held (HistoryPage.high_water),
  stored only at the run's end, so a run that never ends leaves the next one the same window.
- Chained (aws.chained_runs): a store's run is a chain of slices of the product_sync function, its checkpoint
  (history.reconcile_state) saved after every page, the rest continued through the product queue; one run per
  store at a time (`already_running`), an unfinished run resumed by the next request (a killed one too).
- While a backfill of the store is live (it records the same versions) a slice does not read: it looks again
  `backfill_wait_seconds` later through the queue (`waiting`).
- Compared with the version the live consumers record (`SyncState.applied_many`, a page at a time, and
  `applied_version`, the guard they apply): none recorded is `missing`, an older one `outdated`; as new or newer
  is fine. A repair is one event published; nothing missed publishes nothing, so Mailchimp gets no write at all.
- Summary per run (checked, repaired by kind, failed), written once at its end, a metric `ReconciliationRepairs`
  (an alarm when > 0: webhooks are being lost) and `ReconciliationFailed`.
- Abandoned carts, last, from a reader that lists them (platforms.history.AbandonedCartSource: API2Cart, whose
  carts without basket webhooks would otherwise never reach Mailchimp): changed since their own watermark, compared
  with the cart consumer's version; one without an e-mail, or one converted into an order, is skipped with the
  reason (the consumer would refuse the converted one too: this keeps it off the bus). Read after the orders, so an
  order repaired in the same run has converted its cart before the cart's event is even published. A cart type
  without abandoned carts is `not_read` with the reason, not a failure.
- A store whose platform has no history reader (canonical senders) or whose credentials are missing is skipped
  with the reason.
- Webhook health first, when a run starts (platforms.hooks.PlatformHooks.check_and_repair): an inactive webhook of
  ours is set active again, a missing one reported (a Shopify store's made again), per topic in the summary's
  `webhooks`; metrics `WebhooksReactivated`, `WebhooksRecreated` and `WebhooksMissing`. A store without the check
  (a Shopify store not registered as subscribed through the Admin API, canonical senders) is "not checked" with
  the reason, and a check that fails is recorded and logged: neither stops the order and customer reconciliation.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from commerce_sync.aws.chained_runs import (
    CONTINUE,
    FINISHED,
    Continuations,
    Link,
    Next,
    continue_after,
    slice_deadline,
    tuning_from_environment,
)
from commerce_sync.aws.metric_names import (
    RECONCILIATION_FAILED,
    RECONCILIATION_REPAIRS,
    WEBHOOKS_MISSING,
    WEBHOOKS_REACTIVATED,
)
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_lock import SyncLock
from commerce_sync.aws.sync_state import applied_version
from commerce_sync.aws.tombstones import Shopper, comparable_time, shopper_of
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.carts.conversion import CART
from commerce_sync.carts.customers import PLATFORM_CUSTOMER
from commerce_sync.history.reconcile_state import ReconcileCheckpoint, ReconcilePhase, ReconcileRecords
from commerce_sync.history.state import LOCK as BACKFILL_LOCK
from commerce_sync.history.state import HistoryState, partition
from commerce_sync.orders.sync import ORDER
from commerce_sync.platforms.history import (
    AbandonedCartSource,
    CartsUnsupported,
    HistoryPage,
    HistoryResource,
    HistorySource,
    HistoryUnavailable,
)
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.registry import history_source_for
from commerce_sync.platforms.webhook_health import HealthAction, HookState, WebhookHealth, WebhookHealthUnavailable
from commerce_sync.processing.services import Services

RECONCILE = "reconcile"
OVERLAP = timedelta(hours=1)
FIRST_WINDOW = timedelta(hours=24)
# Customers before orders, as the backfill: an order's repair then finds its customer's repaired too.
RESOURCES: tuple[HistoryResource, ...] = ("customers", "orders")
CARTS = "carts"
WAITING = "waiting"


@dataclass(frozen=True)
class ReconcileConfig:
    """Tuning; every field can be set from the environment as RECONCILE_<NAME> (upper case)."""

    safety_margin_seconds: float = 60.0
    # A slice run by the queue consumer stops after this, so the product events behind it are not held up.
    queue_slice_seconds: float = 240.0
    lease_seconds: float = 300.0
    # An unfinished run older than this is dropped and a fresh one started: each night's run then checks the
    # webhooks and ends in a summary of its own. Nothing is lost: a dropped run never moved the watermarks.
    run_max_age_seconds: float = 20 * 3600.0
    # While a backfill of the store is live, a slice looks again this long after (SQS delay: at most 900).
    backfill_wait_seconds: int = 300
    # A backfill whose checkpoint has not moved for this long, its lock free, was killed: it is not waited for
    # (the backfill's own BACKFILL_STALE_SECONDS, after which `status` resets its flag).
    backfill_stale_seconds: float = 1200.0

    @classmethod
    def from_environment(cls) -> ReconcileConfig:
        return tuning_from_environment(cls, "RECONCILE_")


class ReconcileRequests:
    """One reconciliation per store on the product queue (the nightly fan-out); continuations are
    aws.chained_runs.Continuations."""

    def __init__(self, queue_url: str | None, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, trigger: str) -> None:
        if not self._queue_url:
            raise RuntimeError("PRODUCT_SYNC_QUEUE_URL is not set: the reconciliation cannot fan out")
        body = {"action": RECONCILE, "store_id": store_id, "trigger": trigger}
        (self._client or boto3.client("sqs")).send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Reconciliation:
    def __init__(
        self,
        services: Services,
        requests: ReconcileRequests | None = None,
        source_factory: Callable[[Store, dict[str, Any]], HistorySource] | None = None,
        hooks: PlatformHooks | None = None,
        config: ReconcileConfig | None = None,
        continuations: Continuations | None = None,
    ) -> None:
        self.services = services
        self.hooks = hooks or PlatformHooks()
        self.state = HistoryState(services.sync_state.table)
        self.records = ReconcileRecords(services.sync_state.table)
        queue_url = os.environ.get("PRODUCT_SYNC_QUEUE_URL")
        self.requests = requests or ReconcileRequests(queue_url)
        self.continuations = continuations or Continuations(RECONCILE, queue_url)
        self._config = config
        self._source_factory = source_factory or (lambda store, credentials: history_source_for(store, credentials))

    @property
    def config(self) -> ReconcileConfig:
        """Read for every slice unless given, so an operator's (or a test's) setting applies at once."""
        return self._config or ReconcileConfig.from_environment()

    def fan_out(self, trigger: str) -> dict[str, Any]:
        stores = [store.store_id for store in self.services.registry.list() if store.active]
        for store_id in stores:
            self.requests.send(store_id, trigger)
        logger.info("reconciliation queued", stores=len(stores), trigger=trigger)
        return {"status": "queued", "stores": stores}

    def run(
        self,
        store_id: str,
        *,
        trigger: str,
        remaining_ms: Callable[[], int],
        run_id: str | None = None,
        slice_seconds: float | None = None,
    ) -> dict[str, Any]:
        """One slice of the store's reconciliation: a new run, the unfinished one resumed, or `run_id` continued."""
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        credentials = dict(self.services.secrets.current(store.secret_id).get("platform_api_credentials") or {})
        try:
            source = self._source_factory(store, credentials)
        except HistoryUnavailable as error:
            # The webhooks are checked all the same: a store without a reader may still have webhooks of ours.
            webhooks = self.webhook_health(store, credentials)
            logger.info("reconciliation skipped", store_id=store_id, reason=str(error))
            return {"status": "skipped", "store_id": store_id, "reason": str(error), "webhooks": webhooks}
        config = self.config
        chain = self.records.chain(store_id, config.lease_seconds, self.continuations)
        deadline = slice_deadline(remaining_ms(), config.safety_margin_seconds, slice_seconds)
        work = _Slice(self, store, source, config, deadline)
        logger.append_keys(store_id=store_id)
        return chain.run_slice(
            store_id,
            label=trigger,
            run_id=run_id,
            begin=lambda held: self._begin(store, credentials, held, trigger),
            work=work.run,
            finish=work.finish,
            progress=ReconcileCheckpoint.progress,
        )

    def _begin(
        self, store: Store, credentials: dict[str, Any], held: ReconcileCheckpoint | None, trigger: str
    ) -> ReconcileCheckpoint:
        """The unfinished run, resumed; else a fresh one: its window fixed now, the webhooks checked."""
        if held is not None and held.status == "running":
            if time.time() - held.started_at <= self.config.run_max_age_seconds:
                logger.append_keys(run_id=held.run_id)
                return held
            logger.warning("abandoning an unfinished reconciliation that is too old", old_run_id=held.run_id)
        now = datetime.now(UTC)
        watermarks = self.records.watermarks(store.store_id)
        windows: dict[str, str] = {
            resource: (
                _moment(watermarks[resource]) - OVERLAP if resource in watermarks else now - FIRST_WINDOW
            ).isoformat()
            for resource in (*RESOURCES, CARTS)
        }
        # Before the history: a webhook switched off since the last run is switched on again as early as possible,
        # and the check's outcome is in the summary whatever the history reading does.
        webhooks = self.webhook_health(store, credentials)
        checkpoint = ReconcileCheckpoint(
            run_id=uuid.uuid4().hex,
            trigger=trigger,
            phase=RESOURCES[0],
            windows=windows,
            until=now.isoformat(),
            watermarks=watermarks,
            webhooks=webhooks,
            started_at=time.time(),
        )
        logger.append_keys(run_id=checkpoint.run_id)
        return checkpoint

    def backfill_in_progress(self, store_id: str) -> str | None:
        """The run id of a live backfill of the store (its lock held, or its checkpoint running and moved lately:
        between two of its slices), else None. A backfill killed long ago is not waited for."""
        backfill = self.state.load(store_id)
        holder = SyncLock(self.state.table, partition(store_id), BACKFILL_LOCK).holder()
        if holder is not None and not holder.expired:
            return backfill.run_id if backfill is not None else "unknown"
        moved_lately = backfill is not None and time.time() - backfill.updated_at < self.config.backfill_stale_seconds
        if backfill is not None and backfill.status == "running" and moved_lately:
            return backfill.run_id
        return None

    def webhook_health(self, store: Store, credentials: dict[str, Any]) -> dict[str, Any]:
        """The store's webhook check as the run's summary records it; never raises: a failed check must not stop
        the order and customer reconciliation (the readers bring what a switched-off webhook dropped)."""
        try:
            health = self.hooks.check_and_repair(store, credentials, repair=True)
        except WebhookHealthUnavailable as error:
            # A Shopify store not subscribed through the Admin API, canonical senders, no REST key, a listing
            # refused: not a failure of the run.
            reason = redact_emails(str(error))[:300]
            logger.info("webhook health not checked", store_id=store.store_id, reason=reason)
            return {"checked": False, "reason": reason}
        except Exception as error:
            reason = redact_emails(f"{type(error).__name__}: {error}")[:300]
            logger.exception("webhook health check failed", store_id=store.store_id, reason=reason)
            return {"checked": False, "reason": reason, "error": True}
        return webhook_report(health)


def webhook_report(health: WebhookHealth) -> dict[str, Any]:
    """The summary's `webhooks`, counted as metrics and logged: per topic its state before and the action (topic
    names, hook ids, states and the platform's error message: never a secret, headers or an address)."""
    # Hooks, not topics: a BigCommerce wildcard hook covering three scopes is one webhook reactivated.
    reactivated = {topic.hook_id for topic in health.with_action(HealthAction.REACTIVATED)}
    missing = len(health.missing)
    report: dict[str, Any] = {
        "checked": True,
        "platform": health.platform,
        "healthy": health.healthy,
        "counts": health.summary(),
        "reactivated": len(reactivated),
        "missing": missing,
        "topics": [
            {
                "topic": topic.topic,
                "state_before": topic.state_before.value,
                "action": topic.action.value,
                **({"hook_id": topic.hook_id} if topic.hook_id else {}),
                **({"detail": redact_emails(topic.detail)} if topic.detail else {}),
            }
            for topic in health.topics
        ],
    }
    metrics.add_metric(name=WEBHOOKS_REACTIVATED.name, unit="Count", value=len(reactivated))
    metrics.add_metric(name=WEBHOOKS_MISSING.name, unit="Count", value=missing)
    # Counted in WebhooksMissing too (the alarm): Shopify removed them because deliveries to us kept failing.
    metrics.add_metric(name="WebhooksRecreated", unit="Count", value=len(health.with_action(HealthAction.RECREATED)))
    unwell = [
        f"{topic.topic}: {topic.state_before.value} -> {topic.action.value}"
        for topic in health.topics
        if topic.state_before is not HookState.ACTIVE
    ]
    log = logger.warning if unwell else logger.info
    fields: dict[str, Any] = {"store_id": health.store_id, **health.summary(), "topics_not_active": unwell}
    log("reconciliation: webhook health", **fields)
    return report


class _Slice:
    """One invocation's share of a store's run: pages read until the deadline (at least one), each compared a
    page at a time and committed."""

    def __init__(
        self,
        reconciliation: Reconciliation,
        store: Store,
        source: HistorySource,
        config: ReconcileConfig,
        deadline: float,
    ) -> None:
        self.reconciliation = reconciliation
        self.services = reconciliation.services
        self.store = store
        self.source = source
        self.config = config
        self.deadline = deadline

    def run(self, checkpoint: ReconcileCheckpoint, link: Link[ReconcileCheckpoint]) -> Next:
        backfill = self.reconciliation.backfill_in_progress(self.store.store_id)
        if backfill is not None:
            if checkpoint.waiting_for != backfill:
                logger.info("reconciliation waits for the store's backfill", backfill_run_id=backfill)
            checkpoint.waiting_for = backfill
            return continue_after(self.config.backfill_wait_seconds, WAITING)
        checkpoint.waiting_for = None
        first = True
        while checkpoint.phase != "done":
            if not first and time.monotonic() >= self.deadline:
                logger.info("reconciliation continues in a fresh invocation", phase=checkpoint.phase)
                return CONTINUE
            first = False
            self._page(checkpoint)
            link.commit(checkpoint)
        return FINISHED

    def _page(self, checkpoint: ReconcileCheckpoint) -> None:
        """Reads the page at the cursor, publishes its repairs, and moves the checkpoint past it."""
        resource: str = checkpoint.phase
        # A run begun before carts were read has no window for them: the first run's.
        window = checkpoint.windows.get(resource) or (_moment(checkpoint.until) - FIRST_WINDOW).isoformat()
        since, until = _moment(window), _moment(checkpoint.until)
        if resource == CARTS:
            if not isinstance(self.source, AbandonedCartSource):
                checkpoint.phase = "done"
                return
            try:
                page: HistoryPage = self.source.abandoned_carts(since, checkpoint.cursor, until)
            except CartsUnsupported as error:
                reason = redact_emails(str(error))[:300]
                logger.info("reconciliation: abandoned carts not read", reason=reason)
                checkpoint.not_read[CARTS] = reason
                checkpoint.cursor, checkpoint.phase = None, "done"
                return
        else:
            page = self.source.page(resource, since, checkpoint.cursor, until)  # type: ignore[arg-type]
        checkpoint.pages += 1
        checkpoint.checked[resource] = checkpoint.checked.get(resource, 0) + page.resources
        checkpoint.failed += len(page.skipped)
        for platform_id, reason in page.skipped:
            logger.warning("reconciliation: resource unreadable", resource=resource, id=platform_id, reason=reason)
        repairs = self._repairs(checkpoint, page.events)
        if repairs:
            # Published before the cursor moves: a slice killed in between reads the page again, and its repairs
            # are then duplicates (stable event ids) or already applied.
            self.services.publisher.publish(repairs)
        held = checkpoint.high_water.get(resource)
        if page.high_water and (held is None or _moment(page.high_water) > _moment(held)):
            checkpoint.high_water[resource] = page.high_water
        checkpoint.cursor = page.next_cursor
        if page.next_cursor is None:
            following = _next_phase(resource)
            # A reader without abandoned carts ends with the orders (no slice spent on a phase it cannot read).
            reads_carts = isinstance(self.source, AbandonedCartSource)
            checkpoint.phase = "done" if following == CARTS and not reads_carts else following

    def _repairs(self, checkpoint: ReconcileCheckpoint, events: Sequence[CanonicalEvent]) -> list[CanonicalEvent]:
        """The page's events whose version is not applied yet, counted by kind; one batched read per entity type."""
        store_id = self.store.store_id
        customers: list[CanonicalEvent] = []
        orders: list[CanonicalEvent] = []
        carts: list[CanonicalEvent] = []
        for event in events:
            if event.type is EventType.CUSTOMER_UPDATED:
                if event.customer().email is None:
                    checkpoint.skipped += 1  # the live path writes no customer without an address either
                else:
                    customers.append(event)
            elif event.type is EventType.ORDER_UPDATED:
                orders.append(event)
            elif event.type is EventType.CART_UPDATED:
                if event.cart().customer.email is None:
                    # Mailchimp holds no cart without its shopper's address (the consumer would only keep it).
                    checkpoint.skipped += 1
                    logger.info("reconciliation: cart skipped", cart_id=event.entity_id, reason="no e-mail")
                else:
                    carts.append(event)
            # Shipments and refunds travel inside their order's event.
        held_customers = (
            self.services.sync_state.applied_many(store_id, PLATFORM_CUSTOMER, [e.entity_id for e in customers])
            if customers
            else {}
        )
        held_orders = (
            self.services.sync_state.applied_many(store_id, ORDER, [e.order().id for e in orders]) if orders else {}
        )
        held_carts = (
            self.services.sync_state.applied_many(store_id, CART, [e.cart().id for e in carts]) if carts else {}
        )
        compared = [("customers", e, held_customers.get(e.entity_id)) for e in customers] + [
            ("orders", e, held_orders.get(e.order().id)) for e in orders
        ]
        for event in carts:
            held_cart = held_carts.get(event.cart().id)
            if held_cart and held_cart.get("converted"):
                # Bought: its order ended it for good (carts.conversion); writing it again would bring back an
                # abandoned-cart e-mail for a purchase.
                checkpoint.skipped += 1
                logger.info("reconciliation: cart skipped", cart_id=event.cart().id, reason="converted into an order")
                continue
            compared.append(("carts", event, held_cart))
        wanted: list[tuple[str, CanonicalEvent]] = []
        for kind, event, held in compared:
            recorded = applied_version(held)
            if recorded < event.entity_version:
                wanted.append((f"{kind}_{'outdated' if recorded else 'missing'}", event))
        # An erased shopper is missing on purpose (docs/privacy.md): not repaired, nor counted as missing. Their
        # events would be refused downstream anyway; this keeps them off the bus.
        changes = [(shopper_of(e) or Shopper(), comparable_time(e.entity_version, e.occurred_at)) for _, e in wanted]
        refused = self.services.tombstones.refused_many(store_id, changes) if wanted else set()
        checkpoint.erased += len(refused)
        repairs: list[CanonicalEvent] = []
        for index, (key, event) in enumerate(wanted):
            if index in refused:
                continue
            counted = checkpoint.pulled if key.startswith(CARTS) else checkpoint.repaired
            counted[key] = counted.get(key, 0) + 1
            repairs.append(event)
        return repairs

    def finish(self, checkpoint: ReconcileCheckpoint) -> dict[str, Any]:
        """The run's end: the watermarks moved to what its pages held, the summary written, metrics and a log."""
        watermarks = dict(checkpoint.watermarks)
        for resource, high_water in checkpoint.high_water.items():
            mark = watermarks.get(resource)
            if not mark or _moment(high_water) > _moment(mark):
                watermarks[resource] = high_water
        checkpoint.status, checkpoint.phase, checkpoint.finished_at = "done", "done", time.time()
        summary = {"store_id": self.store.store_id, **checkpoint.summary(watermarks)}
        self.reconciliation.records.save_end(self.store.store_id, checkpoint, watermarks, summary)
        repairs = checkpoint.repairs
        metrics.add_metric(name=RECONCILIATION_REPAIRS.name, unit="Count", value=repairs)
        metrics.add_metric(name=RECONCILIATION_FAILED.name, unit="Count", value=checkpoint.failed)
        # The webhooks were logged on their own line by the check.
        fields = {k: v for k, v in summary.items() if k not in ("windows", "watermarks", "webhooks")}
        if repairs or checkpoint.failed:
            logger.warning("reconciliation repaired or failed", **fields)  # webhooks are being lost
        else:
            logger.info("reconciliation finished", **fields)
        return summary


def _next_phase(resource: str) -> ReconcilePhase:
    if resource == CARTS:
        return "done"
    following = RESOURCES[RESOURCES.index(resource) + 1 :]
    # After the orders, the abandoned carts (a reader without them ends the run there: _Slice._page).
    return following[0] if following else "carts"
