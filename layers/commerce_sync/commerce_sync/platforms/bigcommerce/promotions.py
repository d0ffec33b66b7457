"""BigCommerce coupons and coupon promotions: the v2 coupon and v3 promotion resources, their mapping, the reader.

A store has two kinds (docs/promotions.md, "BigCommerce"):
- **v2 coupons** (`GET /v2/coupons?limit=250&min_id=N&exclude_type=promotion`, by id as BigCommerce advises for
  large sets; an empty page is a 204): a coupon is a rule and its one code, so each becomes a promo rule and a
  promo code of the coupon's id. `per_item_discount` → fixed `per_item`; `percentage_discount` → percentage,
  on the `total` when it applies to every category (`applies_to {entity: categories, ids: [0]}`), else
  `per_item`; `per_total_discount` → fixed `total`; `shipping_discount` → fixed on `shipping`;
  `free_shipping` → fixed 0 on shipping. `type=promotion` coupons are v3 promotions' codes seen through v2,
  without usable amounts: they are read with their promotion instead.
- **v3 promotions that need a code** (`GET /v3/promotions?redemption_type=coupon&limit=250&page=N`; their codes
  `GET /v3/promotions/{id}/codes?limit=250&after=<cursor>`): rule ids are `promotion-<id>`, so they never meet
  a v2 coupon's. One rule whose action is `cart_value` (→ `total`), `cart_items` (→ `per_item`, or `total`
  with `as_total`) with a `percentage_amount` or `fixed_amount`, or `shipping` (free shipping) is mapped; a
  minimum spend in its condition is not a kind of its own (the discount is sent). Several rules (tiers), item
  conditions (buy X get Y), gifts and fixed-price sets are left out with the reason.
A coupon is disabled when BigCommerce says so (`enabled: false`, a promotion not `ENABLED`) or when used up
(`max_uses`, 0 meaning no limit). The redemption URL is the storefront's cart page, `/cart.php`, where the
shopper enters the code: BigCommerce has no address that applies one.

BigCommerce sends no webhook when a coupon or promotion changes (only `store/cart/couponApplied`), so these
are kept by the nightly sync alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, BeforeValidator, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Promotion, PromotionCode
from commerce_sync.platforms.bigcommerce.api import MAX_LIMIT, access_token, api_root, auth_headers
from commerce_sync.platforms.bigcommerce.catalog import storefront
from commerce_sync.platforms.http import (
    CATALOG_HTTP_POLICY,
    HttpPolicy,
    PlatformNotFound,
    fetch_json,
    platform_session,
)
from commerce_sync.platforms.promotions import (
    CodePage,
    PromotionPage,
    PromotionsUnavailable,
    Unexpressible,
    build_each,
    percent_fraction,
)

COUPONS = "coupons"
PROMOTIONS = "promotions"
PROMOTION_PREFIX = "promotion-"
CART_PAGE = "/cart.php"


def _rfc2822(value: Any) -> Any:
    """v2 dates are RFC 2822 ("Tue, 13 Mar 2018 16:18:59 +0000"); an unset one is ""."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value
    return value


V2Time = Annotated[datetime | None, BeforeValidator(_rfc2822)]


class BcModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class BcAppliesTo(BcModel):
    entity: str | None = None
    ids: list[str] = []


class BcCoupon(BcModel):
    id: str
    name: str | None = None
    type: str
    amount: Decimal = Decimal(0)
    expires: V2Time = None
    enabled: bool = True
    code: str
    applies_to: BcAppliesTo | None = None
    num_uses: int = 0
    max_uses: int = 0
    date_created: V2Time = None

    @property
    def usable(self) -> bool:
        return self.enabled and not (self.max_uses and self.num_uses >= self.max_uses)


class BcPromotion(BcModel):
    id: str
    name: str | None = None
    display_name: str | None = None
    redemption_type: str | None = None
    rules: list[dict[str, Any]] = []
    status: str = "ENABLED"
    start_date: datetime | None = None
    end_date: datetime | None = None
    currency_code: str | None = None


class BcPromotionCode(BcModel):
    id: str
    code: str
    current_uses: int = 0
    max_uses: int = 0
    created: datetime | None = None


def cart_page(store: Store) -> str:
    return storefront(store) + CART_PAGE


