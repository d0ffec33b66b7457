"""A BigCommerce customer (`GET /v3/customers` item) and its newsletter subscriber as the canonical customer: what
`store/customer/created|updated` make after fetching the customer, and what the history reader makes of a listed
one, by the same functions so both make the same event (docs/carts-and-customers.md).

Versions: the customer's `date_modified` (else `date_created`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent, Customer, EventType, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import build_canonical
from commerce_sync.platforms.bigcommerce.api import BigCommerceApi
from commerce_sync.platforms.bigcommerce.models import (
    PLATFORM,
    BcCustomer,
    BcSubscriber,
    consent_from_subscriber,
    parse_fetched,
    text,
)


def to_canonical_customer(
    customer: BcCustomer | None,
    subscriber: BcSubscriber | None,
    customer_id: str | None = None,
    email: str | None = None,
) -> Customer:
    return Customer(
        id=customer.id if customer else customer_id,
        email=text(customer.email if customer and text(customer.email) else email),
        first_name=text(customer.first_name) if customer else None,
        last_name=text(customer.last_name) if customer else None,
        company=text(customer.company) if customer else None,
        consent=consent_from_subscriber(subscriber),
    )


def subscriber_of(
    client: BigCommerceApi, email: str | None, known: dict[str, Any] | None = None
) -> BcSubscriber | None:
    """The newsletter subscriber of `email` (marketing consent), read once per address when `known` caches them."""
    if not email:
        return None
    key = email.strip().lower()
    if known is not None and key in known:
        raw = known[key]
    else:
        raw = client.subscriber(email)
        if known is not None:
            known[key] = raw
    return parse_fetched(BcSubscriber, raw, "subscriber") if raw else None


def read_customer(
    client: BigCommerceApi, raw_customer: Any, subscribers: dict[str, Any] | None = None
) -> tuple[BcCustomer, Customer]:
    """The customer as BigCommerce answered it and as the canonical model holds it (its subscriber read for the
    consent). Raises BadRequest for an answer or a value that cannot be used."""
    bc_customer = parse_fetched(BcCustomer, raw_customer, "customer")
    subscriber = subscriber_of(client, text(bc_customer.email), subscribers)
    return bc_customer, build_canonical(lambda: to_canonical_customer(bc_customer, subscriber))


def customer_version_time(customer: BcCustomer) -> datetime | None:
    return customer.date_modified or customer.date_created


def customer_event(
    store: Store, customer: Customer, entity_id: str, version_at: datetime, event_id: Callable[[str, str], str]
) -> CanonicalEvent:
    """`customer.updated` at `version_at`; `event_id(entity id, version)` names it (each source has its ids)."""
    version = version_from_timestamp(version_at)
    return make_event(
        event_type=EventType.CUSTOMER_UPDATED,
        event_id=event_id(entity_id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=customer,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=version_at,
    )
