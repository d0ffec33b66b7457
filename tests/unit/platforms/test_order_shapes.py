"""The mapping rules for the order shapes of events/shapes/ at their edges (docs/order-status.md#order-shapes):
what an edited Shopify order keeps when every line was removed, which refunds are converted from the
shopper's currency, and when a BigCommerce order is converted into the store's default currency."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.canonical.model import MarketingConsent
from commerce_sync.platforms.bigcommerce.orders import BcFetchedOrder, BcOrder, BcOrderProduct, order_to_order
from commerce_sync.platforms.shopify.orders import ShopifyOrder, ShopifyRefund, refund_to_refund
from commerce_sync.platforms.shopify.orders import order_to_order as shopify_order

from tests.paths import EVENTS

SHAPES = EVENTS / "shapes"


def shape(name: str) -> Any:
    return json.loads((SHAPES / name).read_text(encoding="utf-8"))


def shopify(body: dict[str, Any]) -> Any:
    return shopify_order(ShopifyOrder.model_validate(body), MarketingConsent())


# ---- Shopify: the edited order --------------------------------------------------------------------


def test_lines_are_at_their_current_quantity_and_removed_ones_are_left_out() -> None:
    order = shopify(shape("shopify_order_after_edit.json"))
    assert [(line.id, line.quantity) for line in order.lines] == [("15560001", 1), ("15560003", 4)]


def test_an_order_whose_every_line_was_removed_keeps_its_lines_as_bought() -> None:
    body = shape("shopify_order_before_edit.json")
    for line in body["line_items"]:
        line["current_quantity"] = 0
    body.update(financial_status="voided", cancelled_at="2026-02-06T09:00:00-05:00")
    order = shopify(body)
    assert [(line.id, line.quantity) for line in order.lines] == [("15560001", 2), ("15560002", 1)]


def test_without_current_quantity_the_quantity_is_the_one_bought() -> None:
    body = shape("shopify_order_after_edit.json")
    for line in body["line_items"]:
        del line["current_quantity"]
    assert [line.quantity for line in shopify(body).lines] == [2, 1, 4]


# ---- Shopify: refunds in the shopper's currency ------------------------------------------------------


def test_a_refund_in_the_shop_currency_is_taken_as_it_is() -> None:
    refund = shape("shopify_refund_multi_currency.json")
    refund["transactions"][0].update(amount="54.00", currency="USD")
    assert refund_to_refund(ShopifyRefund.model_validate(refund)).refund.amount == Decimal("54.00")


def test_a_refund_in_the_shoppers_currency_is_converted_at_its_refunded_lines_rate() -> None:
    refund = ShopifyRefund.model_validate(shape("shopify_refund_multi_currency.json"))
    assert refund_to_refund(refund).refund.amount == Decimal("54.00")  # 50.00 EUR x 54.00/50.00


def test_a_foreign_refund_without_lines_to_tell_the_rate_is_taken_as_sent() -> None:
    refund = shape("shopify_refund_multi_currency.json")
    refund["refund_line_items"] = []
    assert refund_to_refund(ShopifyRefund.model_validate(refund)).refund.amount == Decimal("50.00")


def test_a_refund_inside_the_order_is_converted_at_the_orders_own_rate() -> None:
    body = shape("shopify_order_multi_currency.json")
    refund = shape("shopify_refund_multi_currency.json")
    refund["refund_line_items"] = []  # only the order can tell the rate now
    body.update(financial_status="partially_refunded", refunds=[refund])
    [converted] = shopify(body).refunds
    assert converted.amount == Decimal("54.00")  # 50.00 EUR x 118.80 USD / 110.00 EUR


# ---- BigCommerce: the store's default currency ------------------------------------------------------


def bigcommerce(**changes: Any) -> Any:
    body = copy.deepcopy(shape("bigcommerce_order_multi_currency.json"))
    body.update(changes)
    fetched = BcFetchedOrder(
        order=BcOrder.model_validate(body),
        products=[BcOrderProduct.model_validate(p) for p in shape("bigcommerce_order_multi_currency_products.json")],
    )
    return order_to_order(fetched, "USD")


def test_an_order_in_another_currency_is_converted_at_its_own_rate() -> None:
    order = bigcommerce()
    assert (order.currency_code, order.order_total, order.tax_total, order.shipping_total) == (
        "USD",
        Decimal("110.00"),
        Decimal("19.13"),
        Decimal("10.00"),
    )
    assert [line.price for line in order.lines] == [Decimal("50.00")]


@pytest.mark.parametrize(
    "changes",
    [
        {"store_default_currency_code": ""},  # multi-currency off: the docs' example sends ""
        {"store_default_currency_code": "EUR"},  # paid in the default currency
        {"store_default_to_transactional_exchange_rate": ""},
        {"store_default_to_transactional_exchange_rate": "0"},
        {"store_default_to_transactional_exchange_rate": "1e-999999"},
    ],
)
def test_without_a_usable_rate_the_order_stays_in_the_currency_it_was_paid_in(changes: dict[str, Any]) -> None:
    order = bigcommerce(**changes)
    assert (order.currency_code, order.order_total) == ("EUR", Decimal("101.20"))