def _coupon_kind(coupon: BcCoupon) -> dict[str, Any]:
    amount = coupon.amount.copy_abs()
    if coupon.type == "per_item_discount":
        return {"type": "fixed", "amount": amount, "target": "per_item"}
    if coupon.type == "percentage_discount":
        applies = coupon.applies_to
        everything = applies is not None and applies.entity == "categories" and applies.ids == ["0"]
        return {
            "type": "percentage",
            "amount": percent_fraction(amount),
            "target": "total" if everything else "per_item",
        }
    if coupon.type == "per_total_discount":
        return {"type": "fixed", "amount": amount, "target": "total"}
    if coupon.type == "shipping_discount":
        return {"type": "fixed", "amount": amount, "target": "shipping"}
    if coupon.type == "free_shipping":
        return {"type": "fixed", "amount": "0", "target": "shipping"}
    raise Unexpressible(f"coupon type {coupon.type!r} has no Mailchimp promo rule kind")


def coupon_to_promotion(coupon: BcCoupon, store: Store) -> Promotion:
    code = PromotionCode(
        id=coupon.id,
        code=coupon.code,
        redemption_url=cart_page(store),
        usage_count=max(coupon.num_uses, 0),
        enabled=coupon.usable,
        created_at=coupon.date_created,
    )
    return Promotion.model_validate(
        {
            "id": coupon.id,
            "title": coupon.name,
            **_coupon_kind(coupon),
            "currency_code": store.currency_code,
            "ends_at": coupon.expires,
            "enabled": coupon.usable,
            "codes": (code,),
            "codes_complete": True,
            "created_at": coupon.date_created,
        }
    )


def _discount(discount: Any) -> dict[str, Any]:
    if isinstance(discount, dict) and discount.get("percentage_amount") is not None:
        return {"type": "percentage", "amount": percent_fraction(discount["percentage_amount"])}
    if isinstance(discount, dict) and discount.get("fixed_amount") is not None:
        return {"type": "fixed", "amount": Decimal(str(discount["fixed_amount"])).copy_abs()}
    raise Unexpressible("a discount that is neither a percentage nor a fixed amount")


def _promotion_kind(promotion: BcPromotion) -> dict[str, Any]:
    if len(promotion.rules) != 1:
        raise Unexpressible(f"{len(promotion.rules)} rules (tiers): a Mailchimp promo rule has one amount")
    rule = promotion.rules[0]
    condition = rule.get("condition") or {}
    cart = condition.get("cart") if isinstance(condition, dict) else None
    if "and" in condition or (isinstance(cart, dict) and cart.get("items")):
        raise Unexpressible("a condition on the items bought (buy X get Y): Mailchimp's promo rules have none")
    action = rule.get("action") or {}
    if "cart_value" in action:
        return {**_discount(action["cart_value"].get("discount")), "target": "total"}
    if "cart_items" in action:
        items = action["cart_items"]
        if items.get("add_free_item"):
            raise Unexpressible("a free item added to the cart: Mailchimp's promo rules have no such kind")
        return {**_discount(items.get("discount")), "target": "total" if items.get("as_total") else "per_item"}
    if "shipping" in action:
        return {"type": "fixed", "amount": "0", "target": "shipping"}
    kinds = ", ".join(sorted(action)) or "none"
    raise Unexpressible(f"action {kinds}: Mailchimp's promo rules cannot state it (a gift or a fixed-price set)")


def promotion_to_promotion(promotion: BcPromotion, store: Store) -> Promotion:
    """A coupon promotion without its codes (read a page at a time)."""
    currency = promotion.currency_code if promotion.currency_code not in (None, "", "*") else store.currency_code
    return Promotion.model_validate(
        {
            "id": PROMOTION_PREFIX + promotion.id,
            "title": promotion.display_name or promotion.name,
            **_promotion_kind(promotion),
            "currency_code": currency,
            "starts_at": promotion.start_date,
            "ends_at": promotion.end_date,
            "enabled": promotion.status == "ENABLED",
        }
    )


def code_to_code(code: BcPromotionCode, store: Store) -> PromotionCode:
    return PromotionCode(
        id=code.id,
        code=code.code,
        redemption_url=cart_page(store),
        usage_count=max(code.current_uses, 0),
        enabled=not (code.max_uses and code.current_uses >= code.max_uses),
        created_at=code.created,
    )


def _raw_id(item: Any) -> str:
    return str(item.get("id", "?")) if isinstance(item, dict) else "?"


