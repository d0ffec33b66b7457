"""BigCommerce orders: the mapping of a fetched v2 order (events/bigcommerce_order*.json) to the canonical
order and what Mailchimp is then sent, and the order and shipment scopes fetching from the BigCommerce
emulator on 127.0.0.1 (real HTTP, no mocks)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID, ConsentState, EventType, FinancialStatus
from commerce_sync.orders.mapping import to_mailchimp_order
from commerce_sync.platforms.adapter import StoreApi, WebhookRequest
from commerce_sync.platforms.bigcommerce.models import BcSubscriber
from commerce_sync.platforms.bigcommerce.orders import (
    BcFetchedOrder,
    BcOrder,
    BcOrderCoupon,
    BcOrderProduct,
    BcRefund,
    BcShipment,
    order_to_order,
)
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.http import HttpPolicy, StoreApiUnavailable
from commerce_sync.platforms.lines import custom_item_variant_id

from emulators.bigcommerce import BigCommerceEmulator
from tests.paths import EVENTS

STORE_HASH = "k7x2m9q4ab"
ACCESS_TOKEN = "bc-access-token-Zr71"
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=2.0, retries=2, backoff_factor=0.01, backoff_max=0.05, max_wait=1)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def fetched(
    order: dict[str, Any] | None = None,
    products: list[dict[str, Any]] | None = None,
    shipments: list[dict[str, Any]] | None = None,
    coupons: list[dict[str, Any]] | None = None,
    refunds: list[dict[str, Any]] | None = None,
    consents: list[str] | None = None,
    **changes: Any,
) -> BcFetchedOrder:
    body = order or sample("bigcommerce_order.json")
    body.update(changes)
    return BcFetchedOrder(
        order=BcOrder.model_validate(body),
        products=[BcOrderProduct.model_validate(p) for p in (products or sample("bigcommerce_order_products.json"))],
        shipments=[BcShipment.model_validate(s) for s in shipments or []],
        coupons=[
            BcOrderCoupon.model_validate(c)
            for c in (sample("bigcommerce_order_coupons.json") if coupons is None else coupons)
        ],
        refunds=[BcRefund.model_validate(r) for r in refunds or []],
        subscriber=BcSubscriber(email="zoe.martin-lefevre@example.com", consents=consents)
        if consents is not None
        else None,
    )


@pytest.fixture
def bc_store() -> Store:
    return Store(
        store_id="bc-shop",
        platform="bigcommerce",
        identity=STORE_HASH,
        name="Atelier Zoë",
        list_id="a1b2c3d4e5",
        currency_code="EUR",
        secret_id="commerce-sync/stores/bc-shop",
        domain="www.atelier-zoe.example",
    )


@pytest.fixture
def adapter() -> BigCommerceAdapter:
    return BigCommerceAdapter(policy=FAST)


@pytest.fixture
def emulator() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(STORE_HASH, ACCESS_TOKEN) as running:
        yield running


@pytest.fixture
def api(emulator: BigCommerceEmulator) -> StoreApi:
    return StoreApi(base_url=emulator.base_url, credentials={"access_token": ACCESS_TOKEN})


def delivery(body: dict[str, Any]) -> WebhookRequest:
    return WebhookRequest(platform="bigcommerce", headers={}, body=json.dumps(body).encode())


def webhook(scope: str = "store/order/statusUpdated", **data: Any) -> dict[str, Any]:
    body = sample("bigcommerce_order_status_updated_webhook.json")
    body["scope"] = scope
    if data:
        body["data"] = data
    return body


def put_sample_order(emulator: BigCommerceEmulator, **changes: Any) -> dict[str, Any]:
    emulator.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": ["marketing_newsletter"]})
    return emulator.put_order(
        {**sample("bigcommerce_order.json"), **changes},
        products=sample("bigcommerce_order_products.json"),
        coupons=sample("bigcommerce_order_coupons.json"),
    )


# ----- mapping -------------------------------------------------------------------------------------------


def test_the_sample_maps_every_field_mailchimp_gets() -> None:
    order = order_to_order(fetched(consents=["marketing_newsletter"]), "EUR", "www.atelier-zoe.example")
    body = to_mailchimp_order(order).body()

    assert (body["id"], body["financial_status"], body["currency_code"]) == ("250", "paid", "EUR")
    assert "fulfillment_status" not in body
    assert (body["order_total"], body["tax_total"], body["shipping_total"], body["discount_total"]) == (
        66.49,
        11.08,
        9.6,
        5.0,
    )
    assert body["customer"]["id"] == md5("zoe.martin-lefevre@example.com"), "a customer is keyed by its address"
    assert body["customer"]["email_address"] == "zoe.martin-lefevre@example.com"
    assert (body["customer"]["first_name"], body["customer"]["opt_in_status"]) == ("Zoë", True)
    assert [(x["id"], x["product_id"], x["product_variant_id"], x["quantity"], x["price"]) for x in body["lines"]] == [
        ("108", "191", "362", 2, 19.5),
        ("109", "204", "377", 1, 12.9),
        ("110", "230", "401", 1, 9.99),
    ]
    assert body["lines"][0]["discount"] == 5.0
    assert body["promos"] == [{"code": "PRINTEMPS5", "amount_discounted": 5.0, "type": "fixed"}]
    assert body["cart_id"] == "a4c3e1b2-7d6f-4e8a-9b0c-1d2e3f4a5b6c"
    assert body["order_url"] == "https://www.atelier-zoe.example/account.php?action=view_order&order_id=250"
    assert body["processed_at_foreign"] == "2025-03-14T13:18:02+00:00"
    assert body["updated_at_foreign"] == "2025-03-14T13:19:40+00:00"
    assert (body["billing_address"]["country_code"], body["billing_address"]["postal_code"]) == ("FR", "69001")


@pytest.mark.parametrize(
    ("status_id", "financial", "shipped"),
    [
        (0, None, False),
        (1, "pending", False),
        (2, "paid", True),
        (3, "paid", True),
        (4, "refunded", False),
        (5, "cancelled", False),
        (6, "cancelled", False),
        (7, "pending", False),
        (8, "paid", False),
        (9, "paid", False),
        (10, "paid", True),
        (11, "paid", False),
        (12, "pending", False),
        (13, "paid", False),
        (14, "paid", False),
    ],
)
def test_each_status_id(status_id: int, financial: str | None, shipped: bool) -> None:
    order = order_to_order(fetched(status_id=status_id))

    assert (order.financial_status.value if order.financial_status else None, order.shipped) == (financial, shipped)


def test_shipments_carry_tracking_and_ship_the_order() -> None:
    shipments = sample("bigcommerce_order_shipments.json")
    second = dict(
        copy.deepcopy(shipments[0]),
        id=13,
        tracking_number="1Z999AA10123456799",
        tracking_carrier="",
        shipping_provider="ups",
        tracking_link="https://www.ups.com/track?tracknum=1Z999AA10123456799",
        date_created="Sun, 16 Mar 2025 10:00:00 +0000",
    )

    order = order_to_order(fetched(shipments=[shipments[0], second], status_id=3))
    body = to_mailchimp_order(order).body()

    assert [(s.id, s.tracking_number, s.tracking_carrier) for s in order.shipments] == [
        ("shipment-12", "1Z999AA10123456784", "ups"),
        ("shipment-13", "1Z999AA10123456799", "ups"),
    ]
    assert (body["fulfillment_status"], body["tracking_number"]) == ("shipped", "1Z999AA10123456799")
    assert body["shipping_address"]["address1"] == "4 Place Bellecour"
    assert order_to_order(fetched(shipments=shipments, status_id=11)).shipped, "a parcel left"


def test_a_partial_refund_keeps_paid_and_lowers_the_revenue() -> None:
    refunds = sample("bigcommerce_order_refunds.json")["data"]

    order = order_to_order(fetched(refunds=refunds, status_id=14, refunded_amount="16.4900"))
    body = to_mailchimp_order(order).body()

    assert [(r.id, r.amount) for r in order.refunds] == [("refund-1", Decimal("16.49"))]
    assert (body["financial_status"], body["order_total"]) == ("paid", 50.0)


def test_a_full_refund_is_refunded_with_no_revenue() -> None:
    refunds = [*sample("bigcommerce_order_refunds.json")["data"], {"id": 2, "total_amount": 50.0}]

    body = to_mailchimp_order(order_to_order(fetched(refunds=refunds, status_id=4, refunded_amount="66.49"))).body()

    assert (body["financial_status"], body["order_total"]) == ("refunded", 0)


def test_a_refunded_amount_without_listed_refunds_is_one_refund() -> None:
    order = order_to_order(fetched(status_id=14, refunded_amount="10.0000"))

    assert [(r.id, r.amount) for r in order.refunds] == [("refunded-amount", Decimal("10.00"))]


def test_a_cancelled_order_has_no_revenue_and_a_cancellation_time() -> None:
    body = to_mailchimp_order(order_to_order(fetched(status_id=5))).body()

    assert (body["financial_status"], body["order_total"]) == ("cancelled", 0)
    assert body["cancelled_at_foreign"] == "2025-03-14T13:19:40+00:00"


def test_percentage_coupons_are_percentage_promos() -> None:
    coupons = [{"id": 8, "code": "DIX", "amount": "10.0000", "type": 1, "discount": 6.19}]

    order = order_to_order(fetched(coupons=coupons))

    assert [(p.code, p.amount_discounted, p.type) for p in order.promos] == [("DIX", Decimal("6.19"), "percentage")]


def test_a_guest_order_has_no_customer_id_and_no_order_page() -> None:
    order = order_to_order(fetched(customer_id=0), "EUR", "www.atelier-zoe.example")

    assert order.customer.id is None
    assert order.customer.email == "zoe.martin-lefevre@example.com"
    assert order.customer.consent.state is ConsentState.UNKNOWN
    assert order.order_url is None
    assert to_mailchimp_order(order).body()["customer"]["id"] == md5("zoe.martin-lefevre@example.com")


def test_a_subscriber_without_the_newsletter_consent_is_denied() -> None:
    assert order_to_order(fetched(consents=[])).customer.consent.state is ConsentState.DENIED


@pytest.mark.parametrize(
    ("ticked", "consents", "state", "source"),
    [
        (True, None, ConsentState.GRANTED, "bigcommerce_checkout"),  # a guest with no subscriber record
        (True, [], ConsentState.GRANTED, "bigcommerce_checkout"),  # the subscriber's "no" does not undo it
        (False, ["marketing_newsletter"], ConsentState.GRANTED, "bigcommerce_subscriber"),
        (True, ["marketing_newsletter"], ConsentState.GRANTED, "bigcommerce_checkout"),
        (False, [], ConsentState.DENIED, "bigcommerce_subscriber"),
        (False, None, ConsentState.UNKNOWN, None),  # an unticked box is no answer
        (None, None, ConsentState.UNKNOWN, None),  # an older order without the field
    ],
)
def test_consent_is_granted_when_the_checkout_box_or_the_subscriber_says_so(
    ticked: bool | None, consents: list[str] | None, state: ConsentState, source: str | None
) -> None:
    order = sample("bigcommerce_order.json")
    if ticked is None:
        del order["is_email_opt_in"]
    else:
        order["is_email_opt_in"] = ticked

    mapped = order_to_order(fetched(order, consents=consents))

    assert (mapped.customer.consent.state, mapped.customer.consent.source) == (state, source)
    customer = to_mailchimp_order(mapped).body()["customer"]
    assert customer["opt_in_status"] is (state is ConsentState.GRANTED)


def test_the_currency_is_the_one_paid_in_else_the_stores() -> None:
    assert order_to_order(fetched(currency_code="USD", default_currency_code="EUR")).currency_code == "EUR"
    assert order_to_order(fetched(currency_code="", default_currency_code=None), "CHF").currency_code == "CHF"


def test_every_order_product_is_a_line_free_children_and_custom_products_included() -> None:
    products = sample("bigcommerce_order_products.json")
    # A pick-list child at price 0 (the shape of the docs' order products example), a custom product and a
    # gift certificate (product_id 0).
    products[1].update(parent_order_product_id=108, price_inc_tax="0.0000")
    products[2].update(product_id=0, variant_id=0, name="Engraving", sku="")
    gift = {**products[2], "id": 111, "name": "Gift Certificate", "type": "giftcertificate", "sku": ""}

    lines = order_to_order(fetched(products=[*products, gift])).lines

    assert [(x.id, x.product_id, x.variant_id == x.product_id, x.price) for x in lines] == [
        ("108", "191", False, Decimal("19.50")),
        ("109", "204", False, Decimal("0.00")),
        ("110", CUSTOM_ITEMS_PRODUCT_ID, False, lines[2].price),
        ("111", CUSTOM_ITEMS_PRODUCT_ID, False, lines[3].price),
    ]
    assert lines[2].variant_id == custom_item_variant_id("Engraving", None)
    assert lines[3].variant_id == custom_item_variant_id("Gift Certificate", None)
    assert (lines[2].product_title, lines[2].variant_title) == ("Custom items", "Engraving")


def test_an_odd_order_product_is_left_out_and_the_rest_syncs(capsys: pytest.CaptureFixture[str]) -> None:
    products = sample("bigcommerce_order_products.json")
    products[1].update(price_inc_tax="-5.0000")

    lines = order_to_order(fetched(products=products)).lines

    assert [x.id for x in lines] == ["108", "110"]
    assert '"reason":"negative_price"' in capsys.readouterr().out.replace(" ", "")


def test_rfc2822_and_iso_dates_are_read_and_other_text_is_refused() -> None:
    assert BcOrder.model_validate({**sample("bigcommerce_order.json")}).date_modified.isoformat() == (
        "2025-03-14T13:19:40+00:00"
    )
    iso = BcOrder.model_validate({**sample("bigcommerce_order.json"), "date_modified": "2025-03-14T13:19:40Z"})
    assert iso.date_modified.isoformat() == "2025-03-14T13:19:40+00:00"
    with pytest.raises(ValueError, match="date_modified"):
        BcOrder.model_validate({**sample("bigcommerce_order.json"), "date_modified": "last Tuesday"})


# ----- the scopes, against the emulator ------------------------------------------------------------------


def test_status_updated_fetches_the_whole_order_and_publishes_order_updated(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator)
    body = sample("bigcommerce_order_status_updated_webhook.json")

    [event] = adapter.normalise(delivery(body), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.ORDER_UPDATED, "250")
    assert event.event_id == f"bigcommerce:bc-shop:{body['hash']}:store/order/statusUpdated:{body['created_at']}"
    assert event.entity_version == "2025-03-14T13:19:40.000000Z"
    order = event.order()
    assert order.financial_status is FinancialStatus.PAID
    assert order.customer.consent.state is ConsentState.GRANTED
    assert [(r["path"].split(f"/stores/{STORE_HASH}")[1], r["status"]) for r in emulator.requests] == [
        ("/v2/orders/250", 200),
        ("/v2/orders/250/products", 200),
        ("/v2/orders/250/shipments", 204),
        ("/v2/orders/250/coupons", 200),
        ("/v3/customers/subscribers", 200),
    ]


@pytest.mark.parametrize("scope", ["store/order/created", "store/order/updated", "store/order/refund/created"])
def test_every_order_scope_fetches_the_order(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi, scope: str
) -> None:
    put_sample_order(emulator)

    [event] = adapter.normalise(delivery(webhook(scope, type="order", id=250)), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.ORDER_UPDATED, "250")


@pytest.mark.parametrize("scope", ["store/shipment/created", "store/shipment/updated", "store/shipment/deleted"])
def test_a_shipment_scope_fetches_its_order_with_every_shipment(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi, scope: str
) -> None:
    put_sample_order(emulator, status_id=2)
    emulator.put_order_shipments(250, sample("bigcommerce_order_shipments.json"))
    body = sample("bigcommerce_order_shipment_created_webhook.json")
    body["scope"] = scope

    [event] = adapter.normalise(delivery(body), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.ORDER_UPDATED, "250")
    assert [s.tracking_number for s in event.order().shipments] == ["1Z999AA10123456784"]
    assert event.entity_version == "2025-03-15T08:02:11.000000Z", "the parcel is newer than date_modified"


def test_refunds_are_read_only_when_the_order_has_some(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator, status_id=14, refunded_amount="16.4900")
    emulator.put_order_refunds(250, sample("bigcommerce_order_refunds.json")["data"])

    [event] = adapter.normalise(delivery(webhook()), bc_store, api).events

    assert [(r.id, r.amount) for r in event.order().refunds] == [("refund-1", Decimal("16.49"))]
    assert event.entity_version == "2025-03-17T09:12:44.000000Z"
    assert f"/stores/{STORE_HASH}/v3/orders/250/payment_actions/refunds" in [r["path"] for r in emulator.requests]


def test_products_are_read_page_by_page(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    template = sample("bigcommerce_order_products.json")[1]
    put_sample_order(emulator)
    emulator.put_order_products(250, [dict(template, id=1000 + i) for i in range(260)])

    [event] = adapter.normalise(delivery(webhook()), bc_store, api).events

    assert len(event.order().lines) == 260
    pages = [r["query"].get("page") for r in emulator.requests if r["path"].endswith("/products")]
    assert pages == ["1", "2"]


def test_an_order_that_is_gone_is_acknowledged_and_ignored(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    normalised = adapter.normalise(delivery(webhook()), bc_store, api)

    assert normalised.events == ()
    assert normalised.ignored_reason == "order 250 no longer exists on BigCommerce"


def test_archived_is_order_deleted_without_a_read(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    body = webhook("store/order/archived", type="order", id=250)
    body["created_at"] = int(datetime.now(UTC).timestamp()) - 60  # a recent delivery: its time is believed

    [event] = adapter.normalise(delivery(body), bc_store, api).events

    assert (event.type, event.deleted().id) == (EventType.ORDER_DELETED, "250")
    second = datetime.fromtimestamp(body["created_at"], UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert event.entity_version == f"{second}.999999Z"
    assert emulator.requests == []


def test_an_archived_order_read_by_a_late_update_is_deleted(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator, is_deleted=True)

    [event] = adapter.normalise(delivery(webhook()), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.ORDER_DELETED, "250")


def test_other_order_scopes_are_acknowledged(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    normalised = adapter.normalise(
        delivery(webhook("store/order/message/created", type="order", id=250)), bc_store, api
    )

    assert normalised.ignored_reason and "store/order/message/created" in normalised.ignored_reason
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"products": []}, "no products"), ({"billing_email": ""}, "e-mail")],
)
def test_orders_mailchimp_cannot_hold_are_acknowledged(
    adapter: BigCommerceAdapter,
    bc_store: Store,
    emulator: BigCommerceEmulator,
    api: StoreApi,
    changes: dict[str, Any],
    reason: str,
) -> None:
    order = sample("bigcommerce_order.json")
    order["billing_address"]["email"] = changes.get("billing_email", order["billing_address"]["email"])
    emulator.put_order(order, products=changes.get("products", sample("bigcommerce_order_products.json")))

    normalised = adapter.normalise(delivery(webhook()), bc_store, api)

    assert normalised.events == () and normalised.ignored_reason and reason in normalised.ignored_reason


def test_an_unknown_status_id_is_a_bad_request_naming_it(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator, status_id=15)

    with pytest.raises(BadRequest) as refused:
        adapter.normalise(delivery(webhook()), bc_store, api)
    assert refused.value.field == "status_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (webhook("store/shipment/created", type="shipment", id=12), "data.orderId"),
        (webhook("store/order/updated", type="order"), "data.id"),
    ],
)
def test_an_unusable_delivery_is_a_bad_request_naming_the_field(
    adapter: BigCommerceAdapter, bc_store: Store, api: StoreApi, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        adapter.normalise(delivery(body), bc_store, api)
    assert refused.value.field == field


def test_a_fetched_order_we_cannot_use_is_a_bad_request_naming_the_field(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator, total_inc_tax="-1.00")

    with pytest.raises(BadRequest) as refused:
        adapter.normalise(delivery(webhook()), bc_store, api)
    assert refused.value.field == "order.total_inc_tax"


def test_an_api_that_keeps_failing_is_unavailable(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    put_sample_order(emulator)
    emulator.set_faults(rate_500=1.0)

    with pytest.raises(StoreApiUnavailable, match="500"):
        adapter.normalise(delivery(webhook()), bc_store, api)
    assert len(emulator.requests) == 1 + FAST.retries
