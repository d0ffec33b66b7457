"""Shopify discounts: the Admin REST PriceRule and DiscountCode resources, their mapping, the reader, and the
discount webhooks.

Reading (the store's Admin API version, like the catalog; access scope `read_price_rules`):
- `GET /admin/api/<version>/price_rules.json?limit=250`, cursor-paged through the `Link` header's `page_info`;
- `GET /price_rules/{id}/discount_codes.json?limit=250`, the same paging: a rule's codes a page at a time;
- `GET /price_rules/{id}.json` for one rule (404: gone).
Shopify calls these REST resources legacy and recommends the GraphQL discount types for new apps; a store
connected with its own Admin API token (a custom app) may keep reading them, as the catalog reads products
(docs/product-sync.md, "Shopify: REST, not GraphQL"). The webhooks rely on a code discount's GraphQL id ending in
its price rule's id; a discount REST does not show (an app's, made with Shopify Functions) is read as gone.

Mapping (docs/promotions.md, "Shopify"): `value` is negative in Shopify and a percent for `percentage`:
- `line_item`, `percentage`: percentage (value / 100) on the `total` when it applies to every item
  (`target_selection: all`), else `per_item`;
- `line_item`, `fixed_amount`: fixed, `per_item` when given to each item (`allocation_method: each`), else
  `total`;
- `shipping_line`: 100 % off is free shipping (fixed 0 on shipping), otherwise the percentage or amount off
  shipping;
- buy X get Y (`prerequisite_to_entitlement_quantity_ratio` or `prerequisite_to_entitlement_purchase` set) is
  left out with the reason: Mailchimp has no rule for "a free item once you buy N".
A code is usable until it has been used `usage_limit` times (Shopify's limit is per code); its redemption URL
is the storefront's `/discount/<code>`, which applies the code and goes on to the shop.

Webhooks (`read_discounts`): discounts/create|update|delete carry the discount's GraphQL id
(`gid://shopify/DiscountCodeNode/<id>`), its title and status; discounts/redeemcode_added|removed the discount
and the code (`redeem_code {id, code}`). Payloads carry no amounts, so create/update/redeemcode_added read the
price rule (and its first codes) from the store; the event is versioned by the time of that read, the moment
the state it carries was true. Automatic discounts (`DiscountAutomaticNode`) have no code: ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    EventType,
    Promotion,
    PromotionCode,
    PromotionRemoval,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import (
    BodyShape,
    IgnoredKind,
    Normalised,
    StoreApi,
    build_canonical,
    parse_model,
)
from commerce_sync.platforms.http import (
    CATALOG_HTTP_POLICY,
    WEBHOOK_HTTP_POLICY,
    HttpPolicy,
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    StoreApiUnavailable,
    fetch_json,
    platform_session,
)
from commerce_sync.platforms.products import numbered
from commerce_sync.platforms.promotions import (
    CodePage,
    PromotionPage,
    PromotionsUnavailable,
    Unexpressible,
    build_each,
    percent_fraction,
)
from commerce_sync.platforms.shopify.api import access_token, api_root, auth_headers, next_page_info
from commerce_sync.platforms.shopify.catalog import storefront

PAGE_SIZE = 250
# The codes a webhook's event carries: what one read gives (the nightly sync reads the rest).
WEBHOOK_CODES = 100
DISCOUNT_TOPICS = frozenset(
    {
        "discounts/create",
        "discounts/update",
        "discounts/delete",
        "discounts/redeemcode_added",
        "discounts/redeemcode_removed",
    }
)
DISCOUNT_SHAPE = BodyShape.of(needs="admin_graphql_api_id", forbids="line_items financial_status variants email")
_GID = re.compile(r"^gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>\d{1,20})$")


class ShopifyModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ShopifyPriceRule(ShopifyModel):
    id: str
    title: str | None = None
    value_type: str
    value: Decimal
    target_type: str
    target_selection: str | None = None
    allocation_method: str | None = None
    usage_limit: int | None = None
    prerequisite_to_entitlement_quantity_ratio: dict[str, Any] | None = None
    prerequisite_to_entitlement_purchase: dict[str, Any] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def buy_x_get_y(self) -> bool:
        ratio = self.prerequisite_to_entitlement_quantity_ratio or {}
        purchase = self.prerequisite_to_entitlement_purchase or {}
        return bool(ratio.get("prerequisite_quantity") or purchase.get("prerequisite_amount"))


class ShopifyDiscountCode(ShopifyModel):
    id: str
    code: str
    usage_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


def to_canonical_promotion(rule: ShopifyPriceRule, store: Store) -> Promotion:
    """The price rule without its codes (they are read a page at a time)."""
    if rule.buy_x_get_y():
        raise Unexpressible("buy X get Y: Mailchimp's promo rules have no kind for a free item once N are bought")
    amount = rule.value.copy_abs()
    kind: dict[str, Any]
    if rule.value_type not in ("percentage", "fixed_amount"):
        raise Unexpressible(f"value_type {rule.value_type!r} is not one Shopify documents")
    if rule.target_type == "shipping_line":
        if rule.value_type == "percentage" and amount >= 100:
            kind = {"type": "fixed", "amount": "0", "target": "shipping"}
        elif rule.value_type == "percentage":
            kind = {"type": "percentage", "amount": percent_fraction(amount), "target": "shipping"}
        else:
            kind = {"type": "fixed", "amount": amount, "target": "shipping"}
    elif rule.target_type == "line_item":
        if rule.value_type == "percentage":
            target = "total" if rule.target_selection == "all" else "per_item"
            kind = {"type": "percentage", "amount": percent_fraction(amount), "target": target}
        else:
            target = "per_item" if rule.allocation_method == "each" else "total"
            kind = {"type": "fixed", "amount": amount, "target": target}
    else:
        raise Unexpressible(f"target_type {rule.target_type!r} is not one Shopify documents")
    return Promotion.model_validate(
        {
            "id": rule.id,
            "title": rule.title,
            **kind,
            "currency_code": store.currency_code,
            "starts_at": rule.starts_at,
            "ends_at": rule.ends_at,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )


def redemption_url(store: Store, code: str) -> str:
    """The storefront's `/discount/<code>`: applies the code in the shopper's session, then shows the shop."""
    return f"{storefront(store)}/discount/{quote(code, safe='')}"


def to_canonical_code(code: ShopifyDiscountCode, store: Store, usage_limit: int | None) -> PromotionCode:
    return PromotionCode(
        id=code.id,
        code=code.code,
        redemption_url=redemption_url(store, code.code),
        usage_count=max(code.usage_count, 0),
        enabled=usage_limit is None or code.usage_count < usage_limit,
        created_at=code.created_at,
        updated_at=code.updated_at,
    )


class ShopifyPromotions:
    platform = "shopify"

    def __init__(self, store: Store, api_root: str, access_token: str, session: requests.Session) -> None:
        self._store = store
        self._root = api_root.rstrip("/")
        self._headers = auth_headers(access_token)
        self._session = session
        # Each rule's usage limit, which its codes' `enabled` depends on; the rules of the page last read.
        self._usage_limits: dict[str, int | None] = {}

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> ShopifyPromotions:
        token = access_token(credentials)
        if not token:
            raise PromotionsUnavailable(
                f"store {store.store_id} has no Shopify access token (platform_api_credentials)"
            )
        return cls(store, api_root(store), token, session or platform_session(policy))

    def _rules(self, raw: Sequence[Any]) -> tuple[list[Promotion], list[tuple[str, str]]]:
        parsed, unparsed = build_each(raw, _raw_id, ShopifyPriceRule.model_validate)
        for rule in parsed:
            self._usage_limits[rule.id] = rule.usage_limit
        promotions, skipped = build_each(
            parsed, lambda rule: rule.id, partial(to_canonical_promotion, store=self._store)
        )
        return promotions, unparsed + skipped

    def page(self, cursor: str | None) -> PromotionPage:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor:
            params["page_info"] = cursor
        body, headers = fetch_json(self._session, f"{self._root}/price_rules.json", params, self._headers)
        self._usage_limits = {}
        promotions, skipped = self._rules(body.get("price_rules", []) if isinstance(body, dict) else [])
        return PromotionPage(promotions, next_page_info(headers.get("Link")), skipped)

    def codes(self, promotion_id: str, cursor: str | None, limit: int = PAGE_SIZE) -> CodePage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["page_info"] = cursor
        url = f"{self._root}/price_rules/{quote(promotion_id, safe='')}/discount_codes.json"
        body, headers = fetch_json(self._session, url, params, self._headers)
        raw = body.get("discount_codes", []) if isinstance(body, dict) else []
        if promotion_id not in self._usage_limits:
            self.promotions_by_id([promotion_id])
        limit_of_rule = self._usage_limits.get(promotion_id)
        parsed, unparsed = build_each(raw, _raw_id, ShopifyDiscountCode.model_validate)
        codes, skipped = build_each(
            parsed, lambda code: code.id, partial(to_canonical_code, store=self._store, usage_limit=limit_of_rule)
        )
        return CodePage(codes, next_page_info(headers.get("Link")), unparsed + skipped)

    def promotions_by_id(self, ids: Sequence[str]) -> list[Promotion]:
        found: list[Promotion] = []
        for rule_id in numbered(ids):
            try:
                body, _ = fetch_json(self._session, f"{self._root}/price_rules/{rule_id}.json", None, self._headers)
            except PlatformNotFound:
                continue
            promotions, _ = self._rules([body.get("price_rule")] if isinstance(body, dict) else [])
            found.extend(promotions)
        return found


def _raw_id(item: Any) -> str:
    return str(item.get("id", "?")) if isinstance(item, dict) else "?"


# ----- webhooks ------------------------------------------------------------------------------------------


class ShopifyRedeemCode(ShopifyModel):
    id: str | None = None
    code: str | None = None


class ShopifyDiscountDelivery(ShopifyModel):
    admin_graphql_api_id: str
    redeem_code: ShopifyRedeemCode | None = None


def _gid(value: str | None, field: str) -> tuple[str, str]:
    found = _GID.match(value or "")
    if found is None:
        raise BadRequest("is not a Shopify GraphQL id (gid://shopify/<Kind>/<number>)", field=field)
    return found.group("kind"), found.group("id")


def normalise_discount_webhook(
    topic: str,
    store: Store,
    payload: Any,
    api: StoreApi | None,
    event_id: Callable[[str, str], str],
    delivered_at: datetime,
) -> Normalised:
    """A discounts/* delivery as a promotion event (see the module docstring). `event_id(entity, version)` names
    the delivery; `delivered_at` dates a deletion, which reads nothing."""
    DISCOUNT_SHAPE.check(topic, payload)
    delivery = parse_model(ShopifyDiscountDelivery, payload)
    kind, rule_id = _gid(delivery.admin_graphql_api_id, "admin_graphql_api_id")
    if kind != "DiscountCodeNode":
        return Normalised.ignored(
            IgnoredKind.NOT_HANDLED, f"{kind} {rule_id} is not a code discount: Mailchimp's promo codes need a code"
        )
    if topic == "discounts/delete":
        return _event(store, EventType.PROMOTION_DELETED, PromotionRemoval(id=rule_id), rule_id, delivered_at, event_id)
    if topic == "discounts/redeemcode_removed":
        code = delivery.redeem_code
        if code is None or not code.id:
            return Normalised.ignored(
                IgnoredKind.SKIPPED, f"the removed code of discount {rule_id} has no id; the nightly sync removes it"
            )
        _, code_id = _gid(code.id, "redeem_code.id")
        removal = PromotionRemoval(id=rule_id, code_ids=(code_id,))
        return _event(store, EventType.PROMOTION_DELETED, removal, rule_id, delivered_at, event_id)
    return _read_and_publish(topic, store, rule_id, delivery, api, event_id)


def _read_and_publish(
    topic: str,
    store: Store,
    rule_id: str,
    delivery: ShopifyDiscountDelivery,
    api: StoreApi | None,
    event_id: Callable[[str, str], str],
) -> Normalised:
    token = access_token(api.credentials) if api else None
    if not token:
        raise StoreApiUnavailable(f"store {store.store_id} has no Shopify access token to read the discount")
    reader = ShopifyPromotions(store, api_root(store), token, platform_session(WEBHOOK_HTTP_POLICY))
    read_at = datetime.now(UTC)
    try:
        found = reader.promotions_by_id([rule_id])
        if not found:
            return Normalised.ignored(
                IgnoredKind.GONE,
                f"discount {rule_id} is not a price rule Mailchimp can hold (gone, or of another kind)",
            )
        code = delivery.redeem_code
        if topic == "discounts/redeemcode_added" and code is not None and code.id and code.code:
            _, code_id = _gid(code.id, "redeem_code.id")
            codes = [
                build_canonical(
                    lambda: to_canonical_code(
                        ShopifyDiscountCode(id=code_id, code=str(code.code)), store, reader._usage_limits.get(rule_id)
                    )
                )
            ]
            complete = False
        else:
            page = reader.codes(rule_id, None, limit=WEBHOOK_CODES)
            codes, complete = page.codes, page.next_cursor is None and not page.skipped
    except PlatformAuthError as error:
        raise StoreApiUnavailable(f"Shopify refused the store's access token ({error.status})") from error
    except PlatformApiError as error:
        if error.retryable:
            raise StoreApiUnavailable(f"the Shopify API is unavailable: {error}") from error
        raise BadRequest(f"Shopify refused a read for this delivery: {error}") from error
    promotion = found[0].model_copy(update={"codes": tuple(codes), "codes_complete": complete})
    return _event(store, EventType.PROMOTION_UPDATED, promotion, rule_id, read_at, event_id)


def _event(
    store: Store,
    event_type: EventType,
    entity: Promotion | PromotionRemoval,
    rule_id: str,
    at: datetime,
    event_id: Callable[[str, str], str],
) -> Normalised:
    version = version_from_timestamp(at)
    event = make_event(
        event_type=event_type,
        event_id=event_id(rule_id, version),
        store_id=store.store_id,
        platform="shopify",
        entity=entity,
        entity_id=rule_id,
        entity_version=version,
        occurred_at=at,
    )
    return Normalised(events=[event])