class BigCommercePromotions:
    platform = "bigcommerce"

    def __init__(self, store: Store, api_root: str, access_token: str, session: requests.Session) -> None:
        self._store = store
        self._root = api_root.rstrip("/")
        self._headers = auth_headers(access_token)
        self._session = session

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> BigCommercePromotions:
        token = access_token(credentials)
        if not token:
            raise PromotionsUnavailable(
                f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token)"
            )
        return cls(store, api_root(store), token, session or platform_session(policy))

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        body, _ = fetch_json(self._session, f"{self._root}{path}", params, self._headers)
        return body

    def _coupons(self, raw: Sequence[Any]) -> tuple[list[Promotion], list[tuple[str, str]]]:
        parsed, unparsed = build_each(raw, _raw_id, BcCoupon.model_validate)
        built, skipped = build_each(parsed, lambda coupon: coupon.id, partial(coupon_to_promotion, store=self._store))
        return built, unparsed + skipped

    def _promotions(self, raw: Sequence[Any]) -> tuple[list[Promotion], list[tuple[str, str]]]:
        parsed, unparsed = build_each(raw, _raw_id, BcPromotion.model_validate)
        built, skipped = build_each(
            parsed, lambda item: PROMOTION_PREFIX + item.id, partial(promotion_to_promotion, store=self._store)
        )
        return built, unparsed + skipped

    def page(self, cursor: str | None) -> PromotionPage:
        """v2 coupons by id first (cursor `coupons:<min id>`), then coupon promotions (`promotions:<page>`)."""
        kind, _, position = (cursor or f"{COUPONS}:1").partition(":")
        if kind == COUPONS:
            params = {"limit": MAX_LIMIT, "min_id": int(position or 1), "exclude_type": "promotion"}
            raw = self._get("/v2/coupons", params)
            items = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
            promotions, skipped = self._coupons(items)
            if len(items) >= MAX_LIMIT:
                last = max(int(str(item.get("id", 0))) for item in items)
                return PromotionPage(promotions, f"{COUPONS}:{last + 1}", skipped)
            return PromotionPage(promotions, f"{PROMOTIONS}:1", skipped)
        number = int(position or 1)
        params = {"redemption_type": "coupon", "limit": MAX_LIMIT, "page": number, "sort": "id", "direction": "asc"}
        body = self._get("/v3/promotions", params)
        data = body.get("data", []) if isinstance(body, dict) else []
        pagination = ((body.get("meta") or {}).get("pagination") or {}) if isinstance(body, dict) else {}
        promotions, skipped = self._promotions(data)
        more = number < int(pagination.get("total_pages") or 0)
        return PromotionPage(promotions, f"{PROMOTIONS}:{number + 1}" if more else None, skipped)

    def codes(self, promotion_id: str, cursor: str | None) -> CodePage:
        if not promotion_id.startswith(PROMOTION_PREFIX):
            return CodePage([], None)  # a v2 coupon comes with its code
        params: dict[str, Any] = {"limit": MAX_LIMIT}
        if cursor:
            params["after"] = cursor
        path = f"/v3/promotions/{quote(promotion_id.removeprefix(PROMOTION_PREFIX), safe='')}/codes"
        body = self._get(path, params)
        data = body.get("data", []) if isinstance(body, dict) else []
        paging = ((body.get("meta") or {}).get("cursor_pagination") or {}) if isinstance(body, dict) else {}
        parsed, unparsed = build_each(data, _raw_id, BcPromotionCode.model_validate)
        codes, skipped = build_each(parsed, lambda code: code.id, partial(code_to_code, store=self._store))
        following = paging.get("end_cursor") if (paging.get("links") or {}).get("next") else None
        return CodePage(codes, str(following) if following else None, unparsed + skipped)

    def promotions_by_id(self, ids: Sequence[str]) -> list[Promotion]:
        coupons = [i for i in ids if i.isascii() and i.isdigit()]
        promoted = [
            i.removeprefix(PROMOTION_PREFIX)
            for i in ids
            if i.startswith(PROMOTION_PREFIX) and i[len(PROMOTION_PREFIX) :].isdigit()
        ]
        found: list[Promotion] = []
        for coupon_id in coupons:
            raw = self._get("/v2/coupons", {"id": coupon_id, "exclude_type": "promotion"})
            found.extend(self._coupons([item for item in raw or [] if isinstance(item, dict)])[0])
        for promotion_id in promoted:
            try:
                body = self._get("/v3/promotions", {"id": promotion_id, "redemption_type": "coupon"})
            except PlatformNotFound:
                continue
            found.extend(self._promotions(body.get("data", []) if isinstance(body, dict) else [])[0])
        return found
