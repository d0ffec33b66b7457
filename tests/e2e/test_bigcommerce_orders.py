"""BigCommerce orders through the local API: thin order and shipment deliveries, the whole order fetched
from the BigCommerce emulator (events/bigcommerce_order*.json), published, applied by order_status and
written to the Mailchimp emulator. The Mailchimp order after each step of the lifecycle, the status
changes that fire notifications (each once, in order), and what must never happen: a late pending after
paid, a duplicate write, a lost order."""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCESS_TOKEN = "bc-e2e-orders-token"
TIMEOUT = (3.05, 30)
ORDER_ID = 250


@dataclass
class Shop:
    """One BigCommerce store: its emulator and its registration."""

    emulator: BigCommerceEmulator
    store: RegisteredStore

    @property
    def store_id(self) -> str:
        return self.store.store_id


def open_shop(emulator: BigCommerceEmulator) -> Shop:
    emulator.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": ["marketing_newsletter"]})
    store = register_store(
        "bigcommerce",
        identity=emulator.store_hash,
        currency_code="EUR",
        platform_api_url=emulator.base_url,
        platform_api_credentials={"access_token": ACCESS_TOKEN},
        domain="www.atelier-zoe.example",
    )
    return Shop(emulator, store)


@pytest.fixture
def shop(runner: LocalRunner) -> Iterator[Shop]:
    with BigCommerceEmulator(f"o{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as emulator:
        yield open_shop(emulator)


@pytest.fixture
def other_shop(runner: LocalRunner) -> Iterator[Shop]:
    """A second store (a store hash names one store, so it has an emulator of its own)."""
    with BigCommerceEmulator(f"o{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as emulator:
        yield open_shop(emulator)


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def at(minute: int) -> str:
    return f"Fri, 14 Mar 2025 14:{minute:02d}:00 +0000"


@dataclass
class Step:
    """A state of the order on BigCommerce and the delivery announcing it."""

    order: dict[str, Any]
    shipments: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    scope: str
    data: dict[str, Any]

    def apply(self, emulator: BigCommerceEmulator) -> None:
        emulator.put_order(
            self.order,
            products=sample("bigcommerce_order_products.json"),
            shipments=self.shipments,
            coupons=sample("bigcommerce_order_coupons.json"),
            refunds=self.refunds,
        )


def lifecycle(order_id: int = ORDER_ID) -> list[Step]:
    """created (pending) -> paid -> partly shipped -> shipped with tracking -> partly refunded -> refunded."""
    base = dict(sample("bigcommerce_order.json"), id=order_id)
    order_data = {"type": "order", "id": order_id}
    parcel = sample("bigcommerce_order_shipments.json")[0]
    first = dict(copy.deepcopy(parcel), id=12, order_id=order_id, date_created=at(10))
    second = dict(
        copy.deepcopy(parcel),
        id=13,
        order_id=order_id,
        tracking_number="1Z999AA10123456799",
        tracking_link="https://www.ups.com/track?tracknum=1Z999AA10123456799",
        date_created=at(20),
    )
    refund = sample("bigcommerce_order_refunds.json")["data"][0]
    first_refund = dict(refund, order_id=order_id, created="2025-03-14T14:30:00+00:00")
    rest_refund = dict(refund, id=2, order_id=order_id, total_amount=50.0, created="2025-03-14T14:40:00+00:00")

    def state(minute: int, status_id: int, **changes: Any) -> dict[str, Any]:
        return dict(copy.deepcopy(base), status_id=status_id, date_modified=at(minute), **changes)

    return [
        Step(state(0, 1, status="Pending"), [], [], "store/order/created", order_data),
        Step(state(5, 11, status="Awaiting Fulfillment"), [], [], "store/order/statusUpdated", order_data),
        Step(
            state(10, 3, status="Partially Shipped"),
            [first],
            [],
            "store/shipment/created",
            {"type": "shipment", "id": 12, "orderId": order_id},
        ),
        Step(
            state(20, 2, status="Shipped"),
            [first, second],
            [],
            "store/shipment/created",
            {"type": "shipment", "id": 13, "orderId": order_id},
        ),
        Step(
            state(30, 14, status="Partially Refunded", refunded_amount="16.4900"),
            [first, second],
            [first_refund],
            "store/order/refund/created",
            {**order_data, "refund": {"refund_id": 1}},
        ),
        Step(
            state(40, 4, status="Refunded", refunded_amount="66.4900"),
            [first, second],
            [first_refund, rest_refund],
            "store/order/statusUpdated",
            order_data,
        ),
    ]


def thin(shop: Shop, scope: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "scope": scope,
        "store_id": "1025646",
        "data": data,
        "hash": uuid.uuid4().hex + "0" * 8,
        "created_at": int(time.time()),
        "producer": f"stores/{shop.emulator.store_hash}",
    }


def deliver(runner: LocalRunner, shop: Shop, body: dict[str, Any]) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "BigCommerce-Webhooks/1.0",
        "X-Commerce-Sync-Token": shop.store.webhook_secret,
    }
    return requests.post(
        f"{runner.url}/webhooks/bigcommerce", data=json.dumps(body).encode(), headers=headers, timeout=TIMEOUT
    )


def send(runner: LocalRunner, shop: Shop, body: dict[str, Any]) -> None:
    response = deliver(runner, shop, body)
    assert response.status_code == 202, response.text


def mailchimp_order(reader: MailchimpReader, shop: Shop, order_id: Any = ORDER_ID) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{shop.store_id}/orders/{order_id}")


def test_the_whole_lifecycle_fires_each_notification_once_with_the_right_revenue(
    runner: LocalRunner, shop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    states = []
    for step in lifecycle():
        step.apply(shop.emulator)
        send(runner, shop, thin(shop, step.scope, step.data))
        runner.wait_until_idle()
        held = mailchimp_order(mailchimp_reader, shop)
        assert held is not None
        states.append((held["financial_status"], held.get("fulfillment_status"), held["order_total"]))

    assert states == [
        ("pending", None, 66.49),
        ("paid", None, 66.49),
        ("paid", "shipped", 66.49),
        ("paid", "shipped", 66.49),
        ("paid", "shipped", 50.0),  # partial refund: revenue drops, no refund e-mail
        ("refunded", "shipped", 0.0),
    ]
    assert mailchimp.order_status_history(shop.store_id, str(ORDER_ID)) == [
        ("pending", None),
        ("paid", None),
        ("paid", "shipped"),
        ("refunded", "shipped"),
    ], "each notification fires once, in order"
    held = mailchimp_order(mailchimp_reader, shop)
    assert held["tracking_number"] == "1Z999AA10123456799", "the latest parcel's tracking"
    assert (held["tracking_carrier"], held["currency_code"]) == ("ups", "EUR")
    assert held["order_url"] == "https://www.atelier-zoe.example/account.php?action=view_order&order_id=250"
    assert held["promos"] == [{"code": "PRINTEMPS5", "amount_discounted": 5.0, "type": "fixed"}]
    assert held["customer"]["email_address"] == "zoe.martin-lefevre@example.com"
    assert held["customer"]["opt_in_status"] is True
    assert not held.get("cancelled_at_foreign")


def test_created_then_cancelled(
    runner: LocalRunner, shop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    created = lifecycle()[0]
    created.apply(shop.emulator)
    send(runner, shop, thin(shop, created.scope, created.data))
    runner.wait_until_idle()
    cancelled = dict(created.order, status_id=5, status="Cancelled", date_modified=at(3))
    shop.emulator.put_order(cancelled)
    send(runner, shop, thin(shop, "store/order/statusUpdated", created.data))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None
    assert (held["financial_status"], held["order_total"]) == ("cancelled", 0)
    assert held["cancelled_at_foreign"].startswith("2025-03-14T14:03:00")
    assert mailchimp.order_status_history(shop.store_id, str(ORDER_ID)) == [("pending", None), ("cancelled", None)]


def member_status(reader: MailchimpReader, shop: Shop, email: str) -> str | None:
    member = reader.resource(f"/lists/{shop.store.store.list_id}/members/{email}")
    return member["status"] if member else None


def guest_order(shop: Shop, email: str, *, ticked: bool) -> dict[str, Any]:
    """The paid sample as a guest with `email` placed it, newsletter box ticked or not: put on BigCommerce,
    and the delivery that announces it returned."""
    step = lifecycle()[1]
    guest = dict(step.order, customer_id=0, is_email_opt_in=ticked)
    guest["billing_address"] = dict(guest["billing_address"], email=email)
    Step(guest, [], [], step.scope, step.data).apply(shop.emulator)
    return thin(shop, step.scope, step.data)


@pytest.mark.parametrize("subscriber_consents", [None, []], ids=["no-subscriber", "subscriber-without-consent"])
def test_a_shopper_who_ticked_the_box_at_checkout_is_subscribed(
    runner: LocalRunner, shop: Shop, mailchimp_reader: MailchimpReader, subscriber_consents: list[str] | None
) -> None:
    email = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    if subscriber_consents is not None:  # a subscriber record whose answer is "no"
        shop.emulator.put_subscriber({"email": email, "consents": subscriber_consents})

    send(runner, shop, guest_order(shop, email, ticked=True))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None
    assert held["customer"]["opt_in_status"] is True
    assert member_status(mailchimp_reader, shop, email) == "subscribed"


def test_an_unticked_box_does_not_take_back_the_newsletter_subscription(
    runner: LocalRunner, shop: Shop, mailchimp_reader: MailchimpReader
) -> None:
    step = lifecycle()[1]  # the sample: is_email_opt_in false, its shopper a newsletter subscriber
    assert step.order["is_email_opt_in"] is False
    step.apply(shop.emulator)

    send(runner, shop, thin(shop, step.scope, step.data))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None and held["customer"]["opt_in_status"] is True
    assert member_status(mailchimp_reader, shop, "zoe.martin-lefevre@example.com") == "subscribed"


def test_neither_the_box_nor_a_subscription_leaves_the_shopper_transactional(
    runner: LocalRunner, shop: Shop, mailchimp_reader: MailchimpReader
) -> None:
    email = f"guest-{uuid.uuid4().hex[:8]}@example.com"

    send(runner, shop, guest_order(shop, email, ticked=False))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None and held["customer"]["opt_in_status"] is False
    assert member_status(mailchimp_reader, shop, email) == "transactional"


def test_late_shuffled_and_repeated_deliveries_end_in_the_same_state(
    runner: LocalRunner,
    shop: Shop,
    other_shop: Shop,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    in_order, shuffled = shop, other_shop
    steps = lifecycle()
    for step in steps:
        step.apply(in_order.emulator)
        send(runner, in_order, thin(in_order, step.scope, step.data))

    # The order moves on while its deliveries lag: each is sent at a later step, shuffled, and some twice
    # (BigCommerce redelivers the same payload, hash included).
    pending = [thin(shuffled, step.scope, step.data) for step in steps]
    pending += random.Random(7).sample(pending, 3)
    rng = random.Random(4)
    rng.shuffle(pending)
    for step in steps:
        step.apply(shuffled.emulator)
        for _ in range(rng.randint(0, 3)):
            if pending:
                send(runner, shuffled, pending.pop())
    for body in pending:
        send(runner, shuffled, body)
    runner.wait_until_idle()

    expected = mailchimp_order(mailchimp_reader, in_order)
    actual = mailchimp_order(mailchimp_reader, shuffled)
    assert expected is not None and actual is not None
    keys = ("financial_status", "fulfillment_status", "order_total", "tracking_number", "lines", "promos")
    assert {k: actual.get(k) for k in keys} == {k: expected.get(k) for k in keys}
    history = mailchimp.order_status_history(shuffled.store_id, str(ORDER_ID))
    assert ("pending", None) not in history[1:], "a late pending never follows paid"
    assert len(history) == len(set(history)), "no notification fires twice"


def test_gone_incomplete_and_archived_orders(
    runner: LocalRunner, shop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order_data = {"type": "order", "id": ORDER_ID}
    gone = deliver(runner, shop, thin(shop, "store/order/updated", order_data))
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"status": "ignored", "reason": f"order {ORDER_ID} no longer exists on BigCommerce"}

    created = lifecycle()[0]
    created.apply(shop.emulator)
    shop.emulator.put_order(dict(created.order, status_id=0, status="Incomplete"))
    send(runner, shop, thin(shop, "store/order/created", order_data))
    shop.emulator.put_order(dict(created.order, status_id=11, date_modified=at(5)))
    send(runner, shop, thin(shop, "store/order/statusUpdated", order_data))
    runner.wait_until_idle()
    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None and held["financial_status"] == "paid"
    assert mailchimp.order_status_history(shop.store_id, str(ORDER_ID)) == [("paid", None)], (
        "an abandoned checkout (status 0) is not an order: nothing was written for it"
    )

    send(runner, shop, thin(shop, "store/order/archived", order_data))
    runner.wait_until_idle()
    assert mailchimp_order(mailchimp_reader, shop) is None


def test_a_storm_of_429_and_500_still_lands_every_order(
    runner: LocalRunner, shop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order_ids = list(range(301, 306))
    for order_id in order_ids:
        lifecycle(order_id)[1].apply(shop.emulator)
    mailchimp.set_faults(rate_429=0.25, rate_500=0.15, seed=11)
    for order_id in order_ids:
        send(runner, shop, thin(shop, "store/order/statusUpdated", {"type": "order", "id": order_id}))
    runner.wait_until_idle(timeout=90)
    mailchimp.set_faults()

    for order_id in order_ids:
        held = mailchimp_order(mailchimp_reader, shop, order_id)
        assert held is not None and held["financial_status"] == "paid"


def test_a_shipment_of_an_order_never_seen_brings_the_whole_order(
    runner: LocalRunner, shop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    # The order's created and paid deliveries were lost; the store holds it shipped. Then a shipment arrives.
    shipped = lifecycle()[3]
    shipped.apply(shop.emulator)

    send(runner, shop, thin(shop, shipped.scope, shipped.data))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, shop)
    assert held is not None, "the order was read from the store and written"
    assert (held["financial_status"], held.get("fulfillment_status"), held["order_total"]) == ("paid", "shipped", 66.49)
    assert held["tracking_number"] == "1Z999AA10123456799"
    assert mailchimp.order_status_history(shop.store_id, str(ORDER_ID))[-1] == ("paid", "shipped")
