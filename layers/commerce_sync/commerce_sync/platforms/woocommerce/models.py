"""WooCommerce's payloads as its webhooks deliver them (wc/v3 REST resources; "" for every unset field), the
delivery headers, and the readings the customer and order adapters share: consent from meta, addresses,
GMT times and the event id of a delivery."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import (
    Address,
    ConsentState,
    DeletedEntity,
    EventType,
    MarketingConsent,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import Normalised, WebhookRequest, build_canonical, parse_model

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
SOURCE_HEADER = "X-WC-Webhook-Source"
TOPIC_HEADER = "X-WC-Webhook-Topic"
DELIVERY_ID_HEADER = "X-WC-Webhook-Delivery-ID"
# WooCommerce has no marketing consent of its own. The Mailchimp for WooCommerce plugin keeps the
# shopper's newsletter choice in the user meta `mailchimp_woocommerce_is_subscribed`; the protected
# (underscore) spelling is also seen. WOOCOMMERCE_CONSENT_META_KEYS (comma-separated) replaces the list.
DEFAULT_CONSENT_META_KEYS: tuple[str, ...] = (
    "mailchimp_woocommerce_is_subscribed",
    "_mailchimp_woocommerce_is_subscribed",
)
CONSENT_META_KEYS_ENV = "WOOCOMMERCE_CONSENT_META_KEYS"
GRANTED_VALUES = frozenset({"1", "yes", "true"})
DENIED_VALUES = frozenset({"0", "no", "false"})


def blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# WooCommerce sends "" for every unset text, date or address field.
Text = Annotated[str | None, BeforeValidator(blank_to_none)]
GmtTime = Annotated[datetime | None, BeforeValidator(blank_to_none)]


class WooModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class WooAddress(WooModel):
    """`billing` / `shipping` of a wc/v3 customer (`shipping` has no email or phone)."""

    first_name: Text = None
    last_name: Text = None
    company: Text = None
    address_1: Text = None
    address_2: Text = None
    city: Text = None
    state: Text = None
    postcode: Text = None
    country: Text = None
    email: Text = None
    phone: Text = None


class WooMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    key: str
    value: Any = None


class WooDeleted(BaseModel):
    """A `*.deleted` body: WooCommerce sends only the id."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1)


def gmt(value: datetime | None) -> datetime | None:
    """WooCommerce's `*_gmt` fields carry no offset; they are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def consent_meta_keys_from_environment() -> tuple[str, ...]:
    raw = os.environ.get(CONSENT_META_KEYS_ENV)
    if raw is None:
        return DEFAULT_CONSENT_META_KEYS
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def consent_from_meta(meta_data: Sequence[WooMeta], keys: Sequence[str]) -> MarketingConsent:
    """The first configured key holding a recognised value decides; no such key means UNKNOWN.

    For one key the first meta entry wins, as `get_user_meta($id, $key, true)` reads it.
    """
    for key in keys:
        entry = next((meta for meta in meta_data if meta.key == key), None)
        if entry is None:
            continue
        state = consent_state(entry.value)
        if state is not None:
            return MarketingConsent(state=state, source=f"woocommerce:{key}")
    return MarketingConsent()


def consent_state(value: Any) -> ConsentState | None:
    if isinstance(value, bool):
        return ConsentState.GRANTED if value else ConsentState.DENIED
    if isinstance(value, int | float | str):
        text = str(value).strip().lower()
        if text in GRANTED_VALUES:
            return ConsentState.GRANTED
        if text in DENIED_VALUES:
            return ConsentState.DENIED
    return None


def address_of(billing: WooAddress | None) -> Address | None:
    if billing is None:
        return None
    name = " ".join(part for part in (billing.first_name, billing.last_name) if part) or None
    address = Address(
        name=name,
        company=billing.company,
        address1=billing.address_1,
        address2=billing.address_2,
        city=billing.city,
        # WooCommerce's `state` is the state's code for countries it knows the states of, else free text.
        province=billing.state,
        province_code=billing.state if billing.state and len(billing.state) <= 3 else None,
        postal_code=billing.postcode,
        country_code=billing.country,
        phone=billing.phone,
    )
    return address if address.model_dump(exclude_none=True) else None


def delivery_event_id(request: WebhookRequest, fallback: str) -> str:
    delivery_id = (request.header(DELIVERY_ID_HEADER) or "").strip()
    return f"woocommerce:{delivery_id}" if delivery_id else f"woocommerce:{fallback}"


def deletion(request: WebhookRequest, store: Store, payload: Any, event_type: EventType, kind: str) -> Normalised:
    """A `*.deleted` delivery (only `{"id"}`) as its canonical deletion, dated and versioned by the time of
    receipt (nothing in it says when), identified by the delivery id (or `<kind>-deleted:<id>:<version>`)."""
    deleted = parse_model(WooDeleted, payload)
    entity = build_canonical(lambda: DeletedEntity(id=deleted.id))
    deleted_at = datetime.now(UTC)
    version = version_from_timestamp(deleted_at)
    event = make_event(
        event_type=event_type,
        event_id=delivery_event_id(request, f"{kind}-deleted:{entity.id}:{version}"),
        store_id=store.store_id,
        platform="woocommerce",
        entity=entity,
        entity_id=entity.id,
        entity_version=version,
        occurred_at=deleted_at,
    )
    return Normalised(events=[event])
