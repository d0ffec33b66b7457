"""Products and promotions: real-time product and promotion events, and the catalog sync (nightly for every store,
or now for one).

Invocations (the domain is commerce_sync.catalog.run; docs/product-sync.md, docs/promotions.md):
- SQS, the product queue. A record is a bus message (product.updated / product.deleted, promotion.updated /
  promotion.deleted: commerce_sync.catalog.promotion_events), a `catalog_sync`
  message (the nightly fan-out, or a run's continuation), or a `sync_product` / `sync_promotion` message (a
  replayed dead letter: the product, or the discount rule or code, read from the store again). Product events
  are handled before catalog work in the same batch, so a catalog slice never holds them up; failed records are
  reported (partial batch failures) and dead-lettered with their reason.
- Direct (the schedule, `commerce-sync sync-catalog`): `{"action": "catalog_sync", "scope": "all_stores"}`
  queues one catalog sync per active store; `{"action": "catalog_sync", "store_id": "...", "what"?: [...]}`
  runs that store's sync (products and promotions, or the parts `what` names) in this invocation, continuing
  through the queue if it nears the time limit.
- History (commerce_sync.history; docs/history.md): `{"action": "backfill", "store_id", "since"?, "resources"?}`
  (direct from `commerce-sync backfill`, or a continuation with `run_id` on the queue), and
  `{"action": "publish_event", "event"}` (a dead-lettered history write, replayed: put on the bus), and the
  reconciliation: `{"action": "reconcile", "scope": "all_stores"}` (its schedule) queues one
  `{"action": "reconcile", "store_id"}` per active store, which compares and repairs that store, continuing
  through the queue (`run_id`, as the backfill) when it nears the time limit.
- Segments (commerce_sync.segments.nightly; docs/segments.md): `{"action": "segment_pass", "scope": "all_stores"}`
  queues one `{"action": "segment_pass", "store_id"}` per active store with segments on (the nightly
  reconciliation's fan-out does so too), which re-evaluates the store's customer aggregates at `at` (default now)
  and writes the tags that changed, continuing through the queue (`run_id`) when it nears the time limit;
  `{"action": "segment_tags", "store_id", "customer_id"}` (a pass's dead letter, replayed) writes one customer's.
- Canonical imports (commerce_sync.processing.store_imports; docs/canonical-events.md#history): its schedule's
  `{"action": "close_expired_imports"}` closes every import whose timeout passed and sets off a flag one left on.

Nothing here sets the Mailchimp store's is_syncing: a catalog sync must not pause the store's automations.
"""

from __future__ import annotations

from contextlib import ExitStack
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.aws.event_bus import event_from_message
from commerce_sync.aws.observability import log_metrics, logger, tracer
from commerce_sync.aws.queue_records import QueueRecord, partial_batch_response
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.catalog.product_events import ProductEvents
from commerce_sync.catalog.state import CatalogState
from commerce_sync.catalog.writer import SYNC_PRODUCT, SYNC_PROMOTION
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.services import Services
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    # The catalog run, promotions, history, segments and canonical imports are imported where their action or event
    # is first handled (the @cache builders below, _handle_request): the product events that make most invocations
    # never use them (a product event uses the catalog run only to read a product again after a lost lease), and
    # importing them was a fifth of this function's cold start.
    from commerce_sync.catalog.promotion_events import PromotionEvents
    from commerce_sync.catalog.run import CatalogSync
    from commerce_sync.history.backfill import Backfill
    from commerce_sync.history.reconcile import Reconciliation
    from commerce_sync.segments.nightly import SegmentPass

CLOSE_EXPIRED_IMPORTS = "close_expired_imports"
# The actions and events of the deferred modules, by value (tests/unit/test_product_sync_actions.py holds them equal
# to catalog.run.CATALOG_SYNC, catalog.promotion_events.PROMOTION_EVENTS, history.backfill.BACKFILL,
# history.batches.PUBLISH_EVENT, history.reconcile.RECONCILE and segments.nightly's).
CATALOG_SYNC = "catalog_sync"
PROMOTION_EVENTS = frozenset({EventType.PROMOTION_UPDATED, EventType.PROMOTION_DELETED})
BACKFILL = "backfill"
PUBLISH_EVENT = "publish_event"
RECONCILE = "reconcile"
SEGMENT_PASS = "segment_pass"
SEGMENT_TAGS = "segment_tags"


