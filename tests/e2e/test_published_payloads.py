"""Every published payload in `../shared/fixtures/platform-payloads/` (issue 23), delivered through the local
runner as its platform sends it, then what Mailchimp holds compared field by field with what the payload
determines. The files are Shopify's own webhook examples and shopify-api-ruby's fixtures, the example
bodies of WooCommerce's REST API docs and BigCommerce's webhook and resource examples, kept byte for byte
as published; `SOURCES.md` there names each one and the topics it is delivered as.

The files are read there at run time, never copied here. The module is skipped only when that folder is
absent (a lone clone); with it present, every file is delivered (the guard tests fail on a file, or a
topic SOURCES.md lists, that no test delivers). Each delivery ends in a Mailchimp write with the fields
its payload determines, or in a deliberate skip whose reason is asserted (a cart without an e-mail, a
fulfillment that has not shipped), never in a dead letter; none is refused any more
(docs/published-payloads.md lists the outcome of each).

Adaptations, made at run time only (SOURCES.md's list):
- Shopify's REST fixtures are wrapped: the webhook body is the inner `order`, `checkout`, `refund`,
  `customer`. A file delivered as it is goes out as its own bytes.
- WooCommerce's "List all orders" example is a list: the body is its element 1 (order 723).
- BigCommerce's webhooks are thin: `producer` names the registered store's hash, and the resources they
  point to are loaded into the BigCommerce emulator from the docs' OpenAPI examples (found by their names
  in the YAML) under the webhook's ids. Those examples were written for other ids (order 218, products of
  order 149, a customer without `id`): each is served as the resource of the id the webhook names.
- Stores are registered per test (the runner is shared per xdist worker) with identities of their own, in
  USD like the payloads. No payload id needs changing for isolation; the one id adapted is said where it is.
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID
from commerce_sync.platforms.lines import custom_item_variant_id
from commerce_sync.platforms.signatures import sign_base64_hmac, sign_standard_webhook
from commerce_sync.processing.outcomes import SKIP_REASONS

from emulators.bigcommerce import BigCommerceEmulator
from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store
from tests.paths import SHARED

PAYLOADS = SHARED / "fixtures" / "platform-payloads"
pytestmark = pytest.mark.skipif(not PAYLOADS.is_dir(), reason=f"{PAYLOADS} is absent (a clone without shared/)")

TIMEOUT = (3.05, 30)
BC_TOKEN = "bc-published-payloads-token"
ORDERS_YML = "bigcommerce_api/orders.v2.oas2.yml.components-responses.L1462-2858.yml"
CARTS_YML = "bigcommerce_api/carts.v3.yml.deleteCartLineItem-200-example.L487-552.yml"
CUSTOMERS_YML = "bigcommerce_api/customers.v3.yml.GetCustomerCollectionResponse-example.L2357-2409.yml"
# Every file some test below delivers (or serves, for BigCommerce's API resources), with the topics it
# is delivered as: what the guard tests compare with the folder and with SOURCES.md.
DELIVERED: dict[str, set[str]] = {}


def delivers(name: str, *topics: str) -> str:
    DELIVERED.setdefault(name, set()).update(topics)
    return name


def raw_file(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw_file(name))


def money(value: Any) -> float:
    return float(Decimal(str(value)))


# ----- what a delivery became ------------------------------------------------------------------------------


def log_records(logs: io.StringIO) -> list[dict[str, Any]]:
    records = []
    for line in logs.getvalue().splitlines():
        start = line.find("{")
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def outcomes_of(logs: io.StringIO, response: requests.Response, since: int = 0) -> list[dict[str, Any]]:
    """The outcome line each event the delivery published ended in (one per event: nothing vanished);
    `since`: where in the logs this delivery's lines start (a redelivered event id has lines before)."""
    assert response.status_code == 202, response.text
    event_ids = response.json()["event_ids"]
    records = log_records(io.StringIO(logs.getvalue()[since:]))
    found = []
    for event_id in event_ids:
        lines = [r for r in records if r.get("event_id") == event_id and "outcome" in r]
        assert len(lines) == 1, f"{event_id} ended in {len(lines)} outcomes: {lines}"
        found.append(lines[0])
    return found


def outcome(logs: io.StringIO, response: requests.Response, since: int = 0) -> str:
    [line] = outcomes_of(logs, response, since)
    return str(line["outcome"])


