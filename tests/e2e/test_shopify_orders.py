"""Shopify orders through the local API (and through Shopify's EventBridge delivery): the Mailchimp
order after each lifecycle, the sequence of status changes that fire notifications, and what must
never happen (a late pending after paid, a duplicate write, a lost order)."""

from __future__ import annotations

import copy
import json
import random
import uuid
from pathlib import Path
from typing import Any

import requests

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import history_order
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.harness import MailchimpReader, RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"


def new_order() -> dict[str, Any]:
    order = json.loads((EVENTS / "shopify_order_body.json").read_text())
    order.update(id=int(uuid.uuid4().int % 10**12), cart_token=uuid.uuid4().hex, checkout_token=uuid.uuid4().hex)
    order["customer"]["id"] = int(uuid.uuid4().int % 10**12)
    return order


def at(minute: int) -> str:
    return f"2025-03-14T10:{minute:02d}:00-04:00"


def lifecycle(order: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """created (pending) -> paid -> partially fulfilled -> fulfilled with tracking -> partially refunded
    -> refunded, as (topic, payload) in Shopify's order."""
    created = dict(copy.deepcopy(order), financial_status="pending", updated_at=at(0))
    paid = dict(copy.deepcopy(created), financial_status="paid", updated_at=at(5))
    first_parcel = {
        "id": 4401,
        "order_id": order["id"],
        "status": "success",
        "tracking_company": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "created_at": at(10),
    }
    partly = dict(copy.deepcopy(paid), fulfillment_status="partial", fulfillments=[first_parcel], updated_at=at(10))
    second_parcel = dict(
        first_parcel,
        id=4402,
        tracking_number="1Z999AA10123456799",
        tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456799",
        created_at=at(20),
    )
    fulfilled = dict(
        copy.deepcopy(partly),
        fulfillment_status="fulfilled",
        fulfillments=[first_parcel, second_parcel],
        updated_at=at(20),
    )
    first_refund = {
        "id": 901,
        "order_id": order["id"],
        "created_at": at(30),
        "transactions": [{"kind": "refund", "status": "success", "amount": "19.99"}],
    }
    partly_refunded = dict(
        copy.deepcopy(fulfilled), financial_status="partially_refunded", refunds=[first_refund], updated_at=at(30)
    )
    rest_refund = {
        "id": 902,
        "order_id": order["id"],
        "created_at": at(40),
        "transactions": [{"kind": "refund", "status": "success", "amount": "46.58"}],
    }
    refunded = dict(
        copy.deepcopy(partly_refunded),
        financial_status="refunded",
        refunds=[first_refund, rest_refund],
        updated_at=at(40),
    )
    return [
        ("orders/create", created),
        ("orders/paid", paid),
        ("orders/partially_fulfilled", partly),
        ("orders/fulfilled", fulfilled),
        ("orders/updated", partly_refunded),
        ("orders/updated", refunded),
    ]


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any], event_id: str | None = None):  # type: ignore[no-untyped-def]
    response = send_shopify(
        runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode(), event_id=event_id
    )
    assert response.status_code == 202, response.text
    return response


def mailchimp_order(reader: MailchimpReader, store: RegisteredStore, order_id: Any) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{store.store_id}/orders/{order_id}")


