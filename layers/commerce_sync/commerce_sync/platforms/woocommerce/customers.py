"""A WooCommerce customer (the wc/v3 resource) as the canonical `customer.updated`: what the `customer.created`
and `customer.updated` webhooks deliver and what the history reader lists, mapped by one function so both make
the same event (docs/woocommerce.md).

The version is the GMT modification time (`date_modified_gmt`, else `date_created_gmt`): whichever save is
newest wins, in whatever order they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent, Customer, EventType, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import build_canonical
from commerce_sync.platforms.woocommerce.models import (
    GmtTime,
    Text,
    WooAddress,
    WooMeta,
    WooModel,
    address_of,
    blank_to_none,
    consent_from_meta,
    gmt,
)

PLATFORM = "woocommerce"


class WooCustomer(WooModel):
    """A wc/v3 customer (GET /wp-json/wc/v3/customers/<id>), as customer.created/updated deliver it."""

    id: int = Field(gt=0)
    date_created_gmt: GmtTime = None
    date_modified_gmt: GmtTime = None
    email: Text = None
    first_name: Text = None
    last_name: Text = None
    role: Text = None
    username: Text = None
    billing: Annotated[WooAddress | None, BeforeValidator(blank_to_none)] = None
    shipping: Annotated[WooAddress | None, BeforeValidator(blank_to_none)] = None
    is_paying_customer: bool | None = None
    meta_data: list[WooMeta] = []

    @property
    def changed_at(self) -> datetime | None:
        return gmt(self.date_modified_gmt) or gmt(self.date_created_gmt)


def customer_to_customer(customer: WooCustomer, consent_keys: Sequence[str]) -> Customer:
    billing = customer.billing
    return Customer(
        id=str(customer.id),
        email=customer.email or (billing.email if billing else None),
        first_name=customer.first_name or (billing.first_name if billing else None),
        last_name=customer.last_name or (billing.last_name if billing else None),
        company=billing.company if billing else None,
        address=address_of(billing),
        consent=consent_from_meta(customer.meta_data, consent_keys),
    )


def change_event_id(entity_id: str, version: str) -> str:
    """WooCommerce can fire several deliveries for one save: the id and the modification time name the change,
    so those duplicates share one event id."""
    return f"{PLATFORM}:customer:{entity_id}:{version}"


def customer_event(
    store: Store,
    customer: WooCustomer,
    consent_keys: Sequence[str],
    changed_at: datetime,
    event_id: Callable[[str, str], str],
) -> CanonicalEvent:
    """`customer.updated` for the customer at `changed_at` (its version); `event_id(entity id, version)` names
    it (each source has its own ids). Raises BadRequest (or EntityRefused) for a value the model refuses."""
    mapped = build_canonical(lambda: customer_to_customer(customer, consent_keys))
    entity_id = str(customer.id)
    version = version_from_timestamp(changed_at)
    return make_event(
        event_type=EventType.CUSTOMER_UPDATED,
        event_id=event_id(entity_id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=mapped,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=changed_at,
    )
