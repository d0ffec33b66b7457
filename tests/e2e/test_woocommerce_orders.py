"""WooCommerce orders through the local API: signed order.* deliveries (events/woocommerce_order_created.json)
published, applied by order_status and written to the Mailchimp emulator. The Mailchimp order after each
step of the lifecycle, the status changes that fire notifications (each once, in order), and what must
never happen: a late pending after paid, a duplicate write, a lost order."""

from __future__ import annotations

import copy
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.platforms.signatures import sign_base64_hmac

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
TIMEOUT = (3.05, 30)
USER_AGENT = "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)"


def new_woo_store(**options: Any) -> RegisteredStore:
    return register_store("woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com/", **options)


@pytest.fixture
def woo_store(runner: LocalRunner) -> RegisteredStore:
    return new_woo_store()


def new_order(**changes: Any) -> dict[str, Any]:
    order = json.loads((EVENTS / "woocommerce_order_created.json").read_text(encoding="utf-8"))
    order["id"] = int(uuid.uuid4().int % 10**9) + 1
    order["customer_id"] = int(uuid.uuid4().int % 10**7) + 1
    order.update(changes)
    return order


def at(minute: int) -> str:
    return f"2025-03-14T14:{minute:02d}:00"


def parcel(number: str, tracking_id: str, day: int) -> dict[str, Any]:
    return {
        "tracking_provider": "canada-post",
        "custom_tracking_provider": "",
        "custom_tracking_link": f"https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}",
        "tracking_number": number,
        "date_shipped": str(1741996800 + day * 86400),
        "tracking_id": tracking_id,
    }


def with_tracking(order: dict[str, Any], parcels: list[dict[str, Any]]) -> dict[str, Any]:
    order = copy.deepcopy(order)
    meta = [m for m in order["meta_data"] if m["key"] != "_wc_shipment_tracking_items"]
    order["meta_data"] = [*meta, {"id": 9200, "key": "_wc_shipment_tracking_items", "value": parcels}]
    return order


