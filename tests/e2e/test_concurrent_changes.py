"""Two changes of one entity applied at the same moment by two containers, as Lambda runs them under a
burst: what Mailchimp ends up holding (and which notifications fired) is what the newer change says.

Each test forces the interleaving instead of hoping for it: the Mailchimp emulator holds the older
change's write mid-flight (after its container has read the entity's sync state), the newer change is
delivered and picked up by a second container meanwhile, and only then is the older write let go. Without
the entity leases (commerce_sync.aws.entity_locks) every one of these ends wrong, every time: the newer
change is applied while the older one waits, and the older write lands last.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.holds import Matcher
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from tests.e2e.test_canonical_webhook import cart_event
from tests.e2e.test_promotion_webhooks import promotion_event, rule_in_mailchimp, version
from tests.e2e.test_shopify_orders import EVENTS, at, mailchimp_order, new_order, send
from tests.harness import MailchimpReader, RegisteredStore, register_store

# Long enough for the newer change to be received, applied and recorded were nothing to stop it.
NEWER_CHANGE_HEAD_START_SECONDS = 2.0


def queue_in_flight(runner: LocalRunner, queue: str) -> int:
    return runner.queue_depths()[queue]["in_flight"]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def newer_change_while_the_older_is_held(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    older_write: Matcher,
    deliver_older: Callable[[], None],
    deliver_newer: Callable[[], None],
    newer_queue: str,
    in_flight_then: int,
) -> None:
    """Holds the older change's Mailchimp write, delivers the newer change while it is held, waits until a
    second container has taken the newer one (`in_flight_then` records in flight on `newer_queue`) and gives
    it a head start, then lets the older write go and waits for everything to finish."""
    with mailchimp.hold(older_write, limit=1) as hold:
        deliver_older()
        assert hold.wait_for_requests(1), "the older change's write reached Mailchimp"
        deliver_newer()
        wait_for(lambda: queue_in_flight(runner, newer_queue) >= in_flight_then)
        time.sleep(NEWER_CHANGE_HEAD_START_SECONDS)
    runner.wait_until_idle()


def test_pending_held_mid_write_while_paid_arrives_ends_paid_with_both_notifications_in_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    order = new_order()
    pending = dict(copy.deepcopy(order), financial_status="pending", updated_at=at(0))
    paid = dict(copy.deepcopy(order), financial_status="paid", updated_at=at(5))
    order_id = str(order["id"])

    def pending_write(method: str, path: str, body: Any) -> bool:
        return (
            method in {"POST", "PATCH"}
            and "/orders" in path
            and isinstance(body, dict)
            and str(body.get("id", path.rsplit("/", 1)[-1])) == order_id
            and body.get("financial_status") == "pending"
        )

    newer_change_while_the_older_is_held(
        runner,
        mailchimp,
        pending_write,
        lambda: send(runner, shopify_store, "orders/create", pending),
        lambda: send(runner, shopify_store, "orders/paid", paid),
        "OrderStatusQueue",
        in_flight_then=2,  # the pending change, still inside its write, and the paid one
    )

    held = mailchimp_order(mailchimp_reader, shopify_store, order_id)
    assert held is not None and held["financial_status"] == "paid"
    history = mailchimp.order_status_history(shopify_store.store_id, order_id)
    assert history == [("pending", None), ("paid", None)], "each notification once, in the order of the changes"


def test_an_older_cart_held_mid_write_while_a_newer_one_arrives_ends_with_the_newer_lines(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("canonical", currency_code="EUR")
    older = cart_event(store.store_id)
    cart_id = older["entity_id"]
    newer = copy.deepcopy(older)
    newer.update(event_id=f"site:cart:{cart_id}:2", entity_version="2025-03-14T13:20:00.000000Z")
    newer["data"]["lines"][0].update(quantity=5)
    newer["data"]["order_total"] = "106.25"

    def older_write(method: str, path: str, body: Any) -> bool:
        return (
            method in {"POST", "PATCH"}
            and "/carts" in path
            and cart_id in json.dumps(body) + path
            and isinstance(body, dict)
            and body.get("lines", [{}])[0].get("quantity") == 2
        )

    def deliver(event: dict[str, Any]) -> None:
        response = send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(event).encode())
        assert response.status_code == 202, response.text

    newer_change_while_the_older_is_held(
        runner, mailchimp, older_write, lambda: deliver(older), lambda: deliver(newer), "CartEventsQueue", 2
    )

    cart = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart_id}")
    assert cart is not None
    assert [line["quantity"] for line in cart["lines"]] == [5]
    assert cart["order_total"] == 106.25


def test_a_cart_held_mid_write_while_the_shopper_buys_it_is_not_left_in_mailchimp(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    cart_token = uuid.uuid4().hex
    checkout = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text())
    checkout.update(id=int(uuid.uuid4().int % 10**12), token=uuid.uuid4().hex, cart_token=cart_token)
    order = dict(new_order(), cart_token=cart_token, financial_status="paid", updated_at=at(30))

    def cart_write(method: str, path: str, body: Any) -> bool:
        return method in {"POST", "PATCH"} and "/carts" in path and cart_token in json.dumps(body) + path

    newer_change_while_the_older_is_held(
        runner,
        mailchimp,
        cart_write,
        lambda: send(runner, shopify_store, "checkouts/update", checkout),
        lambda: send(runner, shopify_store, "orders/paid", order),
        "OrderStatusQueue",
        in_flight_then=1,  # the purchase (the cart change is in the cart queue)
    )

    cart = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{cart_token}")
    assert cart is None, "a purchased cart stays out of Mailchimp (no abandoned-cart e-mail after the purchase)"
    assert mailchimp_order(mailchimp_reader, shopify_store, order["id"]) is not None


def test_an_older_promotion_held_mid_write_while_a_newer_one_arrives_ends_with_the_newer_amount(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    """Found by the chaos soak: product and promotion changes had no lease, so a coupon's older change, written
    after its newer one had been applied by another container, was left in Mailchimp."""
    store = register_store("canonical")
    rule = {
        "id": f"spring-{uuid.uuid4().hex[:6]}",
        "title": "Spring",
        "type": "percentage",
        "amount": "0.1",
        "target": "total",
        "starts_at": "2025-06-01T00:00:00Z",
        "ends_at": "2030-06-01T00:00:00Z",
        "codes": [],
    }
    newer = {**rule, "amount": "0.2"}

    def older_write(method: str, path: str, body: Any) -> bool:
        return (
            method in {"POST", "PATCH"}
            and "/promo-rules" in path
            and isinstance(body, dict)
            and (body.get("amount") == 0.1)
        )

    def deliver(data: dict[str, Any], seconds: int) -> None:
        body = promotion_event(store.store_id, "promotion.updated", data, version(seconds))
        response = send_canonical(runner.url, store.webhook_secret, store.store_id, body)
        assert response.status_code == 202, response.text

    newer_change_while_the_older_is_held(
        runner, mailchimp, older_write, lambda: deliver(rule, 1), lambda: deliver(newer, 2), "ProductSyncQueue", 2
    )

    held = rule_in_mailchimp(mailchimp_reader, store.store_id, rule["id"])
    assert held is not None and held["amount"] == 0.2
