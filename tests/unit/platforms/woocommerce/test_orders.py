"""WooCommerce orders: the wc/v3 order (events/woocommerce_order_created.json) to canonical order events,
and what Mailchimp is then sent for it (statuses, custom statuses, refunds, tracking, coupons, guests)."""

from __future__ import annotations

import copy
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID, ConsentState, EventType, FinancialStatus, Order
from commerce_sync.orders.mapping import to_mailchimp_order
from commerce_sync.platforms.adapter import Normalised, WebhookRequest
from commerce_sync.platforms.lines import custom_item_variant_id
from commerce_sync.platforms.woocommerce.orders import WooOrder, order_to_order, tracking_shipments
from commerce_sync.platforms.woocommerce.webhooks import DEFAULT_CONSENT_META_KEYS, WooCommerceAdapter

from tests.paths import EVENTS

SITE = "https://shop.example.com/"
VERSION = "2025-03-14T13:18:05.000000Z"


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@pytest.fixture
def woo_store() -> Store:
    return Store(
        store_id="woo-shop",
        platform="woocommerce",
        identity=SITE,
        name="Café Ŝtelo",
        list_id="a1b2c3d4e5",
        currency_code="CAD",
        secret_id="commerce-sync/stores/woo-shop",
    )


@pytest.fixture(autouse=True)
def _no_custom_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WOOCOMMERCE_STATUS_MAP", raising=False)


def sample(**changes: Any) -> dict[str, Any]:
    body = json.loads((EVENTS / "woocommerce_order_created.json").read_text(encoding="utf-8"))
    body.update(copy.deepcopy(changes))
    return body


def with_meta(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    body["meta_data"] = [m for m in body["meta_data"] if m["key"] != key] + [{"id": 9900, "key": key, "value": value}]
    return body


def normalise(body: dict[str, Any] | bytes, store: Store, topic: str = "order.created", **headers: str) -> Normalised:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {
        "X-WC-Webhook-Source": SITE,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Delivery-ID": "5d41402abc4b2a76b9719d911017c592",
        **headers,
    }
    return WooCommerceAdapter().normalise(WebhookRequest("woocommerce", all_headers, raw), store)


def order_of(body: dict[str, Any], store: Store, topic: str = "order.updated") -> Order:
    result = normalise(body, store, topic)
    assert result.ignored_reason is None, result.ignored_reason
    [event] = result.events
    assert event.type is EventType.ORDER_UPDATED
    return event.order()


def mapped(body: dict[str, Any]) -> Order:
    return order_to_order(WooOrder.model_validate(body), DEFAULT_CONSENT_META_KEYS, SITE)


# ---- the sample, field by field ---------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["order.created", "order.updated", "order.restored"])
def test_order_topics_become_order_updated_named_by_id_and_modification(topic: str, woo_store: Store) -> None:
    [event] = normalise(sample(), woo_store, topic).events

    assert (event.type, event.entity_id, event.entity_version) == (EventType.ORDER_UPDATED, "727", VERSION)
    assert event.event_id == f"woocommerce:woo-shop:order:727:{VERSION}", "one save delivered twice is applied once"
    assert event.platform == "woocommerce" and event.store_id == "woo-shop"


def test_the_sample_maps_every_field_mailchimp_gets(woo_store: Store) -> None:
    order = order_of(sample(), woo_store)
    body = to_mailchimp_order(order).body()

    assert body["financial_status"] == "pending" and "fulfillment_status" not in body
    assert (body["order_total"], body["tax_total"], body["shipping_total"], body["discount_total"]) == (
        63.25,
        8.25,
        10.0,
        5.0,
    )
    assert body["currency_code"] == "CAD"
    assert body["customer"]["id"] == md5("zoe.belanger@example.com"), "a customer is keyed by its address"
    assert body["customer"]["email_address"] == "zoe.belanger@example.com"
    assert body["customer"]["opt_in_status"] is True
    assert order.customer.consent.source == "woocommerce:mailchimp_woocommerce_is_subscribed"
    assert [(x["id"], x["product_id"], x["product_variant_id"], x["quantity"], x["price"]) for x in body["lines"]] == [
        ("315", "191", "191", 2, 18.0),
        ("316", "204", "205", 1, 14.0),
    ]
    assert [line.get("discount") for line in body["lines"]] == [3.0, 2.0]
    assert (order.lines[1].product_title, order.lines[1].variant_title) == ("Sac en toile", "Sac en toile - Marine")
    assert body["promos"] == [{"code": "bienvenue5", "amount_discounted": 5.0, "type": "fixed"}]
    assert body["campaign_id"] == "3f8a1b2c4d"
    assert body["landing_site"].startswith("https://shop.example.com/boutique/?mc_cid=")
    assert body["tracking_code"] == "prec"
    assert body["cart_id"] == "3b9f6d2a8e1c4f7b9a0d5e2c7f1b3a6d"
    assert (
        body["order_url"]
        == "https://shop.example.com/commande/order-pay/727/?pay_for_order=true&key=wc_order_Qx7Lk2PzR9vNm"
    )
    assert body["processed_at_foreign"] == "2025-03-14T13:18:02+00:00"
    assert body["updated_at_foreign"] == "2025-03-14T13:18:05+00:00"
    assert body["billing_address"]["postal_code"] == "H2X 3K2"
    assert body["shipping_address"]["address1"] == "88 Avenue du Parc"


def test_a_paid_order_is_processed_when_paid_and_links_to_the_account_page(woo_store: Store) -> None:
    body = sample(status="processing", date_paid_gmt="2025-03-14T13:19:00", date_modified_gmt="2025-03-14T13:19:01")

    order = order_of(body, woo_store)

    assert order.financial_status is FinancialStatus.PAID
    assert order.processed_at is not None and order.processed_at.isoformat() == "2025-03-14T13:19:00+00:00"
    assert order.order_url == "https://shop.example.com/my-account/view-order/727/"


# ---- statuses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "financial", "shipped"),
    [
        ("pending", "pending", False),
        ("on-hold", "pending", False),
        ("processing", "paid", False),
        ("completed", "paid", True),
        ("wc-completed", "paid", True),
        ("cancelled", "cancelled", False),
        ("failed", "cancelled", False),
        ("refunded", "refunded", False),
        ("checkout-draft", None, False),
    ],
)
def test_each_woocommerce_status(status: str, financial: str | None, shipped: bool, woo_store: Store) -> None:
    order = order_of(sample(status=status), woo_store)

    assert (order.financial_status.value if order.financial_status else None, order.shipped) == (financial, shipped)