@pytest.fixture
def no_dead_letter(
    runner: LocalRunner, captured_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Yields a list the test adds its store ids to; afterwards, no queue holds a dead letter of theirs and
    no function logged one: a well-formed real payload never ends there."""
    stores: list[str] = []
    yield stores
    runner.wait_until_idle(timeout=60)
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    for store_id in stores:
        for function in dead_letters.FUNCTIONS:
            kept = [letter for letter in dead_letters.peek(function, limit=1000) if store_id in letter.body]
            assert not kept, f"{function} dead-lettered {[letter.error_message for letter in kept]}"
        logged = [
            r for r in log_records(captured_logs) if r.get("message") == "record dead-lettered" and store_id in str(r)
        ]
        assert not logged, logged


# ----- what Mailchimp should hold, computed from the payload -----------------------------------------------


Line = tuple[str, str, str, int, float]


@dataclass
class Expected:
    """A Mailchimp cart or order as the payload determines it."""

    id: str
    currency_code: str
    total: float
    email: str
    lines: list[Line]
    first_name: str | None = None
    last_name: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    campaign_id: str | None = None
    tracking_number: str | None = None
    tracking_carrier: str | None = None
    checkout_url: str | None = None


def distinct_line_ids(ids: Iterable[str]) -> list[str]:
    """Mailchimp addresses a line by its id: a platform's repeated id gets -2, -3… (docs/line-items.md)."""
    seen: dict[str, int] = {}
    distinct = []
    for line_id in ids:
        seen[line_id] = seen.get(line_id, 0) + 1
        distinct.append(line_id if seen[line_id] == 1 else f"{line_id}-{seen[line_id]}")
    return distinct


def present(value: Any) -> str | None:
    """A platform id, or None for what names nothing (null, 0, "", absent)."""
    return None if value in (None, 0, "0", "") else str(value)


def catalog_or_custom(product_id: Any, variant_id: Any, title: str, sku: str | None) -> tuple[str, str]:
    """The product and variant of a line by the line rule (docs/line-items.md): no variant → the product's
    id; no product → a variant of the store's custom-items product, named by SKU and title."""
    product = present(product_id)
    if product is None:
        return CUSTOM_ITEMS_PRODUCT_ID, custom_item_variant_id(title, sku)
    return product, present(variant_id) or product


def campaign_in(url: str | None) -> str | None:
    """Mailchimp's campaign id in a landing URL (`mc_cid`), the only source these payloads have."""
    values = parse_qs(urlsplit(url).query).get("mc_cid") if url else None
    return values[0] if values else None


def mailchimp_lines(held: dict[str, Any]) -> list[Line]:
    return sorted(
        (line["id"], line["product_id"], line["product_variant_id"], line["quantity"], line["price"])
        for line in held["lines"]
    )


def assert_holds(reader: MailchimpReader, store_id: str, kind: str, expected: Expected) -> dict[str, Any]:
    """The cart or order Mailchimp holds, field by field, and its shopper (a customer is an address)."""
    held = reader.resource(f"/ecommerce/stores/{store_id}/{kind}/{expected.id}")
    assert held is not None, f"Mailchimp holds no {kind[:-1]} {expected.id}"
    assert held["currency_code"] == expected.currency_code
    assert held["order_total"] == expected.total
    assert mailchimp_lines(held) == sorted(expected.lines)
    assert held["customer"]["id"] == mailchimp_customer_id(expected.email)
    assert held["customer"]["email_address"] == expected.email
    assert held.get("campaign_id") == expected.campaign_id
    if kind == "orders":
        assert held["financial_status"] == expected.financial_status
        assert held.get("fulfillment_status") == expected.fulfillment_status
        assert held.get("tracking_number") == expected.tracking_number
        assert held.get("tracking_carrier") == expected.tracking_carrier
    if kind == "carts":
        assert held.get("checkout_url") == expected.checkout_url
    customer = reader.resource(f"/ecommerce/stores/{store_id}/customers/{mailchimp_customer_id(expected.email)}")
    assert customer is not None and customer["email_address"] == expected.email
    if expected.first_name or expected.last_name:
        assert (customer.get("first_name"), customer.get("last_name")) == (expected.first_name, expected.last_name)
    return held


def assert_customer(
    reader: MailchimpReader, store_id: str, email: str, first: str | None, last: str | None, **fields: Any
) -> None:
    held = reader.resource(f"/ecommerce/stores/{store_id}/customers/{mailchimp_customer_id(email)}")
    assert held is not None, f"Mailchimp holds no customer for {email}"
    assert held["email_address"] == email.strip().lower()
    assert (held.get("first_name"), held.get("last_name")) == (first, last)
    for name, value in fields.items():
        assert held.get(name) == value, name


def assert_product(
    reader: MailchimpReader, store_id: str, product_id: str, title: str, variants: list[tuple[str, str, Any]]
) -> None:
    """`variants`: (id, title, price or None when the payload sets none)."""
    held = reader.resource(f"/ecommerce/stores/{store_id}/products/{product_id}")
    assert held is not None, f"Mailchimp holds no product {product_id}"
    assert held["title"] == title
    assert sorted((v["id"], v["title"], v.get("price")) for v in held["variants"]) == sorted(variants)


# ----- Shopify ---------------------------------------------------------------------------------------------

# docs/order-status.md: Shopify's financial_status, and fulfillment_status for shipping.
SHOPIFY_FINANCIAL = {
    "pending": "pending",
    "authorized": "pending",
    "paid": "paid",
    "partially_paid": "paid",
    "partially_refunded": "paid",
    "refunded": "refunded",
    "voided": "cancelled",
}
SHOPIFY_SHIPPED = {"partial", "fulfilled", "shipped"}


def shopify_body(name: str, wrapper: str | None) -> bytes:
    """The webhook body: the file's own bytes, or the REST fixture's inner object."""
    return raw_file(name) if wrapper is None else json.dumps(load(name)[wrapper]).encode()


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: bytes) -> requests.Response:
    return send_shopify(runner.url, store.webhook_secret, topic, store.identity, body)


def refunded(refunds: Iterable[dict[str, Any]]) -> Decimal:
    """Money that went back: a refund's successful refund transactions (its line items say what was
    returned, which may be more than was paid back, as on a voided order)."""
    return sum(
        (
            Decimal(t["amount"])
            for refund in refunds
            for t in refund.get("transactions") or []
            if t.get("kind") == "refund" and t.get("status") in (None, "success")
        ),
        Decimal(0),
    )


def settled(status: str, total: Decimal, refunds: Decimal) -> tuple[str, float]:
    """Mailchimp's status and revenue after refunds and cancellations (docs/order-status.md, "Refunds and
    cancellations"): cancelled and refunded orders count 0; a partial refund lowers the total."""
    if status == "cancelled" or status == "refunded" or (refunds > 0 and refunds >= total):
        return ("cancelled" if status == "cancelled" else "refunded"), 0.0
    return status, float(total - refunds)


