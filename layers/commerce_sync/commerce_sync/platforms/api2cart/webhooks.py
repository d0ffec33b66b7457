"""API2Cart webhook deliveries (`POST /webhooks/api2cart?store=<store id>&token=<webhook secret>`) to canonical
events; docs/api2cart.md.

A delivery is the entity as its `.info` method answers it, cut to the webhook's `fields`, with the headers
`X-Webhook-Entity`, `X-Webhook-Action`, `X-Webhook-Store-Id` (the store within a multistore cart, "1" otherwise: it
does not tell the connected store) and `X-Webhook-Timestamp`, `X-Webhook-Signature`.

Authentication, both required:
1. The callback URL commerce-sync gave `webhook.create` names the store (`store`, our store id) and carries a token,
   the store's webhook secret (`token`), compared in constant time with every usable version of the secret
   (current, pending, previous within its grace), so a rotation never fails a delivery; the rotation points the
   store's webhooks at the new token (platforms.api2cart.hooks). Without it the store would not even be known.
2. `X-Webhook-Signature`, API2Cart's HMAC-SHA256 keyed with the account's API key over the body and the X-Webhook-*
   headers (platforms.signatures.verify_api2cart), sent at most 5 minutes ago by `X-Webhook-Timestamp`: a forged,
   altered, re-labelled (another entity or action) or stale delivery is refused (401). Checked once the store is
   known, since the API key is in its secret.

Entities and actions: `order` add/update and `order.shipment` add/update/delete read the whole order (order.info and
its shipments) → `order.updated`; `order` delete → `order.deleted`; `customer` add/update → `customer.updated`
(customer.info when the delivery lacks the e-mail); `customer` delete → `customer.deleted`; `product` add/update →
`product.updated` (product.info when thin, and always its child items, the variants), delete → `product.deleted`;
`basket` add/update → `cart.updated` (basket.info when thin), delete → `cart.deleted`. Anything else is acknowledged
and ignored. An entity the API no longer has is acknowledged and ignored; API failures that may pass answer 503
(API2Cart delivers again). A connection-loss notice (`X-Webhook-Error-Code` other than 0, empty body) is
acknowledged and logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import requests

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CartRemoval, CartRemovalReason, EventType, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import (
    IgnoredKind,
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    build_canonical,
    parse_json,
    parse_model,
)
from commerce_sync.platforms.api2cart.api import PLATFORM, Api2CartApi, client_for, keys
from commerce_sync.platforms.api2cart.customers import to_cart, to_customer, to_product
from commerce_sync.platforms.api2cart.models import A2cBasket, A2cChild, A2cCustomer, A2cProduct, text
from commerce_sync.platforms.api2cart.orders import deleted_event, event_id, fetch_order, order_normalised
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.http import (
    WEBHOOK_HTTP_POLICY,
    HttpPolicy,
    PlatformApiError,
    PlatformAuthError,
    StoreApiUnavailable,
    platform_session,
)
from commerce_sync.platforms.signatures import API2CART_SIGNED_HEADERS, SignatureError, verify_api2cart

STORE_PARAMETER = "store"
TOKEN_PARAMETER = "token"
ORDER_ENTITIES = frozenset({"order", "order.shipment"})


def verify_token(secrets: Sequence[str], presented: str | None) -> int:
    """Index of the secret equal to the callback URL's token, compared in constant time (as digests, so not even a
    secret's length shows in the timing)."""
    if not presented:
        raise SignatureError(f"the callback URL's {TOKEN_PARAMETER} is missing")
    given = hashlib.sha256(presented.encode()).digest()
    for index, secret in enumerate(secrets):
        if secret and hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), given):
            return index
    raise SignatureError(f"the callback URL's {TOKEN_PARAMETER} does not match")


class Api2CartAdapter(PlatformAdapter):
    name = PLATFORM
    # The store is named by our store id in the callback URL: API2Cart's X-Webhook-Store-Id does not tell it.
    identifies_by_store_id = True

    def __init__(self, session: requests.Session | None = None, policy: HttpPolicy = WEBHOOK_HTTP_POLICY) -> None:
        self._given_session = session
        self._policy = policy

    @cached_property
    def session(self) -> requests.Session:
        return self._given_session or platform_session(self._policy)

    def store_identity(self, request: WebhookRequest) -> str:
        store_id = (request.query.get(STORE_PARAMETER) or "").strip()
        if not store_id:
            raise BadRequest(f"the callback URL's {STORE_PARAMETER} parameter (the store id) is required")
        return store_id

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        return verify_token(secrets, request.query.get(TOKEN_PARAMETER))

    def topic(self, request: WebhookRequest) -> str | None:
        entity, action = request.header("X-Webhook-Entity"), request.header("X-Webhook-Action")
        # Only names API2Cart uses reach the store's activity (a signed delivery could still carry anything).
        if entity in {"order", "order.shipment", "customer", "product", "basket"} and action in {
            "add",
            "update",
            "delete",
        }:
            return f"{entity}.{action}"
        return None

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        return request.header("X-Webhook-Entity") == "customer" and request.header("X-Webhook-Action") == "delete"

    # ----- normalising -----------------------------------------------------------------------------------------

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        if store.platform != PLATFORM:
            raise BadRequest(f"store {store.store_id} is a {store.platform} store, not an API2Cart one", field="store")
        credentials = api.credentials if api else {}
        pair = keys(credentials)
        if pair is None:
            raise StoreApiUnavailable(
                f"store {store.store_id} has no API2Cart keys (platform_api_credentials.api_key and store_key), "
                "so its deliveries cannot be authenticated"
            )
        error_code = request.header("X-Webhook-Error-Code")
        payload: Any = parse_json(request.body) if request.body.strip() else {}
        headers = {name: value for name in API2CART_SIGNED_HEADERS if (value := request.header(name)) is not None}
        verify_api2cart(pair[0], payload, headers, request.header("X-Webhook-Signature"))
        if error_code and error_code.strip() != "0":
            logger.warning("API2Cart reports a lost store connection", error_code=error_code[:20])
            return Normalised.ignored(
                IgnoredKind.NOT_HANDLED, f"API2Cart reports a lost connection to the store (error {error_code[:20]})"
            )
        entity, action = request.require_header("X-Webhook-Entity"), request.require_header("X-Webhook-Action")
        if not isinstance(payload, dict):
            raise BadRequest("an API2Cart delivery's body must be a JSON object", field="body")
        client = lambda: self._client(store, api)  # noqa: E731 -- asked for only when something must be read
        return _normalise(entity, action, payload, store, client)

    def _client(self, store: Store, api: StoreApi | None) -> Api2CartApi:
        try:
            client = client_for(store, api.credentials if api else {}, self.session, api.base_url if api else None)
        except PlatformApiUrlError as error:
            raise StoreApiUnavailable(f"store {store.store_id}: {error}") from error
        if client is None:
            raise StoreApiUnavailable(f"store {store.store_id} has no API2Cart keys")
        return client


