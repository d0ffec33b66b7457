"""The nightly reconciliation: per store, the orders and customers the platform says changed since the last run
are compared with what the sync state says was applied, and whatever is missing or older is put on the event bus,
so the normal processing path (idempotency, the version guard, cart conversion, notifications) applies it.
docs/history.md is the long version.

- Window: from the stored watermark of each resource minus OVERLAP (a change whose webhook is still on its way,
  a platform's clock, a page read while a resource changed), to now; the first run looks back FIRST_WINDOW.
  The new watermark is the latest `updated_at` its pages held (HistoryPage.high_water), stored only once the
  window was read to the end, so a run cut short reads the same window again the next night.
- Compared with the version the live consumers record (`SyncState.applied` and `applied_version`, the guard
  they apply): none recorded is `missing`, an older one `outdated`; as new or newer is fine. A repair is one
  event published; nothing missed publishes nothing, so Mailchimp gets no write at all.
- Summary per run (checked, repaired by kind, failed) under `<store>#history / reconcile`, a metric
  `ReconciliationRepairs` (an alarm when > 0: webhooks are being lost) and `ReconciliationFailed`.
- A store whose platform has no history reader (canonical senders) or whose credentials are missing is skipped
  with the reason.
- Webhook health first (platforms.hooks.PlatformHooks.check_and_repair): an inactive webhook of ours is set active
  again, a missing one reported, per topic in the summary's `webhooks`; metrics `WebhooksReactivated` and
  `WebhooksMissing`. A platform without the check (Shopify, canonical) is "not checked" with the reason, and a
  check that fails is recorded and logged: neither stops the order and customer reconciliation.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import applied_version
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.carts.customers import PLATFORM_CUSTOMER
from commerce_sync.history.state import HistoryState
from commerce_sync.orders.sync import ORDER
from commerce_sync.platforms.history import HistoryResource, HistorySource, HistoryUnavailable
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.registry import history_source_for
from commerce_sync.platforms.webhook_health import HealthAction, HookState, WebhookHealth, WebhookHealthUnavailable
from commerce_sync.processing.services import Services

RECONCILE = "reconcile"
OVERLAP = timedelta(hours=1)
FIRST_WINDOW = timedelta(hours=24)
# Customers before orders, as the backfill: an order's repair then finds its customer's repaired too.
RESOURCES: tuple[HistoryResource, ...] = ("customers", "orders")
SAFETY_MARGIN_SECONDS = 60.0


class ReconcileRequests:
    """One reconciliation per store on the product queue (the nightly fan-out)."""

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
    ) -> None:
        self.services = services
        self.hooks = hooks or PlatformHooks()
        self.state = HistoryState(services.sync_state.table)
        self.requests = requests or ReconcileRequests(os.environ.get("PRODUCT_SYNC_QUEUE_URL"))
        self._source_factory = source_factory or (lambda store, credentials: history_source_for(store, credentials))

    def fan_out(self, trigger: str) -> dict[str, Any]:
        stores = [store.store_id for store in self.services.registry.list() if store.active]
        for store_id in stores:
            self.requests.send(store_id, trigger)
        logger.info("reconciliation queued", stores=len(stores), trigger=trigger)
        return {"status": "queued", "stores": stores}

    def run(
        self, store_id: str, *, trigger: str, remaining_ms: Callable[[], int], slice_seconds: float | None = None
    ) -> dict[str, Any]:
        store = self.services.registry.get(store_id)
        if store is None or not store.active:
            return {"status": "skipped", "store_id": store_id, "reason": "no active store with this id"}
        credentials = dict(self.services.secrets.current(store.secret_id).get("platform_api_credentials") or {})
        # Before the history: a webhook switched off since the last run is switched on again as early as possible,
        # and the check's outcome is in the summary whatever the history reading does.
        webhooks = self.webhook_health(store, credentials)
        try:
            source = self._source_factory(store, credentials)
        except HistoryUnavailable as error:
            logger.info("reconciliation skipped", store_id=store_id, reason=str(error))
            return {"status": "skipped", "store_id": store_id, "reason": str(error), "webhooks": webhooks}
        budget = remaining_ms() / 1000 - SAFETY_MARGIN_SECONDS
        if slice_seconds is not None:
            budget = min(budget, slice_seconds)
        deadline = time.monotonic() + max(budget, 1.0)
        return _Run(self, store, source, trigger, deadline, webhooks).run()

    def webhook_health(self, store: Store, credentials: dict[str, Any]) -> dict[str, Any]:
        """The store's webhook check as the run's summary records it; never raises: a failed check must not stop
        the order and customer reconciliation (the readers bring what a switched-off webhook dropped)."""
        try:
            health = self.hooks.check_and_repair(store, credentials, repair=True)
        except WebhookHealthUnavailable as error:
            # Shopify, canonical senders, no REST key, a listing refused: not a failure of the run.
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
    metrics.add_metric(name="WebhooksReactivated", unit="Count", value=len(reactivated))
    metrics.add_metric(name="WebhooksMissing", unit="Count", value=missing)
    unwell = [
        f"{topic.topic}: {topic.state_before.value} -> {topic.action.value}"
        for topic in health.topics
        if topic.state_before is not HookState.ACTIVE
    ]
    log = logger.warning if unwell else logger.info
    fields: dict[str, Any] = {"store_id": health.store_id, **health.summary(), "topics_not_active": unwell}
    log("reconciliation: webhook health", **fields)
    return report


class _Run:
    def __init__(
        self,
        reconciliation: Reconciliation,
        store: Store,
        source: HistorySource,
        trigger: str,
        deadline: float,
        webhooks: dict[str, Any],
    ) -> None:
        self.webhooks = webhooks
        self.services = reconciliation.services
        self.state = reconciliation.state
        self.store = store
        self.source = source
        self.trigger = trigger
        self.deadline = deadline
        self.checked: Counter[str] = Counter()
        self.repaired: Counter[str] = Counter()
        self.failed = 0
        self.skipped = 0
        self.pages = 0

    def run(self) -> dict[str, Any]:
        started = time.time()
        now = datetime.now(UTC)
        held = self.state.reconcile_state(self.store.store_id)
        watermarks: dict[str, str] = dict(held.get("watermarks") or {})
        windows: dict[str, str] = {}
        complete = True
        for resource in RESOURCES:
            mark = watermarks.get(resource)
            since = _moment(mark) - OVERLAP if mark else now - FIRST_WINDOW
            windows[resource] = since.isoformat()
            finished, high_water = self._read(resource, since)
            complete = complete and finished
            # Only a window read to the end moves the watermark: a run cut short reads it again next time.
            if finished and high_water and (not mark or _moment(high_water) > _moment(mark)):
                watermarks[resource] = high_water
        repairs = sum(self.repaired.values())
        summary: dict[str, Any] = {
            "store_id": self.store.store_id,
            "status": "done" if complete else "incomplete",
            "trigger": self.trigger,
            "windows": windows,
            "watermarks": watermarks,
            "checked": dict(self.checked),
            "repaired": dict(self.repaired),
            "repairs": repairs,
            "failed": self.failed,
            "skipped": self.skipped,
            "pages": self.pages,
            "webhooks": self.webhooks,
            "started_at": started,
            "finished_at": time.time(),
            "duration_seconds": round(time.time() - started, 3),
        }
        self.state.save_reconcile_state(self.store.store_id, {"watermarks": watermarks, "last": summary})
        metrics.add_metric(name="ReconciliationRepairs", unit="Count", value=repairs)
        metrics.add_metric(name="ReconciliationFailed", unit="Count", value=self.failed)
        # The webhooks were logged on their own line by the check.
        fields = {k: v for k, v in summary.items() if k not in ("windows", "watermarks", "webhooks")}
        if repairs or self.failed:
            logger.warning("reconciliation repaired or failed", **fields)  # webhooks are being lost
        else:
            logger.info("reconciliation finished", **fields)
        return summary

    def _read(self, resource: HistoryResource, since: datetime) -> tuple[bool, str | None]:
        """Reads the window page by page, publishing the repairs of each page; (read to the end, high water)."""
        cursor: str | None = None
        high_water: str | None = None
        while True:
            page = self.source.page(resource, since, cursor)
            self.pages += 1
            self.checked[resource] += page.resources
            self.failed += len(page.skipped)
            for platform_id, reason in page.skipped:
                logger.warning("reconciliation: resource unreadable", resource=resource, id=platform_id, reason=reason)
            repairs = [event for event in page.events if self._needs_repair(resource, event)]
            if repairs:
                self.services.publisher.publish(repairs)
            if page.high_water and (high_water is None or _moment(page.high_water) > _moment(high_water)):
                high_water = page.high_water
            cursor = page.next_cursor
            if cursor is None:
                return True, high_water
            if time.monotonic() > self.deadline:
                logger.warning("reconciliation cut short by the time limit", resource=resource, pages=self.pages)
                return False, high_water

    def _needs_repair(self, resource: str, event: CanonicalEvent) -> bool:
        store_id = self.store.store_id
        if event.type is EventType.CUSTOMER_UPDATED:
            if event.customer().email is None:
                self.skipped += 1  # the live path writes no customer without an address either
                return False
            held = self.services.sync_state.applied(store_id, PLATFORM_CUSTOMER, event.entity_id)
            kind = "customers"
        elif event.type is EventType.ORDER_UPDATED:
            held = self.services.sync_state.applied(store_id, ORDER, event.order().id)
            kind = "orders"
        else:
            return False  # shipments and refunds travel inside their order's event
        recorded = applied_version(held)
        if recorded >= event.entity_version:
            return False
        self.repaired[f"{kind}_{'outdated' if recorded else 'missing'}"] += 1
        return True
