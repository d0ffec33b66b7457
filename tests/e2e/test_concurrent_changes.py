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
    limit: int | None = 1,
) -> None:
    """Holds the older change's Mailchimp write, delivers the newer change while it is held, waits until a
    second container has taken the newer one (`in_flight_then` records in flight on `newer_queue`) and gives
    it a head start, then lets the older write go and waits for everything to finish. `limit`: how many of the
    older change's writes are held (None: every one, retries too)."""
    with mailchimp.hold(older_write, limit=limit) as hold:
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


def test_an_older_product_held_mid_write_while_a_newer_one_arrives_ends_with_the_newer_price(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    """The product's lease is held on its own record item (catalog.state.ProductClaim): the newer change waits for
    the older one's write and record, then finds the older version recorded and writes its own price."""
    store = register_store("canonical")
    product_id = f"apron-{uuid.uuid4().hex[:8]}"
    product = {
        "id": product_id,
        "title": "Linen apron",
        "url": f"https://shop.example.com/products/{product_id}",
        "variants": [{"id": f"{product_id}-v1", "title": "Natural", "price": "24.00", "inventory_quantity": 5}],
    }
    newer = copy.deepcopy(product)
    newer["variants"][0]["price"] = "29.00"

    def older_write(method: str, path: str, body: Any) -> bool:
        return (
            method in {"PUT", "POST", "PATCH"}
            and f"/products/{product_id}" in path
            and isinstance(body, dict)
            and body.get("variants", [{}])[0].get("price") == 24.0
        )

    def deliver(data: dict[str, Any], seconds: int) -> None:
        body = promotion_event(store.store_id, "product.updated", data, version(seconds))
        response = send_canonical(runner.url, store.webhook_secret, store.store_id, body)
        assert response.status_code == 202, response.text

    # Every attempt of the older write is held: a PUT is retried after the client's read timeout (2 s in the tests),
    # and a retry let through would record the older change early while the held attempt still landed last.
    newer_change_while_the_older_is_held(
        runner,
        mailchimp,
        older_write,
        lambda: deliver(product, 1),
        lambda: deliver(newer, 2),
        "ProductSyncQueue",
        2,
        limit=None,
    )

    held = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/{product_id}")
    assert held is not None and [variant["price"] for variant in held["variants"]] == [29.0]