def _normalise(
    entity: str, action: str, payload: dict[str, Any], store: Store, client: Callable[[], Api2CartApi]
) -> Normalised:
    entity_id = text(str(payload.get("id"))) if payload.get("id") not in (None, "") else None
    if entity in ORDER_ENTITIES:
        if entity == "order" and action == "delete":
            return deleted_event(store, EventType.ORDER_DELETED, "order", _required(entity_id), datetime.now(UTC))
        if action not in ("add", "update", "delete"):
            return _not_handled(entity, action)
        order_id = _required(text(str(payload.get("order_id") or "")) if entity == "order.shipment" else entity_id)
        fetched = _read(lambda: fetch_order(client(), order_id))
        if fetched is None:
            return Normalised.ignored(IgnoredKind.GONE, f"order {order_id} no longer exists on API2Cart")
        return order_normalised(fetched, store)
    if entity == "customer":
        if action == "delete":
            return deleted_event(store, EventType.CUSTOMER_DELETED, "customer", _required(entity_id), datetime.now(UTC))
        raw = payload if text(payload.get("email")) else _read(lambda: client().info("customer", _required(entity_id)))
        if raw is None:
            return Normalised.ignored(IgnoredKind.GONE, f"customer {entity_id} no longer exists on API2Cart")
        customer = parse_model(A2cCustomer, raw)
        canonical = build_canonical(lambda: to_customer(customer))
        return _event(store, EventType.CUSTOMER_UPDATED, "customer", canonical, customer.modified_time)
    if entity == "product":
        if action == "delete":
            return deleted_event(store, EventType.PRODUCT_DELETED, "product", _required(entity_id), datetime.now(UTC))
        complete = payload.get("name") and "price" in payload
        raw = payload if complete else _read(lambda: client().info("product", _required(entity_id)))
        if raw is None:
            return Normalised.ignored(IgnoredKind.GONE, f"product {entity_id} no longer exists on API2Cart")
        product = parse_model(A2cProduct, raw)
        found = _read(lambda: client().children([product.id]))
        children = [parse_model(A2cChild, item) for item in found.get(product.id, [])]
        canonical_product = build_canonical(lambda: to_product(product, store.currency_code, children))
        return _event(store, EventType.PRODUCT_UPDATED, "product", canonical_product, product.modified_at)
    if entity == "basket":
        if action == "delete":
            removal = build_canonical(
                lambda: CartRemoval(
                    id=_required(entity_id), reason=CartRemovalReason.DELETED, removed_at=datetime.now(UTC)
                )
            )
            return _event(store, EventType.CART_DELETED, "basket", removal, removal.removed_at)
        raw = payload if "basket_products" in payload else _read(lambda: client().info("basket", _required(entity_id)))
        if raw is None:
            return Normalised.ignored(IgnoredKind.GONE, f"basket {entity_id} no longer exists on API2Cart")
        basket = parse_model(A2cBasket, raw)
        cart = build_canonical(lambda: to_cart(basket, store.currency_code))
        return _event(store, EventType.CART_UPDATED, "basket", cart, basket.modified_at)
    return _not_handled(entity, action)


def _not_handled(entity: str, action: str) -> Normalised:
    return Normalised.ignored(
        IgnoredKind.NOT_HANDLED, f"API2Cart webhook {entity[:40]}.{action[:20]} is not one commerce-sync handles"
    )


def _required(entity_id: str | None) -> str:
    if not entity_id:
        raise BadRequest("the delivery names no entity", field="id")
    return entity_id


def _read(read: Callable[[], Any]) -> Any:
    """A read for a delivery: failures that may pass (throttled, failing, refused keys an operator can fix) are a 503,
    so API2Cart delivers again; other refusals make the delivery unusable (400)."""
    try:
        return read()
    except PlatformAuthError as error:
        raise StoreApiUnavailable(f"API2Cart refused the store's keys ({error.status})") from error
    except PlatformApiError as error:
        if error.retryable:
            raise StoreApiUnavailable(f"the API2Cart API is unavailable: {error}") from error
        raise BadRequest(f"API2Cart refused a read for this delivery: {error}") from error


def _event(store: Store, event_type: EventType, kind: str, entity: Any, changed_at: datetime | None) -> Normalised:
    at = changed_at or datetime.now(UTC)
    version = version_from_timestamp(at)
    entity_id = str(entity.id)
    event = make_event(
        event_type=event_type,
        event_id=event_id(store, kind, entity_id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=entity,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=at,
    )
    return Normalised(events=[event])