def test_custom_statuses_are_mapped_through_the_environment(woo_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WOOCOMMERCE_STATUS_MAP",
        json.dumps({"awaiting-shipment": "paid", "shipped-out": "paid+shipped", "quote": None}),
    )

    assert order_of(sample(status="awaiting-shipment"), woo_store).financial_status is FinancialStatus.PAID
    shipped = order_of(sample(status="wc-shipped-out"), woo_store)
    assert (shipped.financial_status, shipped.shipped) == (FinancialStatus.PAID, True)
    assert order_of(sample(status="quote"), woo_store).financial_status is None


def test_an_unknown_status_is_a_bad_request_that_says_how_to_map_it(woo_store: Store) -> None:
    with pytest.raises(BadRequest) as refused:
        normalise(sample(status="awaiting-pickup"), woo_store)

    assert refused.value.field == "status"
    message = str(refused.value)
    assert "awaiting-pickup" in message and "WOOCOMMERCE_STATUS_MAP" in message
    assert '{"awaiting-pickup": "paid"}' in message


def test_cancelled_orders_reach_mailchimp_cancelled_with_no_revenue(woo_store: Store) -> None:
    body = to_mailchimp_order(order_of(sample(status="cancelled"), woo_store)).body()

    assert (body["financial_status"], body["order_total"]) == ("cancelled", 0)
    assert body["cancelled_at_foreign"] == "2025-03-14T13:18:05+00:00"


# ---- refunds, tracking, coupons ---------------------------------------------------------------------


