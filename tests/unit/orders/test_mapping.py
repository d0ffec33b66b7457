"""Order mapping and the status table: which Mailchimp status, total and tracking each order gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.canonical.model import FinancialStatus, MarketingConsent, Order, Refund, Shipment
from commerce_sync.orders.mapping import to_mailchimp_order
from commerce_sync.orders.sync import merge
from commerce_sync.platforms.order_statuses import (
    UnknownStatus,
    bigcommerce_status,
    shopify_status,
    woocommerce_status,
)
from commerce_sync.platforms.shopify.orders import ShopifyOrder, order_to_order

from tests.paths import EVENTS

SAMPLE = EVENTS / "shopify_order_body.json"


def order(**changes: Any) -> Order:
    base: dict[str, Any] = {
        "id": "o1",
        "customer": {"id": "c1", "email": "Buyer@Example.com"},
        "currency_code": "EUR",
        "order_total": "100.00",
        "financial_status": "paid",
        "lines": [
            {"id": "l1", "product_id": "p1", "variant_id": "v1", "product_title": "P", "quantity": 1, "price": "100.00"}
        ],
    }
    base.update(changes)
    return Order.model_validate(base)


@pytest.mark.parametrize(
    ("financial", "fulfillment", "cancelled", "expected"),
    [
        ("pending", None, False, ("pending", False)),
        ("authorized", None, False, ("pending", False)),
        ("paid", None, False, ("paid", False)),
        ("paid", "partial", False, ("paid", True)),
        ("paid", "fulfilled", False, ("paid", True)),
        ("partially_refunded", "fulfilled", False, ("paid", True)),
        ("refunded", None, False, ("refunded", False)),
        ("voided", None, False, ("cancelled", False)),
        ("paid", None, True, ("cancelled", False)),
    ],
)
def test_shopify_statuses(financial: str, fulfillment: str | None, cancelled: bool, expected: tuple[str, bool]) -> None:
    status = shopify_status(financial, fulfillment, cancelled)
    assert (status.financial.value if status.financial else None, status.shipped) == expected


def test_every_bigcommerce_status_id_is_mapped_and_incomplete_is_not_an_order() -> None:
    assert [bigcommerce_status(i).financial for i in range(15)].count(None) == 1
    assert bigcommerce_status(0).financial is None
    assert bigcommerce_status(2).shipped and bigcommerce_status(10).shipped
    with pytest.raises(UnknownStatus):
        bigcommerce_status(15)


def test_woocommerce_custom_statuses_come_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownStatus, match="WOOCOMMERCE_STATUS_MAP"):
        woocommerce_status("shipped-out")
    monkeypatch.setenv("WOOCOMMERCE_STATUS_MAP", json.dumps({"shipped-out": "paid+shipped", "quote": None}))
    assert woocommerce_status("wc-shipped-out").shipped
    assert woocommerce_status("quote").financial is None
    assert woocommerce_status("processing").financial is FinancialStatus.PAID


def test_partial_refund_lowers_revenue_and_keeps_paid() -> None:
    body = to_mailchimp_order(order(refunds=[{"id": "r1", "amount": "30.005"}])).body()
    assert body["financial_status"] == "paid"
    assert body["order_total"] == 69.99


def test_refunds_covering_the_total_make_it_refunded_with_no_revenue() -> None:
    body = to_mailchimp_order(order(refunds=[{"id": "r1", "amount": "60"}, {"id": "r2", "amount": "40"}])).body()
    assert body["financial_status"] == "refunded"
    assert body["order_total"] == 0


def test_cancelled_only_when_really_cancelled() -> None:
    paid = to_mailchimp_order(order()).body()
    assert "cancelled_at_foreign" not in paid
    cancelled = to_mailchimp_order(order(cancelled_at="2025-03-14T10:00:00Z")).body()
    assert cancelled["financial_status"] == "cancelled"
    assert cancelled["cancelled_at_foreign"].startswith("2025-03-14T10:00:00")
    assert cancelled["order_total"] == 0


def test_shipped_orders_carry_the_latest_tracked_parcel() -> None:
    shipped = order(
        shipped=True,
        shipments=[
            {"id": "a", "tracking_number": "OLD", "tracking_carrier": "UPS", "shipped_at": "2025-03-14T10:00:00Z"},
            {
                "id": "b",
                "tracking_number": "NEW",
                "tracking_carrier": "DHL",
                "tracking_url": "https://t/NEW",
                "shipped_at": "2025-03-15T10:00:00Z",
            },
            {"id": "c"},
        ],
    )
    body = to_mailchimp_order(shipped).body()
    assert (body["fulfillment_status"], body["tracking_number"], body["tracking_carrier"]) == ("shipped", "NEW", "DHL")
    assert "fulfillment_status" not in to_mailchimp_order(order()).body()


def test_merge_is_a_union_by_id_so_repeats_change_nothing() -> None:
    base = order(refunds=[{"id": "r1", "amount": "10"}])
    once = merge(base, (Shipment(id="s1", tracking_number="T"),), (Refund(id="r2", amount=Decimal(5)),))
    twice = merge(once, (Shipment(id="s1", tracking_number="T"),), (Refund(id="r2", amount=Decimal(5)),))
    assert once == twice
    assert sorted(r.id for r in twice.refunds) == ["r1", "r2"]


def test_shopify_order_sample_maps_every_mailchimp_field_we_promise() -> None:
    payload = json.loads(SAMPLE.read_text())
    canonical = order_to_order(ShopifyOrder.model_validate(payload), MarketingConsent())
    body = to_mailchimp_order(canonical).body()
    assert body["id"] == str(payload["id"])
    assert body["customer"]["email_address"] == payload["email"].lower()
    assert body["financial_status"] == "pending"
    assert body["order_total"] == 66.57
    assert body["tax_total"] == 3.6 and body["shipping_total"] == 8.0 and body["discount_total"] == 5.0
    assert body["tracking_code"] == "prec"
    assert body["campaign_id"] == "3f8a1b2c4d"
    assert body["landing_site"] == payload["landing_site"]
    assert body["order_url"] == payload["order_status_url"]
    assert body["processed_at_foreign"].startswith("2025-03-14T09:31:09")
    assert body["promos"] == [{"code": "WELCOME5", "amount_discounted": 5.0, "type": "fixed"}]
    assert body["shipping_address"]["postal_code"] == "04101"
    assert [line["product_variant_id"] for line in body["lines"]] == [
        str(item["variant_id"]) for item in payload["line_items"]
    ]
    assert canonical.cart_id == payload["cart_token"]
    assert payload["checkout_token"] in canonical.cart_references


def test_no_mc_tc_means_no_tracking_code() -> None:
    payload = json.loads(SAMPLE.read_text())
    payload["landing_site"] = "/?mc_cid=abc"
    canonical = order_to_order(ShopifyOrder.model_validate(payload), MarketingConsent())
    assert "tracking_code" not in to_mailchimp_order(canonical).body()


def test_naive_and_aware_times_compare() -> None:
    aware = order(processed_at=datetime(2025, 3, 14, 9, 0, tzinfo=UTC))
    assert to_mailchimp_order(aware).body()["processed_at_foreign"] == "2025-03-14T09:00:00+00:00"