def expected_shopify_order(order: dict[str, Any], *more_refunds: dict[str, Any]) -> Expected:
    status = "cancelled" if order.get("cancelled_at") else SHOPIFY_FINANCIAL[order.get("financial_status") or "pending"]
    status, total = settled(status, Decimal(order["total_price"]), refunded([*order.get("refunds", []), *more_refunds]))
    shipped = order.get("fulfillment_status") in SHOPIFY_SHIPPED
    # Tracking is that of the latest parcel that left (`success`); a failed or pending one shipped nothing.
    parcels = [
        f for f in order.get("fulfillments", []) if f.get("status") in (None, "success") and f["tracking_number"]
    ]
    parcel = parcels[-1] if shipped and parcels else {}
    customer = order.get("customer") or {}
    items = order["line_items"]
    return Expected(
        id=str(order["id"]),
        financial_status=status,
        fulfillment_status="shipped" if shipped else None,
        currency_code=order["currency"],
        total=total,
        # The address the order was placed with; the account's may differ (Shopify's example: jon@, john@).
        email=(order.get("email") or order.get("contact_email") or customer["email"]).lower(),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        campaign_id=campaign_in(order.get("landing_site")),
        tracking_number=parcel.get("tracking_number"),
        tracking_carrier=parcel.get("tracking_company"),
        lines=[
            (
                line_id,
                *catalog_or_custom(item["product_id"], item["variant_id"], item["title"], item.get("sku")),
                item["quantity"],
                money(item["price"]),
            )
            for line_id, item in zip(distinct_line_ids(str(i["id"]) for i in items), items, strict=True)
        ],
    )


def expected_shopify_cart(checkout: dict[str, Any]) -> Expected:
    customer = checkout.get("customer") or {}
    items = checkout["line_items"]
    return Expected(
        # The cart token is shared with the carts/* topics of the same visit; a checkout without one is its token.
        id=checkout.get("cart_token") or checkout["token"],
        # A checkout's amounts are in the currency the shopper is shown (docs/order-status.md#order-shapes).
        currency_code=checkout.get("presentment_currency") or checkout["currency"],
        total=money(checkout["total_price"]),
        email=(checkout.get("email") or customer["email"]).lower(),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        campaign_id=campaign_in(checkout.get("landing_site")),
        # A REST checkout (shopify-api-ruby's) has no recovery URL.
        checkout_url=checkout.get("abandoned_checkout_url"),
        lines=[
            (
                line_id,
                *catalog_or_custom(item["product_id"], item["variant_id"], item["title"], item.get("sku")),
                item["quantity"],
                money(item["price"]),
            )
            for line_id, item in zip(distinct_line_ids(str(i.get("key") or i["id"]) for i in items), items, strict=True)
        ],
    )


TRIGGER_ORDER = delivers(
    "shopify/triggerdev_Order.json",
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/fulfilled",
    "orders/cancelled",
)
RUBY_ORDER = delivers("shopify/shopify-api-ruby_order.json", "orders/create")
SHOPIFY_ORDERS = [
    *((TRIGGER_ORDER, None, topic) for topic in sorted(DELIVERED[TRIGGER_ORDER])),
    (RUBY_ORDER, "order", "orders/create"),
]


