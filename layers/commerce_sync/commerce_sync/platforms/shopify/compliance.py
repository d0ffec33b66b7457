"""Shopify's mandatory compliance webhooks (docs/privacy.md, docs/shopify.md "Compliance webhooks"), delivered to
the same route and verified with the same HMAC as every other topic (a forged one is a 401):

- `customers/redact` `{shop_id, shop_domain, customer: {id, email, phone}, orders_to_redact: [ids]}` ->
  `customer.erased` (the customer, every address they were written with, and those orders);
- `customers/data_request` `{..., customer, orders_requested: [ids], data_request: {id}}` ->
  `customer.data_requested` (the export is made and kept for the operator to send to the merchant);
- `shop/redact` `{shop_id, shop_domain}` (48 hours after the app is uninstalled) -> `store.erased`.
Shopify may send a customer with its e-mail address alone, or its id alone. The payload's `shop_domain` must be the
store's own (the signed body decides, not the header alone). Each is versioned by the delivery's time and named by
its delivery id, so Shopify's retries are one request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    CanonicalModel,
    CustomerDataRequest,
    CustomerErasure,
    EventType,
    StoreErasure,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import BodyShape, Normalised, build_canonical, parse_model

CUSTOMERS_REDACT = "customers/redact"
CUSTOMERS_DATA_REQUEST = "customers/data_request"
SHOP_REDACT = "shop/redact"
COMPLIANCE_TOPICS = frozenset({CUSTOMERS_REDACT, CUSTOMERS_DATA_REQUEST, SHOP_REDACT})
COMPLIANCE_SHAPES: dict[str, BodyShape] = {
    CUSTOMERS_REDACT: BodyShape.of(needs="shop_domain customer", forbids="line_items financial_status"),
    CUSTOMERS_DATA_REQUEST: BodyShape.of(needs="shop_domain customer", forbids="line_items financial_status"),
    SHOP_REDACT: BodyShape.of(needs="shop_domain", forbids="customer line_items financial_status"),
}


class ComplianceModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ComplianceCustomer(ComplianceModel):
    id: str | None = None
    email: str | None = None


class DataRequestReference(ComplianceModel):
    id: str | None = None


class CompliancePayload(ComplianceModel):
    shop_domain: str
    customer: ComplianceCustomer | None = None
    orders_to_redact: list[str] = []
    orders_requested: list[str] = []
    data_request: DataRequestReference | None = None


def normalise_compliance_webhook(
    topic: str,
    store: Store,
    payload: Any,
    event_id: Callable[[str, str], str],
    delivered_at: datetime,
) -> Normalised:
    """`event_id(entity, version)` names the delivery (its id, so Shopify's retries are duplicates)."""
    COMPLIANCE_SHAPES[topic].check(topic, payload)
    request = parse_model(CompliancePayload, payload)
    if request.shop_domain.strip().lower() != store.identity.lower():
        raise BadRequest("is not the shop this delivery is signed for", field="shop_domain")
    version = version_from_timestamp(delivered_at)
    kind = f"shopify {topic}"
    data: CanonicalModel
    if topic == SHOP_REDACT:
        data = StoreErasure(request_kind=kind)
        return _event(store, EventType.STORE_ERASED, data, store.store_id, version, delivered_at, event_id)
    customer = request.customer or ComplianceCustomer()
    entity_id = customer.id or "shopify-customer"
    if topic == CUSTOMERS_REDACT:
        data = build_canonical(
            lambda: CustomerErasure(
                email=customer.email or None,
                customer_id=customer.id or None,
                order_ids=tuple(request.orders_to_redact),
                request_kind=kind,
            )
        )
        return _event(store, EventType.CUSTOMER_ERASED, data, entity_id, version, delivered_at, event_id)
    reference = request.data_request.id if request.data_request else None
    data = build_canonical(
        lambda: CustomerDataRequest(
            email=customer.email or None,
            customer_id=customer.id or None,
            order_ids=tuple(request.orders_requested),
            request_id=reference,
            request_kind=kind,
        )
    )
    return _event(store, EventType.CUSTOMER_DATA_REQUESTED, data, entity_id, version, delivered_at, event_id)


def _event(
    store: Store,
    event_type: EventType,
    data: CanonicalModel,
    entity_id: str,
    version: str,
    delivered_at: datetime,
    event_id: Callable[[str, str], str],
) -> Normalised:
    event = make_event(
        event_type=event_type,
        event_id=event_id(entity_id, version),
        store_id=store.store_id,
        platform="shopify",
        entity=data,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=delivered_at,
    )
    return Normalised(events=[event])