def test_the_whole_lifecycle_fires_each_notification_once_with_the_right_revenue(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    states = []
    for topic, payload in lifecycle(order):
        send(runner, shopify_store, topic, payload)
        runner.wait_until_idle()
        held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
        assert held is not None
        states.append((held["financial_status"], held.get("fulfillment_status"), held["order_total"]))

    assert states == [
        ("pending", None, 66.57),
        ("paid", None, 66.57),
        ("paid", "shipped", 66.57),
        ("paid", "shipped", 66.57),
        ("paid", "shipped", 46.58),  # partial refund: revenue drops, no refund e-mail
        ("refunded", "shipped", 0.0),
    ]
    history = mailchimp.order_status_history(shopify_store.store_id, str(order["id"]))
    assert history == [
        ("pending", None),
        ("paid", None),
        ("paid", "shipped"),
        ("refunded", "shipped"),
    ], "each notification fires once, in order"
    held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
    assert held["tracking_number"] == "1Z999AA10123456799", "the latest parcel's tracking"
    assert held["tracking_carrier"] == "UPS"
    assert not held.get("campaign_id"), "the sample's campaign is unknown to Mailchimp: dropped, order kept"
    assert held["tracking_code"] == "prec"
    assert held["processed_at_foreign"].startswith("2025-03-14T09:31:09")
    assert not held.get("cancelled_at_foreign")
    assert held["promos"] == [{"code": "WELCOME5", "amount_discounted": 5.0, "type": "fixed"}]
    assert held["customer"]["email_address"] == "jane.doe@example.com"


def test_created_then_cancelled(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    send(runner, shopify_store, "orders/create", dict(order, updated_at=at(0)))
    send(
        runner,
        shopify_store,
        "orders/cancelled",
        dict(order, financial_status="voided", cancelled_at=at(3), updated_at=at(3)),
    )
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
    assert held["financial_status"] == "cancelled"
    assert held["cancelled_at_foreign"].startswith("2025-03-14T10:03")
    assert held["order_total"] == 0
    assert mailchimp.order_status_history(shopify_store.store_id, str(order["id"])) == [
        ("pending", None),
        ("cancelled", None),
    ]


def test_out_of_order_and_duplicated_deliveries_end_in_the_same_state(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    in_order_store, shuffled_store = register_store("shopify"), register_store("shopify")
    order = new_order()
    steps = lifecycle(order)
    for topic, payload in steps:
        send(runner, in_order_store, topic, payload)
        runner.wait_until_idle()
    deliveries = [(topic, payload, str(uuid.uuid4())) for topic, payload in steps]
    deliveries += deliveries[:3]  # Shopify delivers some twice, with the same event id
    random.Random(4).shuffle(deliveries)
    for topic, payload, event_id in deliveries:
        send(runner, shuffled_store, topic, payload, event_id=event_id)
    runner.wait_until_idle()

    expected = mailchimp_order(mailchimp_reader, in_order_store, order["id"])
    actual = mailchimp_order(mailchimp_reader, shuffled_store, order["id"])
    keys = ("financial_status", "fulfillment_status", "order_total", "tracking_number", "lines", "promos")
    assert {k: actual.get(k) for k in keys} == {k: expected.get(k) for k in keys}
    history = mailchimp.order_status_history(shuffled_store.store_id, str(order["id"]))
    assert ("pending", None) not in history[1:], "a late pending never follows paid"


def test_standalone_fulfillment_and_refund_topics_merge_into_the_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    send(runner, shopify_store, "orders/paid", dict(order, financial_status="paid", updated_at=at(5)))
    runner.wait_until_idle()
    send(
        runner,
        shopify_store,
        "fulfillments/create",
        {
            "id": 77,
            "order_id": order["id"],
            "status": "success",
            "tracking_company": "DHL",
            "tracking_number": "JD014600006281230704",
            "tracking_url": "https://dhl.example/JD014600006281230704",
            "created_at": at(8),
        },
    )
    send(
        runner,
        shopify_store,
        "refunds/create",
        {
            "id": 88,
            "order_id": order["id"],
            "created_at": at(9),
            "transactions": [{"kind": "refund", "status": "success", "amount": "10.00"}],
        },
    )
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
    assert held["fulfillment_status"] == "shipped"
    assert held["tracking_number"] == "JD014600006281230704"
    assert held["order_total"] == 56.57
    assert held["financial_status"] == "paid"


def test_the_order_ends_the_shoppers_abandoned_carts(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    checkout = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text())
    checkout.update(token=order["checkout_token"], cart_token=order["cart_token"], updated_at=at(0))
    checkout["customer"]["id"] = order["customer"]["id"]
    other = dict(copy.deepcopy(checkout), token=uuid.uuid4().hex, cart_token=uuid.uuid4().hex)
    for body in (checkout, other):
        response = send_shopify(
            runner.url,
            shopify_store.webhook_secret,
            "checkouts/update",
            shopify_store.identity,
            json.dumps(body).encode(),
        )
        assert response.status_code == 202
    runner.wait_until_idle()
    carts = f"/ecommerce/stores/{shopify_store.store_id}/carts"
    assert mailchimp_reader.resource(f"{carts}/{checkout['cart_token']}") is not None
    assert mailchimp_reader.resource(f"{carts}/{other['cart_token']}") is not None

    send(runner, shopify_store, "orders/create", dict(order, financial_status="paid", updated_at=at(5)))
    runner.wait_until_idle()

    assert mailchimp_reader.resource(f"{carts}/{checkout['cart_token']}") is None
    assert mailchimp_reader.resource(f"{carts}/{other['cart_token']}") is None
    # A checkout event that was in flight cannot bring the cart back.
    response = send_shopify(
        runner.url,
        shopify_store.webhook_secret,
        "checkouts/update",
        shopify_store.identity,
        json.dumps(dict(checkout, updated_at=at(4))).encode(),
    )
    assert response.status_code == 202
    runner.wait_until_idle()
    assert mailchimp_reader.resource(f"{carts}/{checkout['cart_token']}") is None


def test_pending_then_paid_store_gets_both_the_confirmation_and_the_invoice(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = register_store("shopify", pending_then_paid=True)
    order = new_order()
    send(runner, store, "orders/create", dict(order, financial_status="paid", updated_at=at(1)))
    runner.wait_until_idle()

    assert mailchimp.order_status_history(store.store_id, str(order["id"])) == [("pending", None), ("paid", None)]


def test_a_stale_campaign_and_unknown_products_do_not_lose_the_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    order["landing_site"] = "/?mc_cid=deleted-campaign"
    order["line_items"][0].update(product_id=int(uuid.uuid4().int % 10**9), variant_id=int(uuid.uuid4().int % 10**9))
    send(runner, shopify_store, "orders/create", dict(order, financial_status="paid", updated_at=at(1)))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
    assert held is not None
    assert not held.get("campaign_id")
    product = mailchimp_reader.resource(
        f"/ecommerce/stores/{shopify_store.store_id}/products/{order['line_items'][0]['product_id']}"
    )
    assert product is not None and product["title"] == "Trail Running Socks"


def test_a_storm_of_429_and_500_still_lands_every_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    orders = [new_order() for _ in range(5)]
    mailchimp.set_faults(rate_429=0.25, rate_500=0.15, seed=11)
    for order in orders:
        send(runner, shopify_store, "orders/create", dict(order, financial_status="paid", updated_at=at(2)))
    runner.wait_until_idle(timeout=90)
    mailchimp.set_faults()

    for order in orders:
        held = mailchimp_order(mailchimp_reader, shopify_store, order["id"])
        assert held is not None and held["financial_status"] == "paid"


def test_eventbridge_delivery_and_webhook_give_identical_mailchimp_orders(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    via_webhook, via_eventbridge = register_store("shopify"), register_store("shopify")
    order = new_order()
    for topic, payload in lifecycle(order):
        send(runner, via_webhook, topic, payload)
        # The whole partner path: on the partner bus, through its rule, to the receiver as EventBridge invokes it.
        put = requests.post(
            f"{runner.url}/_local/shopify/eventbridge",
            data=json.dumps(payload),
            headers={"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": via_eventbridge.identity},
            timeout=10,
        )
        assert put.status_code == 202, put.text
    runner.wait_until_idle()

    by_webhook = mailchimp_order(mailchimp_reader, via_webhook, order["id"])
    by_eventbridge = mailchimp_order(mailchimp_reader, via_eventbridge, order["id"])
    assert without_bookkeeping(by_eventbridge) == without_bookkeeping(by_webhook)


def test_an_unusable_eventbridge_delivery_is_dead_lettered_with_the_reason(
    runner: LocalRunner, shopify_store: RegisteredStore
) -> None:
    broken = new_order()
    del broken["line_items"]

    answer = runner.invoke("WebhooksFunction", eventbridge_delivery(shopify_store, "orders/create", broken))

    assert answer["status"] == "dead_lettered"
    assert "line_items" in answer["reason"]
    sqs = runner.client("sqs")
    url = runner.queue_url("PartnerEventsDeadLetterQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )
    kept = [m for m in messages if str(broken["id"]) in m["Body"]]
    assert kept and "line_items" in kept[0]["MessageAttributes"]["error_message"]["StringValue"]


def test_the_partner_bus_route_refuses_what_shopify_would_never_put_on_it(runner: LocalRunner) -> None:
    url = f"{runner.url}/_local/shopify/eventbridge"

    no_topic = requests.post(url, data="{}", headers={"X-Shopify-Shop-Domain": "x.myshopify.com"}, timeout=10)
    not_json = requests.post(
        url, data="{", headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "x"}, timeout=10
    )

    assert (no_topic.status_code, not_json.status_code) == (400, 400)
    assert "X-Shopify-Topic" in no_topic.json()["message"] and "JSON" in not_json.json()["message"]


def without_bookkeeping(value: Any) -> Any:
    """Mailchimp's own timestamps and links, at any depth, differ between two stores written a second apart."""
    if isinstance(value, dict):
        return {
            k: without_bookkeeping(v)
            for k, v in value.items()
            if k not in {"created_at", "updated_at", "_links", "store_id"}
        }
    if isinstance(value, list):
        return [without_bookkeeping(item) for item in value]
    return value


def eventbridge_delivery(store: RegisteredStore, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What Shopify puts on the partner event source for one webhook."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "shopifyWebhook",
        "source": "aws.partner/shopify.com/123456/commerce-sync",
        "account": "123456789012",
        "time": "2025-03-14T14:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "payload": payload,
            "metadata": {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": store.identity,
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-API-Version": "2025-01",
                "X-Shopify-Triggered-At": "2025-03-14T14:00:00Z",
            },
        },
    }


def test_a_fulfillment_of_an_order_never_seen_reads_the_order_from_the_shop(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    # The orders/create webhook was lost; the shop holds the order, shipped. Then its fulfillments/create arrives.
    token = "shpat_never_seen"
    with ShopifyEmulator(f"ns-{uuid.uuid4().hex[:8]}.myshopify.com", token) as shop:
        customer = {"id": 5_551, "email": "never.seen@example.com", "first_name": "Nev"}
        order_id = 770_000 + random.randrange(10_000)
        fulfillment = {
            "id": 91,
            "order_id": order_id,
            "status": "success",
            "tracking_company": "DHL",
            "tracking_number": "NEVERSEEN-1",
            "created_at": at(8),
            "updated_at": at(8),
        }
        shop.put_order(
            history_order(
                order_id, customer, at(8), fulfillment_status="fulfilled", fulfillments=[fulfillment], created_at=at(1)
            )
        )
        store = register_store(
            "shopify",
            identity=shop.shop_domain,
            platform_api_url=shop.base_url,
            platform_api_credentials={"access_token": token},
        )

        send(runner, store, "fulfillments/create", fulfillment)
        runner.wait_until_idle()

        held = mailchimp_order(mailchimp_reader, store, order_id)
        assert held is not None, "the order was read from the shop and written"
        assert held["financial_status"] == "paid" and held["fulfillment_status"] == "shipped"
        assert held["tracking_number"] == "NEVERSEEN-1"
        assert [r["path"] for r in shop.requests if r["path"].endswith(f"/orders/{order_id}.json")], "read by its id"
        events = mailchimp.order_status_events(store.store_id, str(order_id))
        assert [event.statuses for event in events][-1][-1] == "shipped", events