@pytest.mark.parametrize(("name", "wrapper", "topic"), SHOPIFY_ORDERS, ids=lambda v: str(v))
def test_a_shopify_order(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    wrapper: str | None,
    topic: str,
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    body = shopify_body(name, wrapper)

    response = send(runner, store, topic, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    order = json.loads(body)
    held = assert_holds(mailchimp_reader, store.store_id, "orders", expected_shopify_order(order))
    assert bool(held.get("cancelled_at_foreign")) == bool(order.get("cancelled_at"))


TRIGGER_CHECKOUT = delivers("shopify/triggerdev_CheckoutsCreate.json", "checkouts/create", "checkouts/update")
RUBY_CHECKOUT = delivers("shopify/shopify-api-ruby_checkout.json", "checkouts/create")
SHOPIFY_CHECKOUTS = [
    (TRIGGER_CHECKOUT, None, "checkouts/create"),
    (TRIGGER_CHECKOUT, None, "checkouts/update"),
    # Its checkout has no `id` (a REST checkout names itself by token): once a 400 naming `id`.
    (RUBY_CHECKOUT, "checkout", "checkouts/create"),
]


@pytest.mark.parametrize(("name", "wrapper", "topic"), SHOPIFY_CHECKOUTS, ids=lambda v: str(v))
def test_a_shopify_checkout(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    wrapper: str | None,
    topic: str,
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    body = shopify_body(name, wrapper)

    response = send(runner, store, topic, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    # Lines with `variant_id: null` (Shopify's example: a product without options) keep their product.
    assert_holds(mailchimp_reader, store.store_id, "carts", expected_shopify_cart(json.loads(body)))


TRIGGER_CART = delivers("shopify/triggerdev_CartsCreate.json", "carts/create")


def test_shopifys_cart_without_email_is_kept_until_its_checkout_brings_one(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    cart = load(TRIGGER_CART)

    response = send(runner, store, "carts/create", raw_file(TRIGGER_CART))
    runner.wait_until_idle()

    # A deliberate skip, not a loss: Mailchimp takes no cart without a shopper's address, and a carts/*
    # payload never has one. The cart is kept and written when an event of the same visit brings one.
    [line] = outcomes_of(captured_logs, response)
    assert (line["outcome"], line["deliberate_skip"]) == ("waiting_for_email", True)
    assert line["reason"] == SKIP_REASONS["waiting_for_email"]
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart['token']}") is None

    # Shopify's checkout example is of the same visit (its cart_token is this cart's token).
    checkout = load(TRIGGER_CHECKOUT)
    assert checkout["cart_token"] == cart["token"]
    since = len(captured_logs.getvalue())
    later = send(runner, store, "checkouts/create", raw_file(TRIGGER_CHECKOUT))
    runner.wait_until_idle()

    assert outcome(captured_logs, later, since) == "synced"
    assert_holds(mailchimp_reader, store.store_id, "carts", expected_shopify_cart(checkout))


TRIGGER_CUSTOMER = delivers("shopify/triggerdev_CustomersCreate.json", "customers/create", "customers/update")
RUBY_CUSTOMER = delivers("shopify/shopify-api-ruby_customers.json", "customers/update")
SHOPIFY_CUSTOMERS = [
    (TRIGGER_CUSTOMER, None, "customers/create"),
    (TRIGGER_CUSTOMER, None, "customers/update"),
    (RUBY_CUSTOMER, "customer", "customers/update"),
]


@pytest.mark.parametrize(("name", "wrapper", "topic"), SHOPIFY_CUSTOMERS, ids=lambda v: str(v))
def test_a_shopify_customer(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    wrapper: str | None,
    topic: str,
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    body = shopify_body(name, wrapper)

    response = send(runner, store, topic, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    customer = json.loads(body)
    # Neither example has email_marketing_consent: accepts_marketing is the shopper's answer.
    assert_customer(
        mailchimp_reader,
        store.store_id,
        customer["email"],
        customer["first_name"],
        customer["last_name"],
        opt_in_status=customer["accepts_marketing"],
    )


TRIGGER_PRODUCT = delivers("shopify/triggerdev_Product.json", "products/update")


def test_shopifys_product_example(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    product = load(TRIGGER_PRODUCT)

    response = send(runner, store, "products/update", raw_file(TRIGGER_PRODUCT))
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "created"
    # The example's variants have a blank title: Shopify's title is the options, "Small" and "Medium".
    assert_product(
        mailchimp_reader,
        store.store_id,
        str(product["id"]),
        product["title"],
        [(str(v["id"]), v["title"] or v["option1"], money(v["price"])) for v in product["variants"]],
    )
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/{product['id']}")
    assert held is not None
    assert {v["id"]: (v["sku"], v["inventory_quantity"]) for v in held["variants"]} == {
        str(v["id"]): (v["sku"], v["inventory_quantity"]) for v in product["variants"]
    }


TRIGGER_REFUND = delivers("shopify/triggerdev_Refund.json", "refunds/create")
RUBY_REFUND = delivers("shopify/shopify-api-ruby_refund.json", "refunds/create")


@pytest.mark.parametrize(
    ("order_name", "refund_name", "wrapper"),
    [(TRIGGER_ORDER, TRIGGER_REFUND, None), (RUBY_ORDER, RUBY_REFUND, "refund")],
    ids=["triggerdev", "shopify-api-ruby"],
)
def test_a_shopify_refund_comes_off_its_order(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    order_name: str,
    refund_name: str,
    wrapper: str | None,
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    order_body = shopify_body(order_name, "order" if wrapper else None)
    # A refund is a part of an order: its order comes first, as on Shopify.
    placed = send(runner, store, "orders/create", order_body)
    runner.wait_until_idle()
    refund_body = shopify_body(refund_name, wrapper)

    response = send(runner, store, "refunds/create", refund_body)
    runner.wait_until_idle()

    assert outcome(captured_logs, placed) == "synced"
    assert outcome(captured_logs, response) in {"synced", "unchanged"}
    refund = json.loads(refund_body)
    order = json.loads(order_body)
    assert str(refund["order_id"]) == str(order["id"])
    # triggerdev's refund returns the items of a voided order and pays nothing back (no transactions).
    assert_holds(mailchimp_reader, store.store_id, "orders", expected_shopify_order(order, refund))


TRIGGER_FULFILLMENT = delivers("shopify/triggerdev_Fulfillment.json", "fulfillments/create")


def test_shopifys_pending_fulfillment_is_not_a_shipment(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    no_dead_letter: list[str],
) -> None:
    store = register_store("shopify")
    no_dead_letter.append(store.store_id)
    order = load(TRIGGER_ORDER)
    assert send(runner, store, "orders/create", raw_file(TRIGGER_ORDER)).status_code == 202
    runner.wait_until_idle()
    fulfillment = load(TRIGGER_FULFILLMENT)

    response = send(runner, store, "fulfillments/create", raw_file(TRIGGER_FULFILLMENT))
    runner.wait_until_idle()

    # `pending`: Shopify handed it to a fulfillment service and nothing has left yet, tracking number or
    # not. Acknowledged (a 4xx would bring it back), and no Shipping confirmation: fulfillments/update
    # brings the same fulfillment again once it is `success`.
    assert fulfillment["status"] == "pending"
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ignored",
        "reason": f"fulfillment {fulfillment['id']} is pending: nothing shipped",
    }
    assert_holds(mailchimp_reader, store.store_id, "orders", expected_shopify_order(order))
    assert ("cancelled", "shipped") not in mailchimp.order_status_history(store.store_id, str(order["id"]))


# ----- WooCommerce -----------------------------------------------------------------------------------------

# docs/order-status.md: WooCommerce's order status → (financial_status, shipped).
WOOCOMMERCE_STATUS = {
    "pending": ("pending", False),
    "on-hold": ("pending", False),
    "processing": ("paid", False),
    "completed": ("paid", True),
    "refunded": ("refunded", False),
    "cancelled": ("cancelled", False),
    "failed": ("cancelled", False),
}
WOO_USER_AGENT = "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)"


def woo_store() -> RegisteredStore:
    # WooCommerce's docs name the site https://example.com; each test needs a site of its own.
    return register_store("woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com/")


def woo_deliver(runner: LocalRunner, store: RegisteredStore, topic: str, body: bytes) -> requests.Response:
    """As WC_Webhook::deliver: the body signed with the store's secret, every X-WC-Webhook-* header."""
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": WOO_USER_AGENT,
        "X-WC-Webhook-Source": store.identity,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign_base64_hmac(store.webhook_secret, body),
        "X-WC-Webhook-ID": "27",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return requests.post(f"{runner.url}/webhooks/woocommerce", data=body, headers=headers, timeout=TIMEOUT)


def woo_body(name: str) -> bytes:
    content = load(name)
    # "List all orders" is a list; a webhook carries one order: element 1, order 723 (SOURCES.md).
    return json.dumps(content[1]).encode() if isinstance(content, list) else raw_file(name)


def expected_woo_order(order: dict[str, Any]) -> Expected:
    status, shipped = WOOCOMMERCE_STATUS[order["status"]]
    # WooCommerce lists refunds with negative totals.
    status, total = settled(
        status, Decimal(order["total"]), -sum((Decimal(r["total"]) for r in order["refunds"]), Decimal(0))
    )
    billing = order["billing"]
    return Expected(
        id=str(order["id"]),
        financial_status=status,
        fulfillment_status="shipped" if shipped else None,
        currency_code=order["currency"],
        total=total,
        email=billing["email"].lower(),
        first_name=billing["first_name"],
        last_name=billing["last_name"],
        lines=[
            (
                str(item["id"]),
                *catalog_or_custom(item["product_id"], item["variation_id"], item["name"], item["sku"]),
                item["quantity"],
                # The unit price before discounts: the line's subtotal over its quantity.
                money(Decimal(item["subtotal"]) / item["quantity"]),
            )
            for item in order["line_items"]
        ],
    )


WOO_ORDERS = [
    (delivers("woocommerce/order_create_response_727.json", "order.created"), "order.created"),
    (delivers("woocommerce/order_retrieve_727.json", "order.updated"), "order.updated"),
    (delivers("woocommerce/order_update_completed_727.json", "order.updated"), "order.updated"),
    (delivers("woocommerce/order_list_727_723.json", "order.created"), "order.created"),
]


@pytest.mark.parametrize(("name", "topic"), WOO_ORDERS, ids=lambda v: str(v))
def test_a_woocommerce_order(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    topic: str,
) -> None:
    store = woo_store()
    no_dead_letter.append(store.store_id)
    body = woo_body(name)

    response = woo_deliver(runner, store, topic, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    # Order 723 is completed with two refunds (-10.00, -9.00): Mailchimp counts 39.00 - 19.00.
    assert_holds(mailchimp_reader, store.store_id, "orders", expected_woo_order(json.loads(body)))


def test_woocommerces_order_727_from_processing_to_completed(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
) -> None:
    store = woo_store()
    no_dead_letter.append(store.store_id)
    steps = [name for name, _ in WOO_ORDERS[:3]]

    ended = []
    for name, topic in zip(steps, ("order.created", "order.updated", "order.updated"), strict=True):
        since = len(captured_logs.getvalue())
        answer = woo_deliver(runner, store, topic, woo_body(name))
        runner.wait_until_idle()
        ended.append(outcome(captured_logs, answer, since))

    # "Retrieve an order" is the created order again, same modification time: the same version, so the
    # same event, applied once.
    assert ended == ["synced", "duplicate", "synced"]
    completed = json.loads(woo_body(steps[2]))
    assert_holds(mailchimp_reader, store.store_id, "orders", expected_woo_order(completed))
    assert mailchimp.order_status_history(store.store_id, str(completed["id"])) == [("paid", None), ("paid", "shipped")]


WOO_CUSTOMERS = [
    (delivers("woocommerce/customer_create_25.json", "customer.created"), "customer.created"),
    (delivers("woocommerce/customer_update_25.json", "customer.updated"), "customer.updated"),
]


@pytest.mark.parametrize(("name", "topic"), WOO_CUSTOMERS, ids=lambda v: str(v))
def test_a_woocommerce_customer(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    topic: str,
) -> None:
    store = woo_store()
    no_dead_letter.append(store.store_id)

    response = woo_deliver(runner, store, topic, raw_file(name))
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    customer = load(name)
    assert_customer(mailchimp_reader, store.store_id, customer["email"], customer["first_name"], customer["last_name"])


WOO_PRODUCTS = [
    (delivers("woocommerce/product_create_794.json", "product.created"), "product.created"),
    (delivers("woocommerce/product_update_794.json", "product.updated"), "product.updated"),
]


@pytest.mark.parametrize(("name", "topic"), WOO_PRODUCTS, ids=lambda v: str(v))
def test_a_woocommerce_product(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    no_dead_letter: list[str],
    name: str,
    topic: str,
) -> None:
    store = woo_store()
    no_dead_letter.append(store.store_id)

    response = woo_deliver(runner, store, topic, raw_file(name))
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "created"
    product = load(name)
    # A simple product is one variant under the product's own id.
    assert_product(
        mailchimp_reader,
        store.store_id,
        str(product["id"]),
        product["name"],
        [(str(product["id"]), product["name"], money(product["price"]))],
    )
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/{product['id']}")
    assert held is not None and held["url"] == product["permalink"]


# ----- BigCommerce -----------------------------------------------------------------------------------------


class BigCommerceDocs:
    """The API resources of BigCommerce's docs, found by their names in the OpenAPI YAML excerpts."""

    def __init__(self) -> None:
        self.orders = yaml.safe_load(raw_file(ORDERS_YML))["responses"]
        self.cart_doc = yaml.safe_load(raw_file(CARTS_YML))
        self.customer_doc = yaml.safe_load(raw_file(CUSTOMERS_YML))

    def example(self, response: str, name: str) -> Any:
        return copy.deepcopy(self.orders[response]["content"]["application/json"]["examples"][name]["value"])

    def order(self, name: str) -> dict[str, Any]:
        """`order_Resp`'s "Response" (218, Awaiting Payment) or "Multiple Items" (247, Awaiting Fulfillment,
        whose `currency_code"` key is misspelt in the docs)."""
        return dict(self.example("order_Resp", name))

    def order_products(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """Order 247's own products are the line-item examples naming it ("Custom Product", "Product with
        Variants"); for 218 the docs give none, so the products collection example stands in."""
        examples = self.orders["orderProductLineItem_Resp"]["content"]["application/json"]["examples"]
        own = [copy.deepcopy(e["value"]) for e in examples.values() if e["value"]["order_id"] == order["id"]]
        return own or self.example("orderProductsCollection_Resp", "response")

    def coupons(self) -> list[dict[str, Any]]:
        return list(self.example("orderCouponsCollection_Resp", "response"))

    def shipments(self) -> list[dict[str, Any]]:
        return list(self.example("orderShipmentCollection_Resp", "application/json"))

    def cart(self) -> dict[str, Any]:
        return copy.deepcopy(self.cart_doc["examples"]["response"]["value"]["data"])

    def customer(self) -> dict[str, Any]:
        return copy.deepcopy(self.customer_doc["examples"]["example-1"]["value"]["data"][0])


for _resource in (ORDERS_YML, CARTS_YML, CUSTOMERS_YML):
    delivers(_resource)


@pytest.fixture(scope="module")
def docs() -> BigCommerceDocs:
    return BigCommerceDocs()


@dataclass
class BcShop:
    emulator: BigCommerceEmulator
    store: RegisteredStore

    @property
    def store_id(self) -> str:
        return self.store.store_id


@pytest.fixture
def shop(runner: LocalRunner, no_dead_letter: list[str]) -> Iterator[BcShop]:
    # A store hash names one store: each test has an emulator and a registration of its own.
    with BigCommerceEmulator(f"pp{uuid.uuid4().hex[:10]}", BC_TOKEN) as emulator:
        store = register_store(
            "bigcommerce",
            identity=emulator.store_hash,
            platform_api_url=emulator.base_url,
            platform_api_credentials={"access_token": BC_TOKEN},
        )
        no_dead_letter.append(store.store_id)
        yield BcShop(emulator, store)


def bc_webhook(shop: BcShop, name: str) -> bytes:
    body = load(name)
    body["producer"] = f"stores/{shop.emulator.store_hash}"
    return json.dumps(body).encode()


def bc_deliver(runner: LocalRunner, shop: BcShop, body: bytes) -> requests.Response:
    """Signed as BigCommerce signs every delivery (Standard Webhooks); a store registered without the app's
    client secret checks the signature with its webhook secret (README, "Register a store")."""
    message_id, sent_at = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BigCommerce-Webhooks/1.0",
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_standard_webhook(shop.store.webhook_secret, message_id, sent_at, body),
    }
    return requests.post(f"{runner.url}/webhooks/bigcommerce", data=body, headers=headers, timeout=TIMEOUT)


# docs/order-status.md: BigCommerce's status_id → (financial_status, shipped).
BIGCOMMERCE_STATUS = {
    1: ("pending", False),
    2: ("paid", True),
    3: ("paid", True),
    4: ("refunded", False),
    5: ("cancelled", False),
    6: ("cancelled", False),
    7: ("pending", False),
    8: ("paid", False),
    9: ("paid", False),
    10: ("paid", True),
    11: ("paid", False),
    12: ("pending", False),
    13: ("paid", False),
    14: ("paid", False),
}


def put_order(
    shop: BcShop, docs: BigCommerceDocs, order_id: int, example: str, with_shipments: bool = False
) -> dict[str, Any]:
    """Serves the docs' order example as order `order_id`, with its products, coupons and shipments."""
    order = dict(docs.order(example), id=order_id)
    products = [dict(p, order_id=order_id) for p in docs.order_products(docs.order(example))]
    coupons = [dict(c, order_id=order_id) for c in docs.coupons()] if Decimal(order["coupon_discount"]) else []
    shipments = [dict(s, order_id=order_id) for s in docs.shipments()] if with_shipments else []
    shop.emulator.put_order(order, products=products, coupons=coupons, shipments=shipments)
    return {"order": order, "products": products, "shipments": shipments}


def expected_bc_order(resources: dict[str, Any]) -> Expected:
    order, shipments = resources["order"], resources["shipments"]
    status, shipped = BIGCOMMERCE_STATUS[order["status_id"]]
    status, total = settled(status, Decimal(order["total_inc_tax"]), Decimal(order["refunded_amount"]))
    tracked = sorted(
        (s for s in shipments if s.get("tracking_number")),
        key=lambda s: parsedate_to_datetime(s["date_created"]),
    )
    billing = order["billing_address"]
    return Expected(
        id=str(order["id"]),
        financial_status=status,
        fulfillment_status="shipped" if shipped or shipments else None,
        # "Multiple Items" misspells `currency_code`; the currency paid in is `default_currency_code`.
        currency_code=order["default_currency_code"],
        total=total,
        email=billing["email"].lower(),
        first_name=billing["first_name"],
        last_name=billing["last_name"],
        tracking_number=tracked[-1]["tracking_number"] if tracked else None,
        tracking_carrier=(tracked[-1]["tracking_carrier"] or tracked[-1]["shipping_provider"]) if tracked else None,
        lines=[
            # Custom products (product_id 0) are custom items; an absent variant_id is the product's own.
            (
                str(p["id"]),
                *catalog_or_custom(p["product_id"], p.get("variant_id"), p["name"], p["sku"] or None),
                p["quantity"],
                money(p["price_inc_tax"]),
            )
            for p in resources["products"]
        ],
    )


BC_ORDER_CASES = [
    # (webhook, the docs' order example served for it): a new order awaiting payment; an update and a
    # status change to Awaiting Fulfillment (statusUpdated's new_status_id 11, "Multiple Items"'s status).
    (delivers("bigcommerce/store_order_created.json", "store/order/created"), "Response", False),
    (delivers("bigcommerce/store_order_updated.json", "store/order/updated"), "Multiple Items", False),
    (delivers("bigcommerce/store_order_statusUpdated.json", "store/order/statusUpdated"), "Multiple Items", False),
    # The docs publish no refund of these orders (refunded_amount 0): the order is read and written as it is.
    (delivers("bigcommerce/store_order_refund_created.json", "store/order/refund/created"), "Response", False),
    # A shipment of order 251, whose shipments are the docs' collection example (USPS, two parcels).
    (delivers("bigcommerce/store_shipment_created.json", "store/shipment/created"), "Multiple Items", True),
]


@pytest.mark.parametrize(("name", "example", "shipped"), BC_ORDER_CASES, ids=lambda v: str(v))
def test_a_bigcommerce_order(
    runner: LocalRunner,
    docs: BigCommerceDocs,
    shop: BcShop,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    name: str,
    example: str,
    shipped: bool,
) -> None:
    body = bc_webhook(shop, name)
    data = json.loads(body)["data"]
    resources = put_order(shop, docs, int(data.get("orderId", data["id"])), example, with_shipments=shipped)

    response = bc_deliver(runner, shop, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    assert_holds(mailchimp_reader, shop.store_id, "orders", expected_bc_order(resources))


def test_bigcommerces_orders_for_a_shopper_whose_address_changed(
    runner: LocalRunner,
    docs: BigCommerceDocs,
    shop: BcShop,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
) -> None:
    # Customer 11 placed order 250 as janedoe@example.com ("Response"); BigCommerce then shows the order as
    # "Multiple Items" with janedoe@email.com. Once six dead letters ("A customer's email address cannot
    # be changed"); the rule of docs/tenant-isolation.md: an order stays with the address it was placed
    # with, and the new address is a Mailchimp customer of its own.
    created = put_order(shop, docs, 250, "Response")
    first = bc_deliver(runner, shop, bc_webhook(shop, "bigcommerce/store_order_created.json"))
    runner.wait_until_idle()
    changed = put_order(shop, docs, 250, "Multiple Items")
    old, new = created["order"]["billing_address"]["email"], changed["order"]["billing_address"]["email"]
    assert old != new and created["order"]["customer_id"] == changed["order"]["customer_id"]

    second = bc_deliver(runner, shop, bc_webhook(shop, "bigcommerce/store_order_updated.json"))
    runner.wait_until_idle()

    assert [outcome(captured_logs, first), outcome(captured_logs, second)] == ["synced", "synced"]
    expected = expected_bc_order(changed)
    expected.email = old.lower()
    expected.first_name = created["order"]["billing_address"]["first_name"]
    expected.last_name = created["order"]["billing_address"]["last_name"]
    assert_holds(mailchimp_reader, shop.store_id, "orders", expected)
    assert_customer(
        mailchimp_reader,
        shop.store_id,
        new,
        changed["order"]["billing_address"]["first_name"],
        changed["order"]["billing_address"]["last_name"],
    )
    assert mailchimp.order_status_history(shop.store_id, "250") == [("pending", None), ("paid", None)]


def put_cart(shop: BcShop, docs: BigCommerceDocs, cart_id: str) -> dict[str, Any]:
    """The docs' cart under `cart_id`, and the docs' customer as the registered shopper it names (the
    customer example has no id of its own)."""
    cart = dict(docs.cart(), id=cart_id)
    shop.emulator.put_cart(cart)
    shop.emulator.put_customer(dict(docs.customer(), id=cart["customer_id"]))
    return cart


def expected_bc_cart(shop: BcShop, cart: dict[str, Any], customer: dict[str, Any]) -> Expected:
    items = cart["line_items"]
    lines: list[Line] = [
        (i["id"], str(i["product_id"]), str(i["variant_id"]), i["quantity"], money(i["sale_price"]))
        for i in (*items["physical_items"], *items["digital_items"])
    ]
    lines += [
        (i["id"], *catalog_or_custom(None, None, i["name"], i.get("sku")), i["quantity"], money(i["list_price"]))
        for i in items["custom_items"]
    ]
    lines += [
        (
            g["id"],
            *catalog_or_custom(None, None, f"Gift certificate: {g['name']}", None),
            g["quantity"],
            money(g["amount"]),
        )
        for g in items["gift_certificates"]
    ]
    urls = shop.emulator.last_redirect_urls(cart["id"])
    assert urls is not None
    return Expected(
        id=cart["id"],
        currency_code=cart["currency"]["code"],
        total=money(cart["cart_amount"]),
        # The registered shopper's address: the account's, which BigCommerce keeps current.
        email=customer["email"].lower(),
        first_name=customer["first_name"],
        last_name=customer["last_name"],
        checkout_url=urls["checkout_url"],
        lines=lines,
    )


BC_CART_WEBHOOKS = [
    delivers("bigcommerce/store_cart_created.json", "store/cart/created"),
    delivers("bigcommerce/store_cart_updated.json", "store/cart/updated"),
    delivers("bigcommerce/store_cart_abandoned.json", "store/cart/abandoned"),
]


@pytest.mark.parametrize("name", BC_CART_WEBHOOKS)
def test_a_bigcommerce_cart(
    runner: LocalRunner,
    docs: BigCommerceDocs,
    shop: BcShop,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    name: str,
) -> None:
    body = bc_webhook(shop, name)
    cart = put_cart(shop, docs, json.loads(body)["data"]["id"])

    response = bc_deliver(runner, shop, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    # Custom items and the gift certificate are variants of the store's custom-items product.
    assert_holds(mailchimp_reader, shop.store_id, "carts", expected_bc_cart(shop, cart, docs.customer()))


BC_CONVERTED = delivers("bigcommerce/store_cart_converted.json", "store/cart/converted")


def test_bigcommerces_converted_cart_leaves_mailchimp_and_stays_gone(
    runner: LocalRunner,
    docs: BigCommerceDocs,
    shop: BcShop,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
) -> None:
    converted = json.loads(bc_webhook(shop, BC_CONVERTED))
    cart_id = converted["data"]["id"]
    put_cart(shop, docs, cart_id)
    # The docs' cart webhooks name another cart (09346904-…): adapted to the converted one (d30016e2-…),
    # so that the cart is in Mailchimp before its purchase.
    updated = json.loads(bc_webhook(shop, "bigcommerce/store_cart_updated.json"))
    updated["data"]["id"] = cart_id
    before = bc_deliver(runner, shop, json.dumps(updated).encode())
    runner.wait_until_idle()
    assert outcome(captured_logs, before) == "synced"
    cart_path = f"/ecommerce/stores/{shop.store_id}/carts/{cart_id}"
    assert mailchimp_reader.resource(cart_path) is not None
    shop.emulator.delete_cart(cart_id)  # a converted cart is gone from BigCommerce

    response = bc_deliver(runner, shop, bc_webhook(shop, BC_CONVERTED))
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "converted"
    assert mailchimp_reader.resource(cart_path) is None, "a purchased cart sends no abandoned-cart e-mail"


BC_CUSTOMER_WEBHOOKS = [
    delivers("bigcommerce/store_customer_created.json", "store/customer/created"),
    # Its scope says store/customer/created: a slip in BigCommerce's docs, delivered as published.
    delivers("bigcommerce/store_customer_updated.json", "store/customer/created"),
]


@pytest.mark.parametrize("name", BC_CUSTOMER_WEBHOOKS)
def test_a_bigcommerce_customer(
    runner: LocalRunner,
    docs: BigCommerceDocs,
    shop: BcShop,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    name: str,
) -> None:
    body = bc_webhook(shop, name)
    customer = dict(docs.customer(), id=json.loads(body)["data"]["id"])
    shop.emulator.put_customer(customer)

    response = bc_deliver(runner, shop, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "synced"
    assert_customer(
        mailchimp_reader,
        shop.store_id,
        customer["email"],
        customer["first_name"],
        customer["last_name"],
        company=customer["company"],
    )


BC_PRODUCT = delivers("bigcommerce/store_product_updated.json", "store/product/updated")


def test_bigcommerces_product_webhook(
    runner: LocalRunner,
    shop: BcShop,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
) -> None:
    body = bc_webhook(shop, BC_PRODUCT)
    product_id = json.loads(body)["data"]["id"]
    # The folder holds no catalog product example: the product read is the project's own sample (a tote
    # with two variants), served under the webhook's id.
    product = bigcommerce_catalog()[0]
    product["id"] = product_id
    for variant in product["variants"]:
        variant["product_id"] = product_id
    shop.emulator.put_product(product)

    response = bc_deliver(runner, shop, body)
    runner.wait_until_idle()

    assert outcome(captured_logs, response) == "created"
    assert_product(
        mailchimp_reader,
        shop.store_id,
        str(product_id),
        product["name"],
        [
            (str(v["id"]), " / ".join(o["label"] for o in v["option_values"]), money(v["calculated_price"]))
            for v in product["variants"]
        ],
    )


# ----- the guards ------------------------------------------------------------------------------------------


def test_every_file_in_the_folder_is_delivered() -> None:
    files = {str(path.relative_to(PAYLOADS)) for path in PAYLOADS.rglob("*") if path.is_file()}
    files.discard("SOURCES.md")  # the index, not a payload
    assert not files - DELIVERED.keys(), "a payload no test delivers: add it to tests/e2e/test_published_payloads.py"
    assert not DELIVERED.keys() - files, "a test names a file the folder no longer has"


def test_every_topic_sources_md_lists_is_delivered() -> None:
    listed: dict[str, set[str]] = {}
    for row in (PAYLOADS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        named = re.fullmatch(r"`((?:shopify|woocommerce)/[^`]+)`", cells[0]) if row.startswith("|") else None
        if named:
            # Shopify topics are resource/event, WooCommerce's resource.event.
            listed[named.group(1)] = set(
                re.findall(r"\b[a-z_]+/[a-z_]+\b|\b(?:order|customer|product)\.[a-z]+\b", cells[-1])
            )
    assert listed, "SOURCES.md's tables were not found"
    for name, topics in listed.items():
        assert topics, f"no topic read for {name}"
        assert topics <= DELIVERED.get(name, set()), f"{name}: {topics - DELIVERED.get(name, set())} not delivered"
    bigcommerce = {str(p.relative_to(PAYLOADS)) for p in (PAYLOADS / "bigcommerce").glob("*.json")}
    for name in bigcommerce:
        assert DELIVERED.get(name) == {load(name)["scope"]}, f"{name} is delivered as its own scope"