def lifecycle(order: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """created (pending) -> paid -> partly shipped -> completed with tracking -> partly refunded -> refunded,
    as (topic, body) in WooCommerce's order."""
    first = parcel("7023210039414604", "a1b2c3d4e5f60718293a4b5c6d7e8f90", 1)
    second = parcel("7023210039414611", "0f9e8d7c6b5a49382716f5e4d3c2b1a0", 2)
    created = dict(copy.deepcopy(order), status="pending", date_modified_gmt=at(0))
    paid = dict(copy.deepcopy(created), status="processing", date_paid_gmt=at(5), date_modified_gmt=at(5))
    partly = dict(with_tracking(paid, [first]), date_modified_gmt=at(10))
    fulfilled = dict(
        with_tracking(partly, [first, second]), status="completed", date_completed_gmt=at(20), date_modified_gmt=at(20)
    )
    first_refund = {"id": 9001, "reason": "Tasse ébréchée", "total": "-13.25"}
    partly_refunded = dict(copy.deepcopy(fulfilled), refunds=[first_refund], date_modified_gmt=at(30))
    rest_refund = {"id": 9002, "reason": "", "total": "-50.00"}
    refunded = dict(
        copy.deepcopy(partly_refunded), status="refunded", refunds=[rest_refund, first_refund], date_modified_gmt=at(40)
    )
    return [
        ("order.created", created),
        ("order.updated", paid),
        ("order.updated", partly),
        ("order.updated", fulfilled),
        ("order.updated", partly_refunded),
        ("order.updated", refunded),
    ]


def deliver(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> requests.Response:
    """POST as WC_Webhook::deliver does: the JSON body, signed, with every X-WC-Webhook-* header (and a new
    delivery id each time, as WooCommerce makes one per delivery)."""
    raw = json.dumps(body).encode()
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": store.identity,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign_base64_hmac(store.webhook_secret, raw),
        "X-WC-Webhook-ID": "21",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return requests.post(f"{runner.url}/webhooks/woocommerce", data=raw, headers=headers, timeout=TIMEOUT)


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> None:
    response = deliver(runner, store, topic, body)
    assert response.status_code == 202, response.text


def mailchimp_order(reader: MailchimpReader, store: RegisteredStore, order_id: Any) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{store.store_id}/orders/{order_id}")


def test_the_whole_lifecycle_fires_each_notification_once_with_the_right_revenue(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    states = []
    for topic, body in lifecycle(order):
        send(runner, woo_store, topic, body)
        runner.wait_until_idle()
        held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
        assert held is not None
        states.append((held["financial_status"], held.get("fulfillment_status"), held["order_total"]))

    assert states == [
        ("pending", None, 63.25),
        ("paid", None, 63.25),
        ("paid", "shipped", 63.25),  # the first tracked parcel already fires the shipping confirmation
        ("paid", "shipped", 63.25),
        ("paid", "shipped", 50.0),  # partial refund: revenue drops, no refund e-mail
        ("refunded", "shipped", 0.0),
    ]
    assert mailchimp.order_status_history(woo_store.store_id, str(order["id"])) == [
        ("pending", None),
        ("paid", None),
        ("paid", "shipped"),
        ("refunded", "shipped"),
    ], "each notification fires once, in order"
    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held["tracking_number"] == "7023210039414611", "the latest parcel's tracking"
    assert held["tracking_carrier"] == "canada-post"
    assert held["tracking_code"] == "prec"
    assert not held.get("campaign_id"), "the sample's campaign is unknown to Mailchimp: dropped, order kept"
    assert held["order_url"] == f"{woo_store.identity}my-account/view-order/{order['id']}/"
    assert held["processed_at_foreign"].startswith("2025-03-14T14:05:00")
    assert not held.get("cancelled_at_foreign")
    assert held["promos"] == [{"code": "bienvenue5", "amount_discounted": 5.0, "type": "fixed"}]
    assert held["customer"]["email_address"] == "zoe.belanger@example.com"
    assert held["customer"]["opt_in_status"] is True


PLUGIN_CAMPAIGN_KEYS = ("mailchimp_woocommerce_campaign_id", "mailchimp_woocommerce_landing_site")


def attributed(order: dict[str, Any], *, core: str | None, plugin: bool) -> dict[str, Any]:
    """The order as a site records the visit: WooCommerce's own attribution (`core`: the session's entry
    URL), the Mailchimp plugin's meta (`plugin`), or both."""
    order = copy.deepcopy(order)
    meta = [m for m in order["meta_data"] if plugin or m["key"] not in PLUGIN_CAMPAIGN_KEYS]
    if core is not None:
        meta += [
            {"id": 9301, "key": "_wc_order_attribution_source_type", "value": "utm"},
            {"id": 9302, "key": "_wc_order_attribution_utm_source", "value": "mailchimp"},
            {"id": 9303, "key": "_wc_order_attribution_session_entry", "value": core},
        ]
    order["meta_data"] = meta
    return order


def test_core_order_attribution_reaches_the_mailchimp_order(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    mailchimp.add_campaign("5d2b8f9e1a")
    entry = f"{woo_store.identity}tasses/?utm_source=mailchimp&mc_cid=5d2b8f9e1a&mc_eid=0a1b2c3d4e&mc_tc=prec"
    order = attributed(new_order(status="processing", date_paid_gmt=at(1)), core=entry, plugin=False)

    send(runner, woo_store, "order.created", order)
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held is not None
    assert (held["campaign_id"], held["landing_site"], held["tracking_code"]) == ("5d2b8f9e1a", entry, "prec")


def test_without_core_attribution_the_plugins_campaign_is_used(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    mailchimp.add_campaign("3f8a1b2c4d")  # the campaign the sample's plugin meta names
    order = new_order(status="processing", date_paid_gmt=at(1))

    send(runner, woo_store, "order.created", attributed(order, core=None, plugin=True))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held is not None
    assert (held["campaign_id"], held["tracking_code"]) == ("3f8a1b2c4d", "prec")
    assert held["landing_site"].startswith("https://shop.example.com/boutique/?mc_cid=3f8a1b2c4d")


def test_a_visit_without_a_campaign_sends_only_its_landing_site(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    entry = f"{woo_store.identity}?utm_source=google&utm_medium=organic"
    order = attributed(new_order(status="processing", date_paid_gmt=at(1)), core=entry, plugin=False)

    send(runner, woo_store, "order.created", order)
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held is not None and held["landing_site"] == entry
    assert not held.get("campaign_id") and not held.get("tracking_code")


def test_created_then_cancelled_guest_order(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order(customer_id=0)
    send(runner, woo_store, "order.created", dict(order, date_modified_gmt=at(0)))
    runner.wait_until_idle()
    send(runner, woo_store, "order.updated", dict(order, status="cancelled", date_modified_gmt=at(3)))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held is not None
    assert held["financial_status"] == "cancelled"
    assert held["cancelled_at_foreign"].startswith("2025-03-14T14:03:00")
    assert held["order_total"] == 0
    assert held["customer"]["id"] == mailchimp_customer_id(order["billing"]["email"])
    assert mailchimp.order_status_history(woo_store.store_id, str(order["id"])) == [
        ("pending", None),
        ("cancelled", None),
    ]


def test_out_of_order_and_duplicated_deliveries_end_in_the_same_state(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    in_order_store, shuffled_store = new_woo_store(), new_woo_store()
    order = new_order()
    steps = lifecycle(order)
    for topic, body in steps:
        send(runner, in_order_store, topic, body)
        runner.wait_until_idle()
    deliveries = steps + steps[:3]  # WooCommerce fires some saves twice (created and updated, several hooks)
    random.Random(4).shuffle(deliveries)
    for topic, body in deliveries:
        send(runner, shuffled_store, topic, body)
    runner.wait_until_idle()

    expected = mailchimp_order(mailchimp_reader, in_order_store, order["id"])
    actual = mailchimp_order(mailchimp_reader, shuffled_store, order["id"])
    assert expected is not None and actual is not None
    keys = ("financial_status", "fulfillment_status", "order_total", "tracking_number", "lines", "promos")
    assert {k: actual.get(k) for k in keys} == {k: expected.get(k) for k in keys}
    history = mailchimp.order_status_history(shuffled_store.store_id, str(order["id"]))
    assert ("pending", None) not in history[1:], "a late pending never follows paid"
    assert len(history) == len(set(history)), "no notification fires twice"


def test_trashed_then_restored_order_leaves_and_comes_back(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order(status="processing", date_paid_gmt=at(1), date_modified_gmt=at(1))
    send(runner, woo_store, "order.created", order)
    runner.wait_until_idle()
    assert mailchimp_order(mailchimp_reader, woo_store, order["id"]) is not None

    send(runner, woo_store, "order.deleted", {"id": order["id"]})
    runner.wait_until_idle()
    assert mailchimp_order(mailchimp_reader, woo_store, order["id"]) is None

    # Untrashing saves the order, so the restored copy is newer than the deletion.
    restored_at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    send(runner, woo_store, "order.restored", dict(order, date_modified_gmt=restored_at))
    runner.wait_until_idle()
    held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
    assert held is not None and held["financial_status"] == "paid"


def test_pending_then_paid_store_gets_both_the_confirmation_and_the_invoice(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = new_woo_store(pending_then_paid=True)
    order = new_order(status="processing", date_paid_gmt=at(1), date_modified_gmt=at(1))
    send(runner, store, "order.created", order)
    runner.wait_until_idle()

    assert mailchimp.order_status_history(store.store_id, str(order["id"])) == [("pending", None), ("paid", None)]


def test_an_unknown_status_is_refused_naming_the_field_and_how_to_map_it(
    runner: LocalRunner, woo_store: RegisteredStore
) -> None:
    response = deliver(runner, woo_store, "order.updated", new_order(status="awaiting-pickup"))

    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("status:") and "WOOCOMMERCE_STATUS_MAP" in message


def test_a_storm_of_429_and_500_still_lands_every_order(
    runner: LocalRunner, woo_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    orders = [new_order(status="processing", date_paid_gmt=at(2), date_modified_gmt=at(2)) for _ in range(5)]
    mailchimp.set_faults(rate_429=0.25, rate_500=0.15, seed=11)
    for order in orders:
        send(runner, woo_store, "order.created", order)
    runner.wait_until_idle(timeout=90)
    mailchimp.set_faults()

    for order in orders:
        held = mailchimp_order(mailchimp_reader, woo_store, order["id"])
        assert held is not None and held["financial_status"] == "paid"
