"""Order shapes the platforms publish beyond the plain order (issue 23), delivered through the local runner
with fixtures of our own in their shapes (events/shapes/; the published sources and the rule for each are
in docs/order-status.md#order-shapes): a Shopify draft order and the order it becomes, an order edit and
the edited order, a partial fulfillment and its second parcel, a multi-currency order, refund and
checkout, a B2B order on payment terms, and a BigCommerce order paid in another currency than the store's
default. Each test says what Mailchimp then holds, field by field, and which deliveries are acknowledged
and ignored (with the kind their log line names)."""

from __future__ import annotations

import copy
import io
import json
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import requests
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID
from commerce_sync.platforms.lines import custom_item_variant_id

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.e2e.test_bigcommerce_orders import Shop, send, thin
from tests.e2e.test_nothing_dropped import log_records
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store
from tests.paths import EVENTS

SHAPES = EVENTS / "shapes"
BC_TOKEN = "bc-e2e-shapes-token"


def shape(name: str) -> Any:
    return json.loads((SHAPES / name).read_text(encoding="utf-8"))


def deliver(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> requests.Response:
    return send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())


def accepted(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> None:
    answer = deliver(runner, store, topic, body)
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle()


def held_order(reader: MailchimpReader, store_id: str, order_id: Any) -> dict[str, Any]:
    held = reader.resource(f"/ecommerce/stores/{store_id}/orders/{order_id}")
    assert held is not None, f"Mailchimp holds no order {order_id}"
    return held


def lines(held: dict[str, Any]) -> list[tuple[str, str, str, int, float]]:
    return sorted(
        (line["id"], line["product_id"], line["product_variant_id"], line["quantity"], line["price"])
        for line in held["lines"]
    )


def ignored(logs: io.StringIO) -> list[str]:
    """The kinds the receiver's `webhook ignored` lines name, in order."""
    return [record["ignored"] for record in log_records(logs) if record.get("message") == "webhook ignored"]


def money(amount: str) -> float:
    return float(Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# ---- Shopify draft orders -----------------------------------------------------------------------------


def test_a_draft_order_is_ignored_until_it_is_an_order_which_then_lands_whole(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader, captured_logs: io.StringIO
) -> None:
    draft, completed = shape("shopify_draft_order_open.json"), shape("shopify_draft_order_completed.json")
    order = shape("shopify_order_from_draft.json")
    store = shopify_store.store_id

    for topic, body in (("draft_orders/create", draft), ("draft_orders/update", completed)):
        answer = deliver(runner, shopify_store, topic, body)
        assert (answer.status_code, answer.json()["status"]) == (200, "ignored"), answer.text
        assert f"draft order {draft['id']} is not an order" in answer.json()["reason"]
    runner.wait_until_idle()
    assert ignored(captured_logs) == ["draft_order", "draft_order"]
    # Nothing of the draft reaches Mailchimp: no order under either id.
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{draft['id']}") is None
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{completed['order_id']}") is None

    # The order the completed draft became (source_name shopify_draft_order, no checkout or cart).
    accepted(runner, shopify_store, "orders/create", order)

    held = held_order(mailchimp_reader, store, order["id"])
    assert (held["currency_code"], held["order_total"], held["tax_total"], held["shipping_total"]) == (
        "USD",
        98.5,
        4.5,
        8.0,
    )
    assert (held["discount_total"], held["financial_status"], held.get("fulfillment_status")) == (10.0, "paid", None)
    assert lines(held) == sorted(
        [
            ("15550001", "9100220001", "48200110001", 2, 45.0),
            ("15550002", CUSTOM_ITEMS_PRODUCT_ID, custom_item_variant_id("Gift wrap", None), 1, 6.0),
        ]
    )
    assert held["customer"]["email_address"] == "ingrid.solberg@example.no"
    assert held["customer"]["id"] == mailchimp_customer_id("ingrid.solberg@example.no")
    assert not held.get("cart_id"), "an order from a draft has no cart"
    assert held["processed_at_foreign"].startswith("2026-02-04T09:12:40")
    assert held["order_url"] == order["order_status_url"]


# ---- Shopify order edits ------------------------------------------------------------------------------


def test_an_order_edit_is_acknowledged_and_the_edited_order_brings_its_lines_and_total(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
) -> None:
    before, edit, after = (
        shape("shopify_order_before_edit.json"),
        shape("shopify_order_edited.json"),
        shape("shopify_order_after_edit.json"),
    )
    store, order_id = shopify_store.store_id, before["id"]
    accepted(runner, shopify_store, "orders/create", before)
    held = held_order(mailchimp_reader, store, order_id)
    assert (held["order_total"], held["financial_status"]) == (154.0, "pending")
    assert lines(held) == [
        ("15560001", "9100330001", "48200220001", 2, 60.0),
        ("15560002", "9100330002", "48200220002", 1, 24.0),
    ]

    # orders/edited names only the lines the edit changed: acknowledged, nothing written (was a 400).
    answer = deliver(runner, shopify_store, "orders/edited", edit)
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored"), answer.text
    assert f"order {order_id}" in answer.json()["reason"]
    runner.wait_until_idle()
    assert ignored(captured_logs) == ["order_edit"]
    assert held_order(mailchimp_reader, store, order_id) == held

    # The orders/updated of the same edit: one throw left, the candles removed, napkins added.
    accepted(runner, shopify_store, "orders/updated", after)

    held = held_order(mailchimp_reader, store, order_id)
    assert (held["order_total"], held["financial_status"], held["currency_code"]) == (106.0, "pending", "USD")
    assert lines(held) == [
        ("15560001", "9100330001", "48200220001", 1, 60.0),
        ("15560003", "9100330003", "48200220003", 4, 9.0),
    ]
    added = mailchimp_reader.resource(f"/ecommerce/stores/{store}/products/9100330003")
    assert added is not None and [v["id"] for v in added["variants"]] == ["48200220003"]
    assert mailchimp.order_status_history(store, str(order_id)) == [("pending", None)], "an edit sends no e-mail"


# ---- Shopify partial fulfillment -----------------------------------------------------------------------


def test_a_partial_fulfillment_ships_the_order_once_and_the_latest_parcel_is_tracked(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    partly = shape("shopify_order_partially_fulfilled.json")
    first_parcel, second_parcel = partly["fulfillments"][0], shape("shopify_fulfillment_second_parcel.json")
    paid = dict(copy.deepcopy(partly), fulfillment_status=None, fulfillments=[], updated_at="2026-02-07T11:00:04-08:00")
    paid["line_items"][0].update(fulfillable_quantity=1, fulfillment_status=None)
    fulfilled = dict(
        copy.deepcopy(partly),
        fulfillment_status="fulfilled",
        fulfillments=[first_parcel, second_parcel],
        updated_at="2026-02-10T15:10:05-08:00",
    )
    store, order_id = shopify_store.store_id, partly["id"]

    seen = []
    for topic, body in (
        ("orders/paid", paid),
        ("fulfillments/create", first_parcel),
        ("orders/partially_fulfilled", partly),
        ("fulfillments/create", second_parcel),
        ("orders/fulfilled", fulfilled),
    ):
        accepted(runner, shopify_store, topic, body)
        held = held_order(mailchimp_reader, store, order_id)
        seen.append((topic, held["financial_status"], held.get("fulfillment_status"), held.get("tracking_number")))

    usps, ups = first_parcel["tracking_number"], second_parcel["tracking_number"]
    assert seen == [
        ("orders/paid", "paid", None, None),
        ("fulfillments/create", "paid", "shipped", usps),  # the first parcel sends the shipping confirmation
        ("orders/partially_fulfilled", "paid", "shipped", usps),
        ("fulfillments/create", "paid", "shipped", ups),
        ("orders/fulfilled", "paid", "shipped", ups),
    ]
    assert mailchimp.order_status_history(store, str(order_id)) == [("paid", None), ("paid", "shipped")]
    held = held_order(mailchimp_reader, store, order_id)
    assert (held["tracking_carrier"], held["tracking_url"]) == ("UPS", second_parcel["tracking_url"])
    assert (held["order_total"], held["shipping_total"]) == (67.0, 7.0)
    assert lines(held) == [
        ("15570001", "9100440001", "48200330001", 1, 38.0),
        ("15570002", "9100440002", "48200330002", 1, 22.0),
    ]


# ---- multi-currency ---------------------------------------------------------------------------------


def test_a_multi_currency_order_is_written_in_the_shop_currency_and_its_refund_converted(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order, refund = shape("shopify_order_multi_currency.json"), shape("shopify_refund_multi_currency.json")
    store, order_id = shopify_store.store_id, order["id"]
    accepted(runner, shopify_store, "orders/paid", order)

    held = held_order(mailchimp_reader, store, order_id)
    # The shop's dollars, not the shopper's euros (total_price_set.presentment_money is 110.00 EUR).
    assert (held["currency_code"], held["order_total"], held["shipping_total"]) == ("USD", 118.8, 10.8)
    assert lines(held) == [("15580001", "9100550001", "48200440001", 2, 54.0)]
    assert held["customer"]["email_address"] == "lotte.vermeulen@example.nl"

    # 50.00 EUR refunded, at the order's own rate (118.80 USD / 110.00 EUR): 54.00 USD off the revenue.
    accepted(runner, shopify_store, "refunds/create", refund)
    assert held_order(mailchimp_reader, store, order_id)["order_total"] == 64.8

    # The order as Shopify reports it after the refund: the same refund, taken off once.
    refunded = dict(
        copy.deepcopy(order), financial_status="partially_refunded", refunds=[refund], updated_at=refund["created_at"]
    )
    accepted(runner, shopify_store, "orders/updated", refunded)
    held = held_order(mailchimp_reader, store, order_id)
    assert (held["financial_status"], held["order_total"], held["currency_code"]) == ("paid", 64.8, "USD")
    assert mailchimp.order_status_history(store, str(order_id)) == [("paid", None)], "no refund e-mail for a part"


def test_a_multi_currency_checkout_is_a_cart_in_the_currency_the_shopper_saw(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    checkout = shape("shopify_checkout_multi_currency.json")
    accepted(runner, shopify_store, "checkouts/update", checkout)

    cart = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{checkout['cart_token']}")
    assert cart is not None
    # A checkout's amounts are the shopper's euros; `currency` (USD) is only the shop's.
    assert (cart["currency_code"], cart["order_total"]) == ("EUR", 100.0)
    assert [(line["product_variant_id"], line["quantity"], line["price"]) for line in cart["lines"]] == [
        ("48200440001", 2, 50.0)
    ]
    assert cart["checkout_url"] == checkout["abandoned_checkout_url"]
    assert cart["customer"]["email_address"] == "lotte.vermeulen@example.nl"


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"s{uuid.uuid4().hex[:10]}", BC_TOKEN) as running:
        yield running


def test_a_bigcommerce_order_paid_in_euros_is_written_in_the_store_default_currency(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order, products = (
        shape("bigcommerce_order_multi_currency.json"),
        shape("bigcommerce_order_multi_currency_products.json"),
    )
    registered = register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        currency_code="USD",
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": BC_TOKEN},
    )
    shop = Shop(bigcommerce, registered)
    bigcommerce.put_order(order, products=products, shipments=[], coupons=[])

    send(runner, shop, thin(shop, "store/order/created", {"type": "order", "id": order["id"]}))
    runner.wait_until_idle()

    held = held_order(mailchimp_reader, shop.store_id, order["id"])
    rate = Decimal(order["store_default_to_transactional_exchange_rate"])  # euros per dollar

    def dollars(euros: str) -> float:
        return money(str(Decimal(euros) / rate))

    assert held["currency_code"] == "USD"
    assert (held["order_total"], held["tax_total"], held["shipping_total"]) == (
        dollars(order["total_inc_tax"]),
        dollars(order["total_tax"]),
        dollars(order["shipping_cost_inc_tax"]),
    )
    assert (held["order_total"], held["shipping_total"]) == (110.0, 10.0)
    [product] = products
    assert lines(held) == [
        (
            str(product["id"]),
            str(product["product_id"]),
            str(product["variant_id"]),
            2,
            dollars(product["price_inc_tax"]),
        )
    ]
    assert held["financial_status"] == "paid"
    # The buyer is a business: its name, from the billing address, is the Mailchimp customer's company.
    assert held["customer"]["email_address"] == "jonas.richter@richter-raumdesign.example.com"
    assert held["customer"]["company"] == "Richter Raumdesign GmbH"
    assert held["billing_address"]["company"] == "Richter Raumdesign GmbH"


# ---- B2B --------------------------------------------------------------------------------------------


def test_a_b2b_order_on_payment_terms_is_the_company_buyers_pending_order_until_paid(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = shape("shopify_order_b2b.json")
    store, order_id = shopify_store.store_id, order["id"]
    accepted(runner, shopify_store, "orders/create", order)

    held = held_order(mailchimp_reader, store, order_id)
    email = "sigrid.hauge@nordlys-kafe.example.com"
    assert (held["financial_status"], held["order_total"], held["discount_total"]) == ("pending", 540.0, 60.0)
    assert [(line["quantity"], line["price"], line["discount"]) for line in held["lines"]] == [(40, 15.0, 60.0)]
    assert held["customer"]["email_address"] == email
    assert held["customer"]["company"] == "Nordlys Kafé AS"
    assert held["billing_address"]["company"] == "Nordlys Kafé AS"
    customer = mailchimp_reader.resource(f"/ecommerce/stores/{store}/customers/{mailchimp_customer_id(email)}")
    assert customer is not None and customer["company"] == "Nordlys Kafé AS"

    # The invoice is paid within its terms: the order invoice e-mail, once.
    paid = dict(copy.deepcopy(order), financial_status="paid", total_outstanding="0.00")
    paid.update(updated_at="2026-03-02T10:00:00+01:00")
    accepted(runner, shopify_store, "orders/paid", paid)
    assert held_order(mailchimp_reader, store, order_id)["financial_status"] == "paid"
    assert mailchimp.order_status_history(store, str(order_id)) == [("pending", None), ("paid", None)]
