"""BigCommerce webhooks: thin payloads, so the adapter fetches what changed from the store's own API.

Deliveries: `{scope, store_id, data: {type, id, …}, hash, created_at, producer: "stores/{store_hash}"}`
(developer.bigcommerce.com/docs/integrations/webhooks/events). The store is the hash in `producer`.

Authentication: a delivery passes when either check passes, against any usable version of the store's
secret (current, pending, previous within its grace: secret_store.SigningKeyring), and is refused (401)
otherwise.
- The `X-Commerce-Sync-Token` header, which we put in the hook's `headers` when registering it, equal to
  the store's `webhook_secret` (compared in constant time). commerce-sync chooses this token and pushes
  it to the hooks when it rotates it.
- A Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`), which
  BigCommerce adds to every delivery, keyed with the client secret of the app (or API account) that owns
  the hook (developer.bigcommerce.com/docs/integrations/webhooks/https-webhook-overview#security). That
  is the store secret's `client_secret`, set in BigCommerce's developer portal, never by us. A version of
  the secret without `client_secret` (every store registered before it existed) verifies signatures with
  its `webhook_secret`, as before, so nothing breaks on upgrade; once a version holds a client secret,
  a signature made with the header token no longer passes for it.

Scopes:
- `store/cart/created|updated|abandoned|couponApplied` (`data.id` is the cart) and
  `store/cart/lineItem/created|updated|deleted` (`data.cartId` is the cart): the cart is fetched
  (`GET /v3/carts/{id}?include=redirect_urls`), then the customer when the cart has one
  (`GET /v3/customers?id:in=…`), then the newsletter subscriber by e-mail → `cart.updated`. A cart that
  is gone (404) is acknowledged and ignored: `store/cart/deleted` follows. Registering
  `store/cart/updated` alone is enough (it fires on creation and on every line change) and saves API
  quota: each fetched delivery costs up to three calls.
- `store/cart/deleted` → `cart.deleted` (reason deleted); `store/cart/converted` → `cart.deleted`
  (reason converted). Nothing is fetched: a converted cart no longer exists on BigCommerce.
- `store/customer/created|updated` → the customer and the subscriber are fetched → `customer.updated`;
  `store/customer/deleted` → `customer.deleted`.
- `store/order/*`, `store/shipment/*`: orders (platforms/bigcommerce_orders.py); `store/product/*`: products
  (the catalog package). Any other scope is ignored (200).

Marketing consent: BigCommerce keeps it on the newsletter subscriber (`GET /v3/customers/subscribers
?email=…`), whose `consents` lists the shopper's active subscriptions. GRANTED only when it holds
`marketing_newsletter`; DENIED when the subscriber exists with `consents` lacking it (BigCommerce: the
shopper unsubscribed or left the checkbox unticked); UNKNOWN when there is no subscriber (the store may
collect sign-ups elsewhere) or an older API answers without `consents`. The customer's
`accepts_product_review_abandoned_cart_emails` is not marketing consent: it governs BigCommerce's own
review-request and Abandoned Cart Saver e-mails, and is on by default.

Event ids: `bigcommerce:{hash}:{scope}:{created_at}`. BigCommerce documents `hash` as the duplicate
key but also as the SHA-1 of the payload's `data`, which for carts and customers is only `{type, id}`:
on its own it would be the same for every update of one cart and the 24-hour duplicate check would
drop all but the first. A redelivery repeats the whole payload, so it keeps the same id.

API failures that may pass (429, 5xx, no answer, and refused credentials, which an operator can fix)
raise `StoreApiUnavailable`, which the webhooks handler answers with 503 so that BigCommerce delivers
again later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

import requests

from commerce_sync.aws.secret_store import SigningSecret
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    CanonicalEvent,
    CanonicalModel,
    Cart,
    CartRemoval,
    CartRemovalReason,
    DeletedEntity,
    EventType,
    Line,
    make_event,
)
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
from commerce_sync.platforms.bigcommerce.api import BigCommerceApi, store_access, store_client
from commerce_sync.platforms.bigcommerce.catalog import BigCommerceCatalog
from commerce_sync.platforms.bigcommerce.customers import (
    customer_event,
    customer_version_time,
    read_customer,
    subscriber_of,
    to_canonical_customer,
)
from commerce_sync.platforms.bigcommerce.models import (
    PLATFORM,
    TOKEN_HEADER,
    BcCart,
    BcCustomer,
    BcEntityWebhook,
    BcGiftCertificate,
    BcLineItem,
    BcLineItemWebhook,
    BcSubscriber,
    BcWebhook,
    parse_fetched,
    removal_version,
    text,
)
from commerce_sync.platforms.bigcommerce.orders import normalise_order
from commerce_sync.platforms.http import (
    WEBHOOK_HTTP_POLICY,
    HttpPolicy,
    PlatformApiError,
    PlatformAuthError,
    StoreApiUnavailable,
    platform_session,
)
from commerce_sync.platforms.lines import PlatformLine, to_lines
from commerce_sync.platforms.signatures import SignatureError, verify_standard_webhook

CART_SCOPES = frozenset(
    {"store/cart/created", "store/cart/updated", "store/cart/abandoned", "store/cart/couponApplied"}
)
LINE_ITEM_SCOPES = frozenset(
    {"store/cart/lineItem/created", "store/cart/lineItem/updated", "store/cart/lineItem/deleted"}
)
CART_REMOVAL_SCOPES = {
    "store/cart/deleted": CartRemovalReason.DELETED,
    "store/cart/converted": CartRemovalReason.CONVERTED,
}
CUSTOMER_SCOPES = frozenset({"store/customer/created", "store/customer/updated"})
CUSTOMER_DELETED_SCOPE = "store/customer/deleted"


# ----- the inbound delivery ------------------------------------------------------------------------------


def to_platform_line(item: BcLineItem) -> PlatformLine:
    return PlatformLine(
        id=item.id,
        product_id=item.product_id,
        variant_id=item.variant_id,
        title=item.name,
        sku=text(item.sku),
        quantity=item.quantity,
        price=item.sale_price if item.sale_price is not None else item.list_price,
        discount=item.discount_amount,
        url=text(item.url),
        image_url=text(item.image_url),
    )


def gift_certificate_line(certificate: BcGiftCertificate) -> PlatformLine:
    # Titled by theme name, so every "Happy Birthday" certificate is one variant of the custom-items product.
    name = text(certificate.name) or text(certificate.theme)
    return PlatformLine(
        id=certificate.id,
        product_id=None,
        variant_id=None,
        title=f"Gift certificate: {name}" if name else "Gift certificate",
        quantity=certificate.quantity,
        price=certificate.amount,
    )


def to_canonical_lines(cart: BcCart) -> tuple[Line, ...]:
    items = cart.line_items
    lines = [
        *(to_platform_line(item) for item in (*items.physical_items, *items.digital_items, *items.custom_items)),
        *(gift_certificate_line(certificate) for certificate in items.gift_certificates),
    ]
    return to_lines("bigcommerce", cart.id, lines)


def to_canonical_cart(
    cart: BcCart,
    customer: BcCustomer | None = None,
    subscriber: BcSubscriber | None = None,
    fallback_currency: str | None = None,
) -> Cart:
    """Physical, digital and custom items and gift certificates become lines (docs/line-items.md); the
    price is the unit sale price; the total is `cart_amount`."""
    currency = cart.currency.code if cart.currency and cart.currency.code else fallback_currency
    return Cart(
        id=cart.id,
        customer=to_canonical_customer(customer, subscriber, cart.registered_customer_id, cart.email),
        currency_code=currency or "",
        lines=to_canonical_lines(cart),
        order_total=cart.cart_amount,
        checkout_url=text(cart.redirect_urls.checkout_url) if cart.redirect_urls else None,
        created_at=cart.created_time,
        updated_at=cart.updated_time,
    )


def signing_key(entry: SigningSecret) -> str:
    """The key a version's Standard Webhooks signatures are checked with: its client secret, or, for a
    version that holds none (stores registered before client secrets were kept), its webhook secret."""
    return entry.client_secret or entry.value


def authenticate(request: WebhookRequest, tokens: Sequence[str], client_secrets: Sequence[str]) -> int:
    """Index of the candidate whose header token matches, or whose client secret made the Standard Webhooks
    signature; `tokens` and `client_secrets` are parallel (one pair per version). Either check is enough:
    a hook may carry no header of ours (the merchant's app registered it), and a delivery may come
    unsigned (BigCommerce before signed webhooks)."""
    token, signature = request.header(TOKEN_HEADER), request.header("webhook-signature")
    if not token and not signature:
        raise SignatureError(f"the {TOKEN_HEADER} header and the Standard Webhooks signature are both missing")
    refusals = []
    if token:
        try:
            return verify_token(tokens, token)
        except SignatureError as refused:
            refusals.append(str(refused))
    if signature:
        try:
            return verify_standard_webhook(
                client_secrets,
                request.body,
                request.header("webhook-id"),
                request.header("webhook-timestamp"),
                signature,
            )
        except SignatureError as refused:
            refusals.append(f"Standard Webhooks signature: {refused}")
    raise SignatureError("; ".join(refusals))


def verify_token(secrets: Sequence[str], presented: str | None) -> int:
    """Index of the secret equal to the token, compared in constant time (as digests, so that not even
    the length of a secret shows in the timing)."""
    if not presented:
        raise SignatureError(f"the {TOKEN_HEADER} header is missing")
    given = hashlib.sha256(presented.strip().encode()).digest()
    for index, secret in enumerate(secrets):
        if secret and hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), given):
            return index
    raise SignatureError(f"the {TOKEN_HEADER} header does not match")


class BigCommerceAdapter(PlatformAdapter):
    name = PLATFORM

    def __init__(self, session: requests.Session | None = None, policy: HttpPolicy = WEBHOOK_HTTP_POLICY) -> None:
        self._given_session = session
        self._policy = policy

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per container, shared by every store (the token goes per request)."""
        return self._given_session or platform_session(self._policy)

    # ----- identity and authenticity ------------------------------------------------------------------

    def store_identity(self, request: WebhookRequest) -> str:
        # Read before the delivery is authenticated: bounded (the receiver caps the size, this the nesting).
        payload = request.unauthenticated_json
        producer = payload.get("producer") if isinstance(payload, dict) else None
        prefix, _, store_hash = producer.partition("/") if isinstance(producer, str) else ("", "", "")
        if prefix != "stores" or not store_hash.strip():
            raise BadRequest("the store hash ('stores/{store_hash}') is required", field="producer")
        return store_hash.strip()

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        """Each secret serves both checks, as a version without a client secret does."""
        return authenticate(request, secrets, secrets)

    def verify_keyring(self, request: WebhookRequest, keyring: Sequence[SigningSecret]) -> int:
        return authenticate(request, [entry.value for entry in keyring], [signing_key(entry) for entry in keyring])

    def topic(self, request: WebhookRequest) -> str | None:
        # The body store_identity parsed already (the scope is inside it, not in a header).
        payload = request.unauthenticated_json
        scope = payload.get("scope") if isinstance(payload, dict) else None
        return scope if isinstance(scope, str) and scope else None

    # ----- normalising ---------------------------------------------------------------------------------

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        # The scope is in the body; its deletion carries no API call, so a look for the scope's name suffices (a
        # body that only mentions it is normalised and then found to be something else, and ignored).
        return CUSTOMER_DELETED_SCOPE.encode() in request.body

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        payload: Any = parse_json(request.body)
        webhook = parse_model(BcWebhook, payload)
        scope = webhook.scope
        if scope in CART_SCOPES:
            return self._cart(parse_model(BcEntityWebhook, payload), store, api, cart_id=None)
        if scope in LINE_ITEM_SCOPES:
            line_webhook = parse_model(BcLineItemWebhook, payload)
            return self._cart(line_webhook, store, api, cart_id=line_webhook.data.cart_id)
        if scope in CART_REMOVAL_SCOPES:
            return self._cart_removed(parse_model(BcEntityWebhook, payload), store, CART_REMOVAL_SCOPES[scope])
        if scope in CUSTOMER_SCOPES:
            return self._customer(parse_model(BcEntityWebhook, payload), store, api)
        if scope == CUSTOMER_DELETED_SCOPE:
            return self._customer_deleted(parse_model(BcEntityWebhook, payload), store)
        if scope in PRODUCT_SCOPES:
            return normalise_product_webhook(self, payload, store, api)
        if scope.startswith(("store/order/", "store/shipment/")):
            return normalise_order(lambda: self.api_for(store, api), payload, store)
        return Normalised.ignored(
            IgnoredKind.NOT_HANDLED, f"BigCommerce scope {scope} is not one commerce-sync handles"
        )

    def api_for(self, store: Store, api: StoreApi | None) -> BigCommerceApi:
        return store_client(store, api, self.session)

    @staticmethod
    def _event(
        webhook: BcWebhook,
        store: Store,
        event_type: EventType,
        entity: CanonicalModel,
        entity_id: str,
        version_at: datetime | None,
        occurred_at: datetime | None = None,
    ) -> Normalised:
        version_at = version_at or webhook.occurred_at
        event: CanonicalEvent = make_event(
            event_type=event_type,
            event_id=webhook.event_id,
            store_id=store.store_id,
            platform=PLATFORM,
            entity=entity,
            entity_id=entity_id,
            entity_version=version_from_timestamp(version_at),
            occurred_at=occurred_at or version_at,
        )
        return Normalised(events=[event])

    def _cart(
        self, webhook: BcEntityWebhook | BcLineItemWebhook, store: Store, api: StoreApi | None, cart_id: str | None
    ) -> Normalised:
        cart_id = cart_id or webhook.data.id
        client = self.api_for(store, api)
        fetched = client.cart(cart_id)
        if fetched is None:
            return Normalised.ignored(IgnoredKind.GONE, f"cart {cart_id} no longer exists on BigCommerce")
        bc_cart = parse_fetched(BcCart, fetched, "cart")
        customer = None
        if bc_cart.registered_customer_id:
            raw_customer = client.customer(bc_cart.registered_customer_id)
            customer = parse_fetched(BcCustomer, raw_customer, "customer") if raw_customer else None
        subscriber = subscriber_of(client, text(customer.email if customer and text(customer.email) else bc_cart.email))
        cart = build_canonical(lambda: to_canonical_cart(bc_cart, customer, subscriber, store.currency_code))
        return self._event(webhook, store, EventType.CART_UPDATED, cart, cart.id, bc_cart.updated_time)

    def _cart_removed(self, webhook: BcEntityWebhook, store: Store, reason: CartRemovalReason) -> Normalised:
        removed_at = webhook.occurred_at
        removal = build_canonical(lambda: CartRemoval(id=webhook.data.id, reason=reason, removed_at=removed_at))
        version_at = removal_version(webhook)
        return self._event(webhook, store, EventType.CART_DELETED, removal, removal.id, version_at, removed_at)

    def _customer(self, webhook: BcEntityWebhook, store: Store, api: StoreApi | None) -> Normalised:
        client = self.api_for(store, api)
        raw_customer = client.customer(webhook.data.id)
        if raw_customer is None:
            return Normalised.ignored(IgnoredKind.GONE, f"customer {webhook.data.id} no longer exists on BigCommerce")
        bc_customer, customer = read_customer(client, raw_customer)
        version_at = customer_version_time(bc_customer) or webhook.occurred_at
        event = customer_event(store, customer, bc_customer.id, version_at, lambda *_: webhook.event_id)
        return Normalised(events=[event])

    def _customer_deleted(self, webhook: BcEntityWebhook, store: Store) -> Normalised:
        deleted = build_canonical(lambda: DeletedEntity(id=webhook.data.id))
        removed_at, version_at = webhook.occurred_at, removal_version(webhook)
        return self._event(webhook, store, EventType.CUSTOMER_DELETED, deleted, deleted.id, version_at, removed_at)


# ----- products ------------------------------------------------------------------------------------------

PRODUCT_DELETED_SCOPE = "store/product/deleted"
PRODUCT_SCOPES = frozenset(
    {
        "store/product/created",
        "store/product/updated",
        "store/product/inventory/updated",
        "store/product/inventory/order/updated",
        PRODUCT_DELETED_SCOPE,
    }
)


def normalise_product_webhook(
    adapter: BigCommerceAdapter, payload: Any, store: Store, api: StoreApi | None
) -> Normalised:
    """`data.id` is the product: it is read with its variants and images (the catalog sync's reader and
    mapping) → product.updated; store/product/deleted → product.deleted, nothing read."""
    webhook = parse_model(BcEntityWebhook, payload)
    if webhook.scope == PRODUCT_DELETED_SCOPE:
        deleted = build_canonical(lambda: DeletedEntity(id=webhook.data.id))
        return BigCommerceAdapter._event(
            webhook,
            store,
            EventType.PRODUCT_DELETED,
            deleted,
            deleted.id,
            removal_version(webhook),
            webhook.occurred_at,
        )
    root, token = store_access(store, api)
    catalog = BigCommerceCatalog(store, root, token, adapter.session)
    try:
        found = catalog.products_by_id([webhook.data.id])
    except PlatformAuthError as error:
        raise StoreApiUnavailable(f"BigCommerce refused the store's access token ({error.status})") from error
    except PlatformApiError as error:
        if error.retryable:
            raise StoreApiUnavailable(f"the BigCommerce API is unavailable: {error}") from error
        raise BadRequest(f"BigCommerce refused a read for this delivery: {error}") from error
    if not found:
        return Normalised.ignored(IgnoredKind.GONE, f"product {webhook.data.id} no longer exists on BigCommerce")
    product = found[0]
    return BigCommerceAdapter._event(webhook, store, EventType.PRODUCT_UPDATED, product, product.id, product.updated_at)
