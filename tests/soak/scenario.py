"""The soak's scenario: what happens on six stores (two per platform) and in which order their webhooks arrive,
as a pure function of the seed and the number of deliveries, with the ground truth Mailchimp must end up holding.

Each entity has a *story*: the successive states it goes through on its platform, each announced by one delivery
(an order created pending, paid, shipped, refunded or cancelled; a checkout whose cart the purchase converts; a
customer, a product or a coupon edited a few times). Stories are interleaved at random, then 10% of the deliveries
are swapped with the one before them in their story (a later change arrives first) and 20% are sent a second time,
later. The ground truth is computed from each story's *final* platform state with rules of our own (the
platforms' documented status meanings), never by calling the code under test.

The payloads are the e2e tests' (the platforms' published samples, through the helpers of tests/e2e), with ids,
e-mail addresses and names drawn from the seed.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emulators.bigcommerce.catalog_fixtures import sample_catalog
from tests.e2e import test_bigcommerce_orders as bigcommerce_orders
from tests.e2e import test_shopify_orders as shopify_orders
from tests.e2e import test_woocommerce_orders as woocommerce_orders
from tests.e2e.test_bigcommerce_webhooks import sample

Platform = Literal["shopify", "woocommerce", "bigcommerce"]
EntityKind = Literal["order", "cart", "customer", "product", "promotion"]
PLATFORMS: tuple[Platform, ...] = ("shopify", "woocommerce", "bigcommerce")
STORES_PER_PLATFORM = 2
# How an order's story ends; each is a prefix of the platform's lifecycle (tests/e2e/test_*_orders.py).
OrderEnding = Literal["paid", "shipped", "refunded", "cancelled"]
ORDER_ENDINGS: tuple[OrderEnding, ...] = ("paid", "shipped", "refunded", "cancelled")
# Of the lifecycle steps (created, paid, partly shipped, shipped, partly refunded, refunded), the ones each ending
# goes through. `cancelled` is created then cancelled.
LIFECYCLE_STEPS: dict[OrderEnding, tuple[int, ...]] = {
    "paid": (0, 1),
    "shipped": (0, 1, 2, 3),
    "refunded": (0, 1, 3, 4, 5),
    "cancelled": (0,),
}
# Share of stories by kind (orders dominate, as in a shop's webhook traffic); a converted checkout comes with its
# order, so "purchase" is a cart story and an order story.
STORY_WEIGHTS: dict[str, int] = {
    "order": 30,
    "purchase": 15,
    "abandoned_cart": 15,
    "customer": 15,
    "product": 15,
    "promotion": 10,
}
VERSIONS_PER_EDIT_STORY = (2, 4)
JsonDict = dict[str, Any]
# One step of a story: the topic, the delivery's body, and (BigCommerce) the store's state once it happened.
StoryStep = tuple[
    str, Mapping[str, Any], Mapping[str, Any] | None
]  # a customer, product, coupon or abandoned cart changes 2 to 4 times


class SoakSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    deliveries: int = Field(ge=30)
    seed: int = 1
    duplicate_share: float = Field(default=0.2, ge=0, le=1)
    out_of_order_share: float = Field(default=0.1, ge=0, le=0.5)


class StoreKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: Platform
    index: int

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.index}"


class Delivery(BaseModel):
    """One webhook as the platform sends it. For BigCommerce `body` is the thin delivery's `data` and
    `platform_state` what the store holds once the change happened (the consumer reads it from there)."""

    model_config = ConfigDict(frozen=True)

    number: int
    store: StoreKey
    kind: EntityKind
    entity_id: str
    step: int
    topic: str
    body: dict[str, Any]
    platform_state: dict[str, Any] | None = None


class Send(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery: int
    duplicate: bool = False
    out_of_order: bool = False


class ExpectedOrder(BaseModel):
    financial_status: str
    fulfillment_status: str | None
    order_total: Decimal
    lines: list[tuple[int, Decimal]]  # (quantity, price) of each line, sorted
    email: str


class ExpectedCart(BaseModel):
    quantities: list[int]  # sorted


class ExpectedCustomer(BaseModel):
    email: str
    first_name: str | None = None  # None: only its existence is known (a buyer's, a cart's)
    last_name: str | None = None


class StoreTruth(BaseModel):
    orders: dict[str, ExpectedOrder] = {}
    carts: dict[str, ExpectedCart] = {}
    converted_carts: list[str] = []
    customers: dict[str, ExpectedCustomer] = {}  # by lower-cased e-mail
    # Shoppers Mailchimp may hold or not: a guest whose BigCommerce cart was converted before any delivery of it was
    # read (the receiver reads the cart from the store, and a converted cart is gone: the delivery is ignored).
    optional_customers: list[str] = []
    products: dict[str, str] = {}  # id -> title
    promotions: dict[str, Decimal] = {}  # rule id -> amount as Mailchimp holds it (a fraction for a percentage)


class Scenario(BaseModel):
    settings: SoakSettings
    stores: list[StoreKey]
    deliveries: list[Delivery]
    schedule: list[Send]
    truth: dict[str, StoreTruth]  # by StoreKey.name

    def counts(self) -> dict[str, int]:
        by: dict[str, int] = {}
        for send in self.schedule:
            delivery = self.deliveries[send.delivery]
            key = f"{delivery.store.platform}/{delivery.kind}"
            by[key] = by.get(key, 0) + 1
        return dict(sorted(by.items()))


# ---- the stories ---------------------------------------------------------------------------------------------


class StoryBook:
    """Builds the stories of every store, numbering deliveries as it goes, and the truth beside them."""

    def __init__(self, rng: random.Random, stores: list[StoreKey]) -> None:
        self.rng = rng
        self.stores = stores
        self.stories: list[list[Delivery]] = []
        self.truth = {store.name: StoreTruth() for store in stores}
        self._delivery_count = 0
        self._serial = 0

    @property
    def delivery_count(self) -> int:
        return self._delivery_count

    def next_id(self) -> int:
        self._serial += 1
        return self._serial

    def email(self, store: StoreKey, role: str, serial: int) -> str:
        # Mixed case, as shoppers type them; Mailchimp holds them lower-cased.
        return f"Soak.{role}.{store.platform[:4]}{store.index}.{serial}@Example.org"

    def add(self, store: StoreKey, kind: EntityKind, entity_id: str, steps: Sequence[StoryStep]) -> None:
        story = []
        for index, (topic, body, state) in enumerate(steps):
            story.append(
                Delivery(
                    number=self._delivery_count,
                    store=store,
                    kind=kind,
                    entity_id=entity_id,
                    step=index,
                    topic=topic,
                    body=dict(body),
                    platform_state=dict(state) if state is not None else None,
                )
            )
            self._delivery_count += 1
        self.stories.append(story)

    def add_story(self, kind: str) -> None:
        store = self.rng.choice(self.stores)
        builder = {
            "shopify": ShopifyStories,
            "woocommerce": WooCommerceStories,
            "bigcommerce": BigCommerceStories,
        }[store.platform](self, store)
        if kind == "order":
            builder.order(self.rng.choice(ORDER_ENDINGS), converts_cart=False)
        elif kind == "purchase":
            builder.order(self.rng.choice(ORDER_ENDINGS[:3]), converts_cart=True)
        elif kind == "abandoned_cart":
            builder.abandoned_cart()
        elif kind == "customer":
            builder.customer()
        elif kind == "product":
            builder.product()
        else:
            builder.promotion()


def minute_stamp(minute: int) -> str:
    return f"2025-03-{14 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00"


class PlatformStories:
    def __init__(self, book: StoryBook, store: StoreKey) -> None:
        self.book = book
        self.store = store
        self.truth = book.truth[store.name]
        self.rng = book.rng

    def versions(self) -> int:
        return self.rng.randint(*VERSIONS_PER_EDIT_STORY)

    def expect_customer(self, email: str, first_name: str | None = None, last_name: str | None = None) -> None:
        key = email.lower()
        if first_name is not None or key not in self.truth.customers:
            self.truth.customers[key] = ExpectedCustomer(email=key, first_name=first_name, last_name=last_name)

    def order(self, ending: OrderEnding, converts_cart: bool) -> None:
        raise NotImplementedError

    def abandoned_cart(self) -> None:
        raise NotImplementedError

    def customer(self) -> None:
        raise NotImplementedError

    def product(self) -> None:
        raise NotImplementedError

    def promotion(self) -> None:
        raise NotImplementedError


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


class ShopifyStories(PlatformStories):
    def order(self, ending: OrderEnding, converts_cart: bool) -> None:
        serial = self.book.next_id()
        email = self.book.email(self.store, "buyer", serial)
        base = json.loads((shopify_orders.EVENTS / "shopify_order_body.json").read_text())
        order_id = 10**9 + serial
        base.update(id=order_id, email=email, contact_email=email, cart_token=f"cart{serial:08d}")
        base.update(checkout_token=f"checkout{serial:08d}")
        base["customer"].update(id=2 * 10**9 + serial, email=email)
        lifecycle = shopify_orders.lifecycle(base)
        steps = [lifecycle[index] for index in LIFECYCLE_STEPS[ending]]
        if ending == "cancelled":
            cancelled = dict(
                copy.deepcopy(steps[0][1]),
                financial_status="voided",
                cancelled_at=shopify_orders.at(3),
                updated_at=shopify_orders.at(3),
            )
            steps.append(("orders/cancelled", cancelled))
        if converts_cart:
            self.checkout(base["cart_token"], email, converted=True)
        self.book.add(self.store, "order", str(order_id), [(topic, body, None) for topic, body in steps])
        final = steps[-1][1]
        cancelled_order = final.get("cancelled_at") is not None
        refunded = sum(
            (
                money(t["amount"])
                for refund in final.get("refunds", [])
                for t in refund["transactions"]
                if t["kind"] == "refund"
            ),
            Decimal(0),
        )
        financial = {"pending": "pending", "paid": "paid", "partially_refunded": "paid", "refunded": "refunded"}
        self.truth.orders[str(order_id)] = ExpectedOrder(
            financial_status="cancelled" if cancelled_order else financial[final["financial_status"]],
            fulfillment_status="shipped" if final.get("fulfillment_status") in ("fulfilled", "partial") else None,
            order_total=Decimal(0)
            if cancelled_order or final["financial_status"] == "refunded"
            else money(final["total_price"]) - refunded,
            lines=sorted((line["quantity"], money(line["price"])) for line in final["line_items"]),
            email=email.lower(),
        )
        self.expect_customer(email)

    def checkout(self, cart_token: str, email: str, converted: bool) -> None:
        base = json.loads((shopify_orders.EVENTS / "shopify_checkout_update_body.json").read_text())
        serial = self.book.next_id()
        base.update(id=3 * 10**9 + serial, token=f"token{serial:08d}", cart_token=cart_token, email=email)
        base["customer"].update(id=4 * 10**9 + serial, email=email)
        steps = []
        for version in range(self.versions()):
            body = copy.deepcopy(base)
            body["line_items"][0]["quantity"] = 1 + version
            # Before the purchase: the order's own times are 10:00 onwards (at(minute)).
            body["updated_at"] = f"2025-03-14T09:{10 + version:02d}:00-04:00"
            steps.append(("checkouts/update", body, None))
        self.book.add(self.store, "cart", cart_token, steps)
        final = steps[-1][1]
        if converted:
            self.truth.converted_carts.append(cart_token)
        else:
            self.truth.carts[cart_token] = ExpectedCart(
                quantities=sorted(line["quantity"] for line in final["line_items"])
            )
        self.expect_customer(email)

    def abandoned_cart(self) -> None:
        serial = self.book.next_id()
        self.checkout(f"cart{serial:08d}", self.book.email(self.store, "shopper", serial), converted=False)

    def customer(self) -> None:
        serial = self.book.next_id()
        email = self.book.email(self.store, "customer", serial)
        base = json.loads((shopify_orders.EVENTS / "shopify_customer_update_body.json").read_text())
        base.update(id=5 * 10**9 + serial, email=email)
        steps = []
        for version in range(self.versions()):
            body = dict(
                copy.deepcopy(base), first_name=f"Zoë{version}", updated_at=f"2025-03-14T10:{version:02d}:00+01:00"
            )
            steps.append(("customers/update", body, None))
        self.book.add(self.store, "customer", str(base["id"]), steps)
        final = steps[-1][1]
        self.expect_customer(email, final["first_name"], final["last_name"])

    def product(self) -> None:
        serial = self.book.next_id()
        base = json.loads((shopify_orders.EVENTS / "shopify_product_update_body.json").read_text())
        product_id = 6 * 10**9 + serial
        base["id"] = product_id
        for position, variant in enumerate(base["variants"]):
            variant.update(id=product_id * 10 + position, product_id=product_id)
        for image in base.get("images", []):
            image["product_id"] = product_id
        if isinstance(base.get("image"), dict):
            base["image"]["product_id"] = product_id
        steps = []
        for version in range(self.versions()):
            body = dict(
                copy.deepcopy(base),
                title=f"Trail Running Socks v{version}",
                updated_at=f"2025-03-14T09:{version:02d}:00-04:00",
            )
            steps.append(("products/update", body, None))
        self.book.add(self.store, "product", str(product_id), steps)
        self.truth.products[str(product_id)] = steps[-1][1]["title"]

    def promotion(self) -> None:
        # Shopify's discounts/* webhooks carry no rule: it is read from the shop's Admin API (covered by the
        # WooCommerce coupons here, which carry it, and by tests/e2e/test_promotion_webhooks.py for Shopify).
        WooCommerceStories(
            self.book, self.book.rng.choice([s for s in self.book.stores if s.platform == "woocommerce"])
        ).promotion()


class WooCommerceStories(PlatformStories):
    def order(self, ending: OrderEnding, converts_cart: bool) -> None:
        # WooCommerce carts reach commerce-sync through the canonical format (docs/woocommerce.md): the conversion is
        # the other platforms'.
        serial = self.book.next_id()
        email = self.book.email(self.store, "buyer", serial)
        base = woocommerce_orders.new_order(id=10**8 + serial, customer_id=10**7 + serial)
        base["billing"] = dict(base["billing"], email=email)
        lifecycle = woocommerce_orders.lifecycle(base)
        steps = [lifecycle[index] for index in LIFECYCLE_STEPS[ending]]
        if ending == "cancelled":
            steps.append(
                (
                    "order.updated",
                    dict(copy.deepcopy(steps[0][1]), status="cancelled", date_modified_gmt=woocommerce_orders.at(3)),
                )
            )
        self.book.add(self.store, "order", str(base["id"]), [(topic, body, None) for topic, body in steps])
        final = steps[-1][1]
        status = final["status"]
        refunded = sum((-money(refund["total"]) for refund in final.get("refunds", [])), Decimal(0))
        shipped = status == "completed" or any(m["key"] == "_wc_shipment_tracking_items" for m in final["meta_data"])
        financial = {"pending": "pending", "processing": "paid", "completed": "paid", "refunded": "refunded"}
        self.truth.orders[str(base["id"])] = ExpectedOrder(
            financial_status="cancelled" if status == "cancelled" else financial[status],
            fulfillment_status="shipped" if shipped else None,
            order_total=Decimal(0) if status in ("cancelled", "refunded") else money(final["total"]) - refunded,
            # docs/line-items.md: a WooCommerce line's price is its subtotal / quantity (before the discount).
            lines=sorted(
                (line["quantity"], money(Decimal(line["subtotal"]) / line["quantity"])) for line in final["line_items"]
            ),
            email=email.lower(),
        )
        self.expect_customer(email)

    def abandoned_cart(self) -> None:
        self.order(self.rng.choice(ORDER_ENDINGS), converts_cart=False)

    def customer(self) -> None:
        serial = self.book.next_id()
        email = self.book.email(self.store, "customer", serial)
        base = json.loads((woocommerce_orders.EVENTS / "woocommerce_customer_created.json").read_text())
        base.update(id=10**7 + serial, email=email)
        base["billing"] = dict(base.get("billing") or {}, email=email)
        steps = []
        for version in range(self.versions()):
            body = dict(
                copy.deepcopy(base), first_name=f"Zoë{version}", date_modified_gmt=f"2025-03-14T13:{version:02d}:00"
            )
            steps.append(("customer.updated", body, None))
        self.book.add(self.store, "customer", str(base["id"]), steps)
        final = steps[-1][1]
        self.expect_customer(email, final["first_name"], final["last_name"])

    def product(self) -> None:
        serial = self.book.next_id()
        base = dict(sample("woocommerce_product_updated.json"), id=10**6 + serial, type="simple", variations=[])
        steps = []
        for version in range(self.versions()):
            body = dict(
                copy.deepcopy(base), name=f"Hoodie v{version}", date_modified_gmt=f"2025-03-14T13:{version:02d}:00"
            )
            steps.append(("product.updated", body, None))
        self.book.add(self.store, "product", str(base["id"]), steps)
        self.truth.products[str(base["id"])] = steps[-1][1]["name"]

    def promotion(self) -> None:
        serial = self.book.next_id()
        coupon_id = 10**5 + serial
        steps: list[StoryStep] = []
        amount = 0
        for version in range(self.versions()):
            amount = 5 + 5 * version
            body = {
                "id": coupon_id,
                "code": f"soak{serial}",
                "amount": f"{amount}.00",
                "status": "publish",
                "date_created_gmt": "2025-03-13T10:00:00",
                "date_modified_gmt": f"2025-03-14T10:{version:02d}:00",
                "discount_type": "percent",
                "description": "Soak sale",
                "date_expires_gmt": None,
                "usage_count": 0,
                "usage_limit": None,
                "free_shipping": False,
                "product_ids": [],
                "product_categories": [],
            }
            steps.append(("coupon.updated", body, None))
        self.book.add(self.store, "promotion", str(coupon_id), steps)
        # Mailchimp holds a percentage as a fraction (docs/promotions.md); the last version's.
        self.truth.promotions[str(coupon_id)] = Decimal(amount) / 100


class BigCommerceStories(PlatformStories):
    """Thin deliveries: the consumer reads the entity from the store, so each step carries the state to put on the
    BigCommerce emulator before its delivery is sent."""

    def order(self, ending: OrderEnding, converts_cart: bool) -> None:
        serial = self.book.next_id()
        order_id = 10**5 + serial
        lifecycle = bigcommerce_orders.lifecycle(order_id)
        chosen = [lifecycle[index] for index in LIFECYCLE_STEPS[ending]]
        if ending == "cancelled":
            created = chosen[0]
            cancelled = dict(created.order, status_id=5, status="Cancelled", date_modified=bigcommerce_orders.at(3))
            chosen.append(bigcommerce_orders.Step(cancelled, [], [], "store/order/statusUpdated", created.data))
        steps = []
        for step in chosen:
            state = {"order": step.order, "shipments": step.shipments, "refunds": step.refunds}
            steps.append((step.scope, step.data, state))
        if converts_cart:
            self.cart(converted_by=order_id)
        self.book.add(self.store, "order", str(order_id), steps)
        final = chosen[-1].order
        status_id = int(final["status_id"])
        products = sample("bigcommerce_order_products.json")
        financial = {1: "pending", 11: "paid", 3: "paid", 2: "paid", 14: "paid", 4: "refunded", 5: "cancelled"}
        self.truth.orders[str(order_id)] = ExpectedOrder(
            financial_status=financial[status_id],
            fulfillment_status="shipped" if chosen[-1].shipments else None,
            order_total=Decimal(0)
            if status_id in (4, 5)
            else money(final["total_inc_tax"]) - money(final.get("refunded_amount") or 0),
            lines=sorted((line["quantity"], money(line["price_inc_tax"])) for line in products),
            email=final["billing_address"]["email"].lower(),
        )
        self.expect_customer(final["billing_address"]["email"])

    def cart(self, converted_by: int | None) -> None:
        serial = self.book.next_id()
        cart_id = f"00000000-0000-4000-8000-{serial:012d}"
        base = sample("bigcommerce_cart.json")["data"]
        del base["redirect_urls"]
        # A guest shopper of their own: every order here is the sample customer's, and an order ends its shopper's
        # carts (docs/carts-and-customers.md), which would end an abandoned cart of theirs too.
        base.update(id=cart_id, customer_id=0, email=self.book.email(self.store, "shopper", serial))
        steps: list[StoryStep] = []
        for version in range(self.versions()):
            cart = copy.deepcopy(base)
            cart["line_items"]["physical_items"][0]["quantity"] = 1 + version
            cart["updated_time"] = f"2025-03-14T09:{10 + version:02d}:00+00:00"
            steps.append(("store/cart/updated", {"type": "cart", "id": cart_id}, {"cart": cart}))
        if converted_by is not None:
            # The purchase ends the cart on BigCommerce: reading it answers 404 from then on.
            steps.append(
                ("store/cart/converted", {"type": "cart", "id": cart_id, "orderId": converted_by}, {"cart": None})
            )
            self.truth.converted_carts.append(cart_id)
        else:
            final = steps[-1][2]["cart"]  # type: ignore[index]
            items = final["line_items"]
            quantities = [
                item["quantity"]
                for group in ("physical_items", "digital_items", "custom_items")
                for item in items[group]
            ]
            self.truth.carts[cart_id] = ExpectedCart(quantities=sorted(quantities))
        self.book.add(self.store, "cart", cart_id, steps)
        if converted_by is None:
            self.expect_customer(base["email"])
        else:
            self.truth.optional_customers.append(base["email"].lower())

    def abandoned_cart(self) -> None:
        self.cart(converted_by=None)

    def customer(self) -> None:
        serial = self.book.next_id()
        email = self.book.email(self.store, "customer", serial)
        base = dict(sample("bigcommerce_customer.json")["data"][0], id=10**5 + serial, email=email)
        steps = []
        for version in range(self.versions()):
            customer = dict(
                copy.deepcopy(base), first_name=f"Zoë{version}", date_modified=f"2025-03-14T13:{version:02d}:00Z"
            )
            steps.append(("store/customer/updated", {"type": "customer", "id": base["id"]}, {"customer": customer}))
        self.book.add(self.store, "customer", str(base["id"]), steps)
        self.expect_customer(email, customer["first_name"], customer["last_name"])  # the last version's

    def product(self) -> None:
        serial = self.book.next_id()
        product_id = 10**5 + serial
        base = copy.deepcopy(sample_catalog()[0])
        base["id"] = product_id
        for position, variant in enumerate(base.get("variants", [])):
            variant.update(id=product_id * 10 + position, product_id=product_id)
        for image in base.get("images", []):
            image["product_id"] = product_id
        steps = []
        for version in range(self.versions()):
            product = dict(
                copy.deepcopy(base),
                name=f"Canvas Tote v{version}",
                date_modified=f"2025-03-14T10:{version:02d}:00+00:00",
            )
            steps.append(("store/product/updated", {"type": "product", "id": product_id}, {"product": product}))
        self.book.add(self.store, "product", str(product_id), steps)
        self.truth.products[str(product_id)] = product["name"]  # the last version's

    def promotion(self) -> None:
        WooCommerceStories(
            self.book, self.book.rng.choice([s for s in self.book.stores if s.platform == "woocommerce"])
        ).promotion()


# ---- the schedule ----------------------------------------------------------------------------------------------


def build(settings: SoakSettings) -> Scenario:
    """The scenario of `settings`: the same seed and size give the same deliveries, schedule and truth."""
    rng = random.Random(settings.seed)
    stores = [
        StoreKey(platform=platform, index=index) for platform in PLATFORMS for index in range(STORES_PER_PLATFORM)
    ]
    book = StoryBook(rng, stores)
    # Unique deliveries: the duplicates make up the rest of the total.
    unique = max(1, round(settings.deliveries / (1 + settings.duplicate_share)))
    kinds = list(STORY_WEIGHTS)
    weights = [STORY_WEIGHTS[kind] for kind in kinds]
    while book.delivery_count < unique:
        book.add_story(rng.choices(kinds, weights)[0])
    deliveries = [delivery for story in book.stories for delivery in story]
    deliveries.sort(key=lambda delivery: delivery.number)

    # Interleave: repeatedly the next delivery of a story picked at random (a story's own order is kept).
    cursors = dict.fromkeys(range(len(book.stories)), 0)
    order: list[int] = []
    while cursors:
        story = rng.choice(list(cursors))
        order.append(book.stories[story][cursors[story]].number)
        cursors[story] += 1
        if cursors[story] == len(book.stories[story]):
            del cursors[story]

    # Out of order: a later change of the entity overtakes the change before it.
    position = {number: index for index, number in enumerate(order)}
    overtaking: set[int] = set()
    swapped: set[int] = set()
    candidates = [d for d in deliveries if d.step > 0]
    rng.shuffle(candidates)
    wanted = round(settings.out_of_order_share * len(deliveries))
    for delivery in candidates:
        if len(overtaking) >= wanted:
            break
        earlier = delivery.number - 1  # the story's previous step (stories are numbered consecutively)
        # Each delivery takes part in one swap at most: a second would undo or blur the first.
        if delivery.number in swapped or earlier in swapped:
            continue
        here, there = position[delivery.number], position[earlier]
        order[here], order[there] = order[there], order[here]
        position[delivery.number], position[earlier] = there, here
        overtaking.add(delivery.number)
        swapped.update((delivery.number, earlier))

    schedule = [Send(delivery=number, out_of_order=number in overtaking) for number in order]
    # Duplicates: the same delivery again, some time after the first.
    for number in rng.sample(range(len(deliveries)), settings.deliveries - len(deliveries)):
        first = next(index for index, send in enumerate(schedule) if send.delivery == number)
        later = rng.randint(first + 1, len(schedule))
        schedule.insert(later, Send(delivery=number, duplicate=True))
    return Scenario(
        settings=settings,
        stores=stores,
        deliveries=deliveries,
        schedule=schedule,
        truth=book.truth,
    )