def test_refunds_are_positive_amounts_and_a_partial_one_keeps_paid(woo_store: Store) -> None:
    body = sample(status="completed", refunds=[{"id": 730, "reason": "Tasse ébréchée", "total": "-13.25"}])

    order = order_of(body, woo_store)
    sent = to_mailchimp_order(order).body()

    assert [(r.id, r.amount) for r in order.refunds] == [("refund-730", Decimal("13.25"))]
    assert (sent["financial_status"], sent["order_total"]) == ("paid", 50.0)


def test_refunds_covering_the_total_make_it_refunded(woo_store: Store) -> None:
    refunds = [{"id": 731, "total": "-50.00"}, {"id": 730, "total": "-13.25"}]

    sent = to_mailchimp_order(order_of(sample(status="refunded", refunds=refunds), woo_store)).body()

    assert (sent["financial_status"], sent["order_total"]) == ("refunded", 0)


def test_shipment_tracking_meta_becomes_shipments_and_ships_the_order(woo_store: Store) -> None:
    items = [
        {
            "tracking_provider": "canada-post",
            "custom_tracking_provider": "",
            "custom_tracking_link": "",
            "tracking_number": "7023210039414604",
            "date_shipped": "1742000000",
            "tracking_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        },
        {
            "tracking_provider": "",
            "custom_tracking_provider": "Purolator Express",
            "custom_tracking_link": "https://www.purolator.com/track/335588771144",
            "tracking_number": "335588771144",
            "date_shipped": "2025-03-16",
            "tracking_id": "0f9e8d7c6b5a49382716f5e4d3c2b1a0",
        },
        "not an object",
    ]
    body = with_meta(sample(status="processing"), "_wc_shipment_tracking_items", items)

    order = order_of(body, woo_store)
    sent = to_mailchimp_order(order).body()

    assert [(s.id, s.tracking_number, s.tracking_carrier) for s in order.shipments] == [
        ("tracking-a1b2c3d4e5f60718293a4b5c6d7e8f90", "7023210039414604", "canada-post"),
        ("tracking-0f9e8d7c6b5a49382716f5e4d3c2b1a0", "335588771144", "Purolator Express"),
    ]
    assert order.shipments[0].shipped_at is not None and order.shipments[0].shipped_at.isoformat().startswith(
        "2025-03-15T00:53:20"
    )
    assert order.shipped, "a tracked parcel left, even before the order is completed"
    assert (sent["fulfillment_status"], sent["tracking_number"], sent["tracking_url"]) == (
        "shipped",
        "335588771144",
        "https://www.purolator.com/track/335588771144",
    )


def test_tracking_entries_without_a_number_or_id_are_skipped() -> None:
    assert tracking_shipments([{"tracking_provider": "ups"}, {"tracking_number": "  "}]) == ()
    assert tracking_shipments("a:1:{...}") == ()
    assert [s.id for s in tracking_shipments({"0": {"tracking_number": "X1"}})] == ["tracking-X1"]


def test_coupons_are_fixed_promos_of_what_they_took_off(woo_store: Store) -> None:
    coupons = [
        {"id": 1, "code": "bienvenue5", "discount": "5.00", "discount_type": "fixed_cart"},
        {"id": 2, "code": "printemps10", "discount": "4.70", "discount_type": "percent"},
    ]

    order = order_of(sample(coupon_lines=coupons), woo_store)

    assert [(p.code, p.amount_discounted, p.type) for p in order.promos] == [
        ("bienvenue5", Decimal("5.00"), "fixed"),
        ("printemps10", Decimal("4.70"), "fixed"),
    ]


# ---- shoppers, carts, campaigns ---------------------------------------------------------------------


def test_a_guest_order_has_no_customer_id_and_the_billing_email(woo_store: Store) -> None:
    body = sample(customer_id=0, status="processing")
    body["meta_data"] = [m for m in body["meta_data"] if not m["key"].startswith("mailchimp_woocommerce")]

    order = order_of(body, woo_store)

    assert order.customer.id is None
    assert order.customer.email == "zoe.belanger@example.com"
    assert order.customer.consent.state is ConsentState.UNKNOWN
    assert order.order_url is None, "a paid guest order has no page the guest can open"
    assert order.campaign_id is None and order.tracking_code is None and order.landing_site is None
    assert to_mailchimp_order(order).body()["customer"]["id"] == md5("zoe.belanger@example.com")


def test_consent_denied_on_the_order_meta(woo_store: Store) -> None:
    body = with_meta(sample(), "mailchimp_woocommerce_is_subscribed", "0")

    assert order_of(body, woo_store).customer.consent.state is ConsentState.DENIED


def test_the_campaign_falls_back_to_the_landing_sites_mc_cid(woo_store: Store) -> None:
    body = sample()
    body["meta_data"] = [m for m in body["meta_data"] if m["key"] != "mailchimp_woocommerce_campaign_id"]
    body = with_meta(body, "mailchimp_woocommerce_landing_site", "https://shop.example.com/?mc_cid=abc123")

    order = order_of(body, woo_store)

    assert (order.campaign_id, order.tracking_code) == ("abc123", None)


PLUGIN_KEYS = ("mailchimp_woocommerce_campaign_id", "mailchimp_woocommerce_landing_site")
SESSION_ENTRY = "_wc_order_attribution_session_entry"


def core_attribution(session_entry: str, keep_plugin: bool = False) -> dict[str, Any]:
    """The sample as WooCommerce 8.5+ saves it: its own attribution meta, and (unless kept) none of the
    Mailchimp plugin's."""
    body = sample()
    if not keep_plugin:
        body["meta_data"] = [m for m in body["meta_data"] if m["key"] not in PLUGIN_KEYS]
    body["meta_data"] += [
        {"id": 9601, "key": "_wc_order_attribution_utm_source", "value": "mailchimp"},
        {"id": 9602, "key": SESSION_ENTRY, "value": session_entry},
        {"id": 9603, "key": "_wc_order_attribution_session_pages", "value": "4"},
    ]
    return body


def test_core_order_attribution_gives_campaign_tracking_and_landing_site(woo_store: Store) -> None:
    entry = "https://shop.example.com/cafe/?utm_source=mailchimp&mc_cid=9c1e5b7a2f&mc_eid=77aa01bc2d&mc_tc=prec"

    body = to_mailchimp_order(order_of(core_attribution(entry), woo_store)).body()

    assert (body["campaign_id"], body["tracking_code"], body["landing_site"]) == ("9c1e5b7a2f", "prec", entry)


def test_core_order_attribution_without_mc_tc_is_not_tracked(woo_store: Store) -> None:
    order = order_of(core_attribution("https://shop.example.com/?mc_cid=9c1e5b7a2f"), woo_store)

    assert (order.campaign_id, order.tracking_code) == ("9c1e5b7a2f", None)


def test_core_order_attribution_wins_over_the_plugins_meta(woo_store: Store) -> None:
    entry = "https://shop.example.com/?mc_cid=9c1e5b7a2f"

    order = order_of(core_attribution(entry, keep_plugin=True), woo_store)

    assert (order.campaign_id, order.landing_site) == ("9c1e5b7a2f", entry)
    assert order.tracking_code == "prec", "the plugin's landing site carried mc_tc, and a tracked visit stays so"


def test_the_plugins_campaign_fills_in_when_core_saw_a_visit_without_one(woo_store: Store) -> None:
    entry = "https://shop.example.com/boutique/"

    order = order_of(core_attribution(entry, keep_plugin=True), woo_store)

    assert (order.campaign_id, order.landing_site) == ("3f8a1b2c4d", entry)


@pytest.mark.parametrize("entry", ["(none)", "", "  "])
def test_an_unknown_session_entry_leaves_the_plugins_landing_site(entry: str, woo_store: Store) -> None:
    order = order_of(core_attribution(entry, keep_plugin=True), woo_store)

    assert order.landing_site is not None and order.landing_site.startswith("https://shop.example.com/boutique/")
    assert (order.campaign_id, order.tracking_code) == ("3f8a1b2c4d", "prec")


def test_no_attribution_anywhere_means_no_campaign(woo_store: Store) -> None:
    order = order_of(core_attribution("https://shop.example.com/?utm_source=google"), woo_store)

    assert (order.campaign_id, order.tracking_code) == (None, None)
    assert order.landing_site == "https://shop.example.com/?utm_source=google"


def test_every_cart_the_plugin_recorded_ends_with_the_order(woo_store: Store) -> None:
    body = with_meta(sample(), "_commerce_sync_cart_ids", ["first-cart", "second-cart"])

    order = order_of(body, woo_store)

    assert (order.cart_id, order.cart_references) == ("second-cart", ("first-cart",))


def test_without_the_carts_plugin_the_cart_hash_is_the_cart_id(woo_store: Store) -> None:
    body = sample()
    body["meta_data"] = [m for m in body["meta_data"] if m["key"] != "_commerce_sync_cart_ids"]

    assert order_of(body, woo_store).cart_id == "8c1f0e2d9b7a6c5d4e3f2a1b0c9d8e7f"


def test_a_deleted_product_line_is_a_variant_of_the_custom_items_product() -> None:
    body = sample()
    body["line_items"][0].update(product_id=0, variation_id=0)
    name, sku = body["line_items"][0]["name"], body["line_items"][0]["sku"] or None

    line = mapped(body).lines[0]

    assert (line.product_id, line.variant_id, line.product_title, line.variant_title) == (
        CUSTOM_ITEMS_PRODUCT_ID,
        custom_item_variant_id(name, sku),
        "Custom items",
        name,
    )


def test_a_zero_price_line_is_kept_and_an_odd_one_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    body = sample()
    first, second = body["line_items"][0], copy.deepcopy(body["line_items"][0])
    first.update(subtotal="0.00", total="0.00", price=0)
    second.update(id=999, quantity=-2, subtotal="-10.00", total="-10.00")
    body["line_items"].append(second)

    lines = mapped(body).lines

    assert [(line.id, line.price) for line in lines] == [(str(first["id"]), Decimal("0.00"))] + [
        (line.id, line.price) for line in lines[1:]
    ]
    assert "999" not in [line.id for line in lines]
    assert '"reason":"negative_quantity"' in capsys.readouterr().out


# ---- deletions and deliveries that are acknowledged -------------------------------------------------


def test_order_deleted_becomes_order_deleted_named_by_the_delivery(woo_store: Store) -> None:
    body = json.loads((EVENTS / "woocommerce_order_deleted.json").read_text(encoding="utf-8"))

    [event] = normalise(body, woo_store, "order.deleted").events

    assert (event.type, event.entity_id) == (EventType.ORDER_DELETED, "727")
    assert event.deleted().id == "727"
    assert event.event_id == "woocommerce:5d41402abc4b2a76b9719d911017c592"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": "trash"}, "trash"),
        ({"line_items": []}, "no line items"),
        ({"billing": {"first_name": "Zoë", "email": ""}}, "e-mail"),
    ],
)
def test_orders_mailchimp_cannot_hold_are_acknowledged(changes: dict[str, Any], reason: str, woo_store: Store) -> None:
    result = normalise(sample(**changes), woo_store)

    assert result.events == ()
    assert result.ignored_reason is not None and reason in result.ignored_reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total": "-1.00"}, "total"),
        ({"currency": None}, "currency"),
        ({"date_modified_gmt": "", "date_created_gmt": ""}, "date_modified_gmt"),
        ({"billing": {"email": "not-an-address"}}, "email"),
    ],
)
def test_an_unusable_order_is_a_bad_request_naming_the_field(
    changes: dict[str, Any], field: str, woo_store: Store
) -> None:
    with pytest.raises(BadRequest) as refused:
        normalise(sample(**changes), woo_store)
    assert refused.value.field == field


def test_an_order_whose_every_line_is_left_out_is_acknowledged_and_skipped(
    woo_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    body = sample()
    for line in body["line_items"]:
        line.update(quantity=-1)

    result = normalise(body, woo_store)

    assert not result.events
    assert result.ignored_reason == f"order {body['id']} has no line Mailchimp can hold (each line's reason is logged)"
    # One LineSkipped metric per line (Powertools prints them on stdout).
    assert capsys.readouterr().out.count('"LineSkipped":[1.0]') == len(body["line_items"])
