"""WooCommerce webhooks (docs/woocommerce.md).

WooCommerce signs each delivery with X-WC-Webhook-Signature, the base64 HMAC-SHA256 of the exact body
keyed with the webhook's secret. X-WC-Webhook-Source is the site URL (`home_url('/')`), which names the
store. The body is the REST (wc/v3) representation of the resource; a `*.deleted` body is only `{"id"}`.

WooCommerce never retries a delivery, and it disables the webhook after more than 5 consecutive
failures. When a webhook is created it sends an unsigned ping, a form-encoded `webhook_id=<id>` body
with no X-WC-* headers, and the webhook is only saved as active when the answer is exactly 200.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import EventType, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import (
    BodyShape,
    IgnoredKind,
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    parse_json,
    parse_model,
)
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.http import (
    WEBHOOK_HTTP_POLICY,
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    StoreApiUnavailable,
    platform_session,
)
from commerce_sync.platforms.signatures import verify_base64_hmac
from commerce_sync.platforms.woocommerce.api import key_pair, rest_root
from commerce_sync.platforms.woocommerce.catalog import VARIABLE_TYPES, WooCommerceCatalog
from commerce_sync.platforms.woocommerce.customers import WooCustomer, change_event_id, customer_event
from commerce_sync.platforms.woocommerce.models import (
    DEFAULT_CONSENT_META_KEYS as DEFAULT_CONSENT_META_KEYS,
)
from commerce_sync.platforms.woocommerce.models import (
    SIGNATURE_HEADER,
    SOURCE_HEADER,
    TOPIC_HEADER,
    consent_meta_keys_from_environment,
    deletion,
    delivery_event_id,
)
from commerce_sync.platforms.woocommerce.orders import normalise_order
from commerce_sync.platforms.woocommerce.promotions import (
    COUPON_DELETED_TOPIC,
    COUPON_SHAPE,
    COUPON_TOPICS,
    normalise_coupon_webhook,
)

CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})
CUSTOMER_DELETED_TOPIC = "customer.deleted"
_PING_BODY = re.compile(rb"\s*webhook_id=\d{1,20}\s*")


def site_identity(source: str) -> str:
    """The store identity of a site URL: trimmed, lower-cased, without trailing slashes.

    The same rule as store_registry.platform_identity, so registering `https://shop.example.com/` matches
    deliveries from `https://shop.example.com` and `HTTPS://Shop.Example.com/`. The scheme and any path
    (a WordPress installed in a sub-folder) are kept: `http://` and `https://` are different identities.
    """
    return source.strip().lower().rstrip("/")


class WooCommerceAdapter(PlatformAdapter):
    name = "woocommerce"

    def __init__(self, consent_meta_keys: Sequence[str] | None = None) -> None:
        self.consent_meta_keys: tuple[str, ...] = (
            tuple(consent_meta_keys) if consent_meta_keys is not None else consent_meta_keys_from_environment()
        )

    def is_ping(self, request: WebhookRequest) -> bool:
        """The creation ping: unsigned, form-encoded `webhook_id=<digits>` and nothing else.

        A signed request is never a ping, whatever its body, and neither is any other unsigned one: those
        go on to be refused like every other delivery.
        """
        if (request.header(SIGNATURE_HEADER) or "").strip():
            return False
        # The body decides, not the content type: WordPress sends the ping as
        # application/x-www-form-urlencoded, but a `woocommerce_webhook_http_args` filter may change it.
        return _PING_BODY.fullmatch(request.body) is not None

    def store_identity(self, request: WebhookRequest) -> str:
        return site_identity(request.require_header(SOURCE_HEADER))

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        return verify_base64_hmac(secrets, request.body, request.header(SIGNATURE_HEADER))

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        return (request.header(TOPIC_HEADER) or "").strip().lower() == CUSTOMER_DELETED_TOPIC

    def topic(self, request: WebhookRequest) -> str | None:
        return (request.header(TOPIC_HEADER) or "").strip().lower() or None

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        topic = request.require_header(TOPIC_HEADER).strip().lower()
        shape = TOPIC_SHAPES.get(topic)
        if shape is None:
            # Not parsed: an unusable body of a topic we ignore must not count as a failed delivery.
            return Normalised.ignored(
                IgnoredKind.NOT_HANDLED, f"WooCommerce topic {topic} is not one commerce-sync handles"
            )
        payload = parse_json(request.body)
        shape.check(topic, payload)
        if topic in CUSTOMER_TOPICS:
            return self._customer(request, store, payload)
        if topic == CUSTOMER_DELETED_TOPIC:
            return deletion(request, store, payload, EventType.CUSTOMER_DELETED, "customer")
        if topic in PRODUCT_TOPICS:
            return normalise_product_webhook(request, store, api, payload)
        if topic in COUPON_TOPICS:
            return normalise_coupon_webhook(request, store, topic, payload)
        return normalise_order(request, store, topic, self.consent_meta_keys, payload)

    def _customer(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        woo = parse_model(WooCustomer, payload)
        changed_at = woo.changed_at
        if changed_at is not None:
            event = customer_event(store, woo, self.consent_meta_keys, changed_at, change_event_id)
        else:
            # Nothing dates the change: the time of receipt versions it and the delivery names it.
            event = customer_event(
                store,
                woo,
                self.consent_meta_keys,
                datetime.now(UTC),
                lambda entity_id, version: delivery_event_id(request, f"customer:{entity_id}:{version}"),
            )
        return Normalised(events=[event])


# ----- products ------------------------------------------------------------------------------------------

PRODUCT_TOPICS = frozenset({"product.created", "product.updated", "product.deleted", "product.restored"})
PRODUCT_DELETED_TOPIC = "product.deleted"

# WooCommerce signs the body only and names the topic in X-WC-Webhook-Topic: a captured signed body resent
# under another topic must not pass (platforms.BodyShape). A `*.deleted` body is only `{"id"}`; the others
# are the wc/v3 resource, told apart by keys each kind always has (orders `line_items`, products
# `permalink`, customers `username`).
_WOO_DELETION = BodyShape.of(
    needs="id", forbids="date_modified_gmt date_created_gmt email line_items name status billing total type"
)
TOPIC_SHAPES: dict[str, BodyShape] = {
    **dict.fromkeys(CUSTOMER_TOPICS, BodyShape.of(needs="email", forbids="line_items permalink order_key")),
    **dict.fromkeys(
        ("order.created", "order.updated", "order.restored"),
        BodyShape.of(needs="line_items status", forbids="username permalink"),
    ),
    **dict.fromkeys(
        ("product.created", "product.updated", "product.restored"),
        BodyShape.of(needs="permalink", forbids="line_items username order_key"),
    ),
    **dict.fromkeys(COUPON_TOPICS - {COUPON_DELETED_TOPIC}, COUPON_SHAPE),
    **dict.fromkeys(
        (CUSTOMER_DELETED_TOPIC, "order.deleted", PRODUCT_DELETED_TOPIC, COUPON_DELETED_TOPIC), _WOO_DELETION
    ),
}


def normalise_product_webhook(request: WebhookRequest, store: Store, api: StoreApi | None, payload: Any) -> Normalised:
    """product.created|updated|restored deliver the wc/v3 product; a variable product's variations are not
    in it, so they are read from the store's API (as the catalog sync does, and mapped the same way).
    product.deleted (also sent when a product is trashed) carries only the id, and so does a product
    whose status is "trash"."""
    topic = request.require_header(TOPIC_HEADER).strip().lower()
    if topic == PRODUCT_DELETED_TOPIC or (isinstance(payload, dict) and payload.get("status") == "trash"):
        return deletion(request, store, payload, EventType.PRODUCT_DELETED, "product")
    if not isinstance(payload, dict):
        raise BadRequest("a product delivery must be a JSON object")
    pair = (key_pair(api.credentials) if api else None) or ("", "")
    root = ""  # a product without variations is mapped from the delivery alone: nothing is read
    if payload.get("type") in VARIABLE_TYPES and payload.get("variations"):
        if not all(pair):
            raise StoreApiUnavailable(
                f"store {store.store_id} has no WooCommerce REST key (platform_api_credentials) to read variations"
            )
        try:
            root = rest_root(store)
        except PlatformApiUrlError as error:
            raise StoreApiUnavailable(f"store {store.store_id}: {error}") from error
    catalog = WooCommerceCatalog(store, root, pair, platform_session(WEBHOOK_HTTP_POLICY))
    try:
        products, skipped = catalog.complete([payload])
    except PlatformNotFound:
        return Normalised.ignored(IgnoredKind.GONE, f"product {payload.get('id')} no longer exists on WooCommerce")
    except PlatformAuthError as error:
        raise StoreApiUnavailable(f"WooCommerce refused the store's REST key ({error.status})") from error
    except PlatformApiError as error:
        if error.retryable:
            raise StoreApiUnavailable(f"the WooCommerce API is unavailable: {error}") from error
        raise BadRequest(f"WooCommerce refused a read for this delivery: {error}") from error
    if skipped:
        raise BadRequest(skipped[0][1], field="product")
    product = products[0]
    changed_at = product.updated_at or datetime.now(UTC)
    version = version_from_timestamp(changed_at)
    event = make_event(
        event_type=EventType.PRODUCT_UPDATED,
        # One save can fire several deliveries: the id and the modification time name the change.
        event_id=f"woocommerce:product:{product.id}:{version}",
        store_id=store.store_id,
        platform="woocommerce",
        entity=product,
        entity_id=product.id,
        entity_version=version,
        occurred_at=changed_at,
    )
    return Normalised(events=[event])