class SyncMessage(BaseModel):
    """A catalog-sync or sync-product request (queue message or direct invocation)."""

    # defer_build: its validator is built by the first request, never by the product events most containers see.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    action: Literal[
        "catalog_sync",
        "sync_product",
        "sync_promotion",
        "backfill",
        "publish_event",
        "reconcile",
        "close_expired_imports",
        "segment_pass",
        "segment_tags",
    ]
    scope: Literal["all_stores"] | None = None
    store_id: str | None = None
    run_id: str | None = None
    product_id: str | None = None
    rule_id: str | None = None
    code_id: str | None = None
    trigger: str | None = None
    since: str | None = None
    resources: list[str] | None = None
    event: dict[str, Any] | None = None
    customer_id: str | None = None
    # A segment pass: the moment its rules are evaluated at (default now), and whether its tags are history.
    at: str | None = None
    history: bool = False
    # The parts of a catalog sync: products, promotions (both when absent).
    what: list[Literal["products", "promotions"]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _target(self) -> SyncMessage:
        if self.action == SYNC_PRODUCT and not (self.store_id and self.product_id):
            raise ValueError("sync_product needs store_id and product_id")
        if self.action == SYNC_PROMOTION and not (self.store_id and self.rule_id):
            raise ValueError("sync_promotion needs store_id and rule_id")
        if self.action in (CATALOG_SYNC, RECONCILE, SEGMENT_PASS) and not (self.scope or self.store_id):
            raise ValueError(f'{self.action} needs a store_id or "scope": "all_stores"')
        if self.action == BACKFILL and not self.store_id:
            raise ValueError("backfill needs a store_id")
        if self.action == SEGMENT_TAGS and not (self.store_id and self.customer_id):
            raise ValueError("segment_tags needs store_id and customer_id")
        if self.action == PUBLISH_EVENT and not self.event:
            raise ValueError("publish_event needs the event")
        return self


@cache
def services() -> Services:
    return Services.from_environment()


@cache
def catalog_sync() -> CatalogSync:
    from commerce_sync.catalog.run import CatalogSync  # deferred: catalog requests only (see above)

    return CatalogSync(services())


def read_product_again(store: Store, product_id: str) -> None:
    """After a product event's write lost its lease: the product as the store has it now (the catalog run's)."""
    catalog_sync().repair(store, product_id)


@cache
def product_events() -> ProductEvents:
    state = CatalogState(services().settings.sync_state_table, boto3.resource("dynamodb"))
    return ProductEvents(services(), state, refetch=read_product_again)


@cache
def promotion_events() -> PromotionEvents:
    from commerce_sync.catalog.promotion_events import PromotionEvents  # deferred: promotion events only (see above)
    from commerce_sync.catalog.promotion_state import PromotionState

    return PromotionEvents(services(), PromotionState(services().settings.sync_state_table, boto3.resource("dynamodb")))


@cache
def backfill() -> Backfill:
    from commerce_sync.history.backfill import Backfill  # deferred: backfill requests only (see above)

    return Backfill(services(), catalog=catalog_sync())


@cache
def reconciliation() -> Reconciliation:
    from commerce_sync.history.reconcile import Reconciliation  # deferred: reconcile requests only (see above)

    return Reconciliation(services())


@cache
def segment_pass() -> SegmentPass:
    from commerce_sync.segments.nightly import SegmentPass  # deferred: segment requests only (see above)

    return SegmentPass(services())


@cache
def dead_letters() -> DeadLetters:
    return DeadLetters.from_environment()


def _is_request(body: Any) -> bool:
    return isinstance(body, dict) and "action" in body


def _handle_request(message: SyncMessage, context: LambdaContext, from_queue: bool) -> dict[str, Any]:
    if message.action == BACKFILL:
        return backfill().run(
            str(message.store_id),
            trigger=message.trigger or ("queue" if from_queue else "direct"),
            remaining_ms=context.get_remaining_time_in_millis,
            since=message.since,
            resources=message.resources,
            run_id=message.run_id,
            slice_seconds=backfill().config.queue_slice_seconds if from_queue else None,
        )
    if message.action == RECONCILE:
        if message.scope == "all_stores" and not message.store_id:
            trigger = message.trigger or "schedule"
            # The nightly schedule's one input for history and segments: the passes run beside the reconciliation.
            return {**reconciliation().fan_out(trigger=trigger), "segment_passes": segment_pass().fan_out(trigger)}
        return reconciliation().run(
            str(message.store_id),
            trigger=message.trigger or ("queue" if from_queue else "direct"),
            remaining_ms=context.get_remaining_time_in_millis,
            run_id=message.run_id,
            slice_seconds=reconciliation().config.queue_slice_seconds if from_queue else None,
        )
    if message.action == SEGMENT_PASS:
        if message.scope == "all_stores" and not message.store_id:
            return segment_pass().fan_out(trigger=message.trigger or "schedule")
        return segment_pass().run(
            str(message.store_id),
            trigger=message.trigger or ("queue" if from_queue else "direct"),
            remaining_ms=context.get_remaining_time_in_millis,
            run_id=message.run_id,
            slice_seconds=segment_pass().config.queue_slice_seconds if from_queue else None,
            at=message.at,
            history=message.history,
        )
    if message.action == SEGMENT_TAGS:
        return segment_pass().retag(str(message.store_id), str(message.customer_id))
    if message.action == CLOSE_EXPIRED_IMPORTS:
        from commerce_sync.processing.store_imports import StoreImports  # deferred: its schedule only (see above)

        sweep = StoreImports(services()).settle_all()
        return {"status": "done", "closed": sweep.closed, "open": [held.to_json() for held in sweep.open]}
    if message.action == PUBLISH_EVENT:
        event = CanonicalEvent.model_validate(message.event)
        services().publisher.publish([event])
        return {"status": "published", "event_id": event.event_id}
    sync = catalog_sync()
    if message.action == SYNC_PRODUCT:
        return sync.resync(str(message.store_id), [str(message.product_id)])
    if message.action == SYNC_PROMOTION:
        return sync.resync_promotion(str(message.store_id), str(message.rule_id), message.code_id)
    if message.scope == "all_stores" and not message.store_id:
        return sync.fan_out(trigger=message.trigger or "schedule")
    return sync.run(
        str(message.store_id),
        trigger=message.trigger or ("queue" if from_queue else "direct"),
        remaining_ms=context.get_remaining_time_in_millis,
        run_id=message.run_id,
        # In the queue consumer a slice is kept short, so product events waiting behind it are not delayed.
        slice_seconds=sync.config.queue_slice_seconds if from_queue else None,
        what=message.what,
    )


def apply(record: QueueRecord, context: LambdaContext) -> dict[str, Any]:
    body = record.json_body
    if _is_request(body):
        return _handle_request(SyncMessage.model_validate(body), context, from_queue=True)
    # A product event too large for the bus arrives as a claim-check reference, read back here.
    event = event_from_message(body, services().claim_checks)
    logger.set_correlation_id(event.event_id)
    if event.type in PROMOTION_EVENTS:
        promotions = promotion_events()
        # Lets Idempotency expire an in-progress record when this invocation times out mid-record.
        promotions.idempotency_config.register_lambda_context(context)
        return promotions.process(event=event, message=body)
    return product_events().process(event=event, message=body)


@tracer.capture_method
def record_handler(record: QueueRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    return dead_letters().handle(record, lambda item: apply(item, lambda_context))


def _carries_request(body: str) -> bool:
    """A record's body is a catalog request, not a bus message (told without parsing it)."""
    return '"action"' in body and '"detail-type"' not in body


def _events_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog work last: a product event must not wait behind a catalog slice of the same batch."""
    return sorted(records, key=lambda record: _carries_request(record.get("body") or ""))


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        # Lets Idempotency expire an in-progress record when this invocation times out mid-record.
        product_events().idempotency_config.register_lambda_context(context)
        records = [QueueRecord(raw) for raw in _events_first(list(event["Records"]))]
        # The batch's product and promotion events share one Mailchimp connection slot per account, taken by the
        # first of them that needs it and given back before the first catalog request: those come last, may run
        # for minutes and take bulk slots of their own (accounts.budget). Three requests a batch, not an event.
        event_slots = ExitStack()
        event_slots.enter_context(services().budget.per_invocation())
        failed: list[QueueRecord] = []
        try:
            for record in records:
                if _carries_request(record.body):
                    event_slots.close()
                try:
                    record_handler(record, context)
                except Exception:  # reported back, not raised: SQS delivers exactly the failed records again
                    failed.append(record)
            return partial_batch_response(failed)
        finally:
            event_slots.close()
            # The events' outcomes, counted for `commerce-sync status`: one write per store at the end.
            services().store_activity.flush()
    return _handle_request(SyncMessage.model_validate(event), context, from_queue=False)
