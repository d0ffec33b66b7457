"""WooCommerce coupons: the wc/v3 coupon resource, its mapping, the reader, and the coupon webhooks.

A WooCommerce coupon is a rule and its one code at once, so each becomes a Mailchimp promo rule and one promo
code of the same id (what Mailchimp's spec asks of a platform without rules, and what Mailchimp for WooCommerce
does).

Reading: `GET {site}/wp-json/wc/v3/coupons?per_page=100&page=N&orderby=id&order=asc` (the default `status=any`
leaves the trash out), `include=<ids>` to ask for some by id.

Mapping (docs/promotions.md, "WooCommerce"):
- `percent`: percentage (amount / 100) on the `total`, or `per_item` when the coupon is limited to products or
  categories; `fixed_cart`: fixed on the `total`; `fixed_product`: fixed `per_item`;
- `free_shipping` with amount 0: free shipping (fixed 0 on shipping). A coupon that gives an amount *and* free
  shipping is sent as its amount: a Mailchimp rule has one target, and the amount is what the shopper sees;
- other `discount_type`s come from plugins (Smart Coupons' store credit, subscriptions' sign-up fees) and are
  left out with the reason;
- title: the code (a coupon has no title); description: the coupon's, else Mailchimp's plain words;
- `date_expires_gmt` is the end (WooCommerce has no start date); a coupon not published, or used up
  (`usage_count` reached `usage_limit`), is disabled;
- redemption URL: the site's home page. WooCommerce itself has no address that applies a coupon (plugins add
  one, each its own); the home page is where the shopper can shop and enter the code at the cart, and is what
  Mailchimp for WooCommerce sends.

Webhooks: `coupon.created`, `coupon.updated`, `coupon.restored` carry the wc/v3 coupon; `coupon.deleted` (also
sent when a coupon is trashed) only its id, as does a body whose status is `trash`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import EventType, Promotion, PromotionCode, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import (
    BodyShape,
    IgnoredKind,
    Normalised,
    WebhookRequest,
    build_canonical,
    parse_model,
)
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, platform_session
from commerce_sync.platforms.products import chunks, numbered
from commerce_sync.platforms.promotions import (
    CodePage,
    PromotionPage,
    PromotionsUnavailable,
    Unexpressible,
    build_each,
    percent_fraction,
)
from commerce_sync.platforms.woocommerce.api import MAX_PER_PAGE, WooCommerceRest, key_pair, rest_root, site_url
from commerce_sync.platforms.woocommerce.catalog import Blank, GmtTime, WooModel
from commerce_sync.platforms.woocommerce.models import deletion

COUPON_TOPICS = frozenset({"coupon.created", "coupon.updated", "coupon.restored", "coupon.deleted"})
COUPON_DELETED_TOPIC = "coupon.deleted"
# Coupons always have `code` and `discount_type`; orders, products and customers never have `discount_type`.
COUPON_SHAPE = BodyShape.of(needs="code discount_type", forbids="line_items permalink username")
PUBLISHED = "publish"


class WooCoupon(WooModel):
    id: str
    code: str
    amount: Decimal = Decimal(0)
    discount_type: str = "fixed_cart"
    description: Blank = None
    # wc/v3 lists coupons of any status but the trash; older sites do not send it (published).
    status: Blank = None
    date_expires_gmt: GmtTime = None
    date_created_gmt: GmtTime = None
    date_modified_gmt: GmtTime = None
    usage_count: int = 0
    usage_limit: int | None = None
    free_shipping: bool = False
    product_ids: list[str] = []
    product_categories: list[str] = []

    @property
    def usable(self) -> bool:
        used_up = self.usage_limit is not None and self.usage_count >= self.usage_limit
        return (self.status or PUBLISHED) == PUBLISHED and not used_up


def _kind(coupon: WooCoupon) -> dict[str, Any]:
    amount = coupon.amount.copy_abs()
    if coupon.free_shipping and amount == 0:
        return {"type": "fixed", "amount": "0", "target": "shipping"}
    if coupon.discount_type == "percent":
        limited = bool(coupon.product_ids or coupon.product_categories)
        return {"type": "percentage", "amount": percent_fraction(amount), "target": "per_item" if limited else "total"}
    if coupon.discount_type == "fixed_cart":
        return {"type": "fixed", "amount": amount, "target": "total"}
    if coupon.discount_type == "fixed_product":
        return {"type": "fixed", "amount": amount, "target": "per_item"}
    raise Unexpressible(f"discount type {coupon.discount_type!r} (a plugin's) has no Mailchimp promo rule kind")


def to_canonical_promotion(coupon: WooCoupon, store: Store) -> Promotion:
    code = PromotionCode(
        id=coupon.id,
        code=coupon.code,
        redemption_url=site_url(store),
        usage_count=max(coupon.usage_count, 0),
        enabled=coupon.usable,
        created_at=coupon.date_created_gmt,
        updated_at=coupon.date_modified_gmt,
    )
    return Promotion.model_validate(
        {
            "id": coupon.id,
            "title": coupon.code,
            "description": coupon.description,
            **_kind(coupon),
            "currency_code": store.currency_code,
            "ends_at": coupon.date_expires_gmt,
            "enabled": coupon.usable,
            "codes": (code,),
            "codes_complete": True,
            "created_at": coupon.date_created_gmt,
            "updated_at": coupon.date_modified_gmt,
        }
    )


def _raw_id(item: Any) -> str:
    return str(item.get("id", "?")) if isinstance(item, dict) else "?"


class WooCommercePromotions:
    platform = "woocommerce"

    def __init__(self, store: Store, rest: WooCommerceRest) -> None:
        self._store = store
        self._rest = rest

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> WooCommercePromotions:
        pair = key_pair(credentials)
        if pair is None:
            raise PromotionsUnavailable(
                f"store {store.store_id} has no WooCommerce REST key (platform_api_credentials)"
            )
        return cls(store, WooCommerceRest(rest_root(store), pair, session or platform_session(policy)))

    def _map(self, raw: Sequence[Any]) -> tuple[list[Promotion], list[tuple[str, str]]]:
        parsed, unparsed = build_each(raw, _raw_id, WooCoupon.model_validate)
        promotions, skipped = build_each(
            parsed, lambda coupon: coupon.id, partial(to_canonical_promotion, store=self._store)
        )
        return promotions, unparsed + skipped

    def page(self, cursor: str | None) -> PromotionPage:
        number = int(cursor) if cursor else 1
        page = self._rest.collection("coupons", {"orderby": "id", "order": "asc"}, number)
        promotions, skipped = self._map(page.items)
        more = number < page.total_pages if page.total_pages is not None else len(page.items) >= MAX_PER_PAGE
        return PromotionPage(promotions, str(number + 1) if more else None, skipped)

    def codes(self, promotion_id: str, cursor: str | None) -> CodePage:
        return CodePage([], None)  # every coupon comes with its code

    def promotions_by_id(self, ids: Sequence[str]) -> list[Promotion]:
        found: list[Promotion] = []
        for part in chunks(numbered(ids), MAX_PER_PAGE):
            page = self._rest.collection("coupons", {"include": ",".join(part)})
            found.extend(self._map(page.items)[0])
        return found


def normalise_coupon_webhook(request: WebhookRequest, store: Store, topic: str, payload: Any) -> Normalised:
    """A coupon.* delivery (its body already matched the topic's shape) as a promotion event."""
    if topic == COUPON_DELETED_TOPIC or (isinstance(payload, dict) and payload.get("status") == "trash"):
        return deletion(request, store, payload, EventType.PROMOTION_DELETED, "coupon")
    coupon = parse_model(WooCoupon, payload)
    try:
        promotion = build_canonical(lambda: to_canonical_promotion(coupon, store))
    except Unexpressible as reason:
        return Normalised.ignored(IgnoredKind.SKIPPED, f"coupon {coupon.id}: {reason}")
    changed_at = coupon.date_modified_gmt or datetime.now(UTC)
    version = version_from_timestamp(changed_at)
    event = make_event(
        event_type=EventType.PROMOTION_UPDATED,
        # One save can fire several deliveries: the id and the modification time name the change.
        event_id=f"woocommerce:coupon:{coupon.id}:{version}",
        store_id=store.store_id,
        platform="woocommerce",
        entity=promotion,
        entity_id=promotion.id,
        entity_version=version,
        occurred_at=changed_at,
    )
    return Normalised(events=[event])
