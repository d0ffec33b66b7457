"""An erased shopper stays out of Mailchimp when the store's history is read again (docs/privacy.md): the backfill
writes everyone else and counts them as erased, the nightly reconciliation does not repair them back, and the
nightly catalog run brings nothing of them either."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import stamp
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.harness import MailchimpReader, RegisteredStore
from tests.integration.test_backfill import CUSTOMERS, ORDERS, backfill, shopify, store, total  # noqa: F401
from tests.integration.test_reconcile import reconcile

ERASED_CUSTOMER, ERASED_EMAIL = 500_000, "shopper0@example.com"
# generate_history gives orders to customers round robin: customer 0 has orders 0, 12 and 24.
ERASED_ORDERS = [900_000 + n for n in range(0, ORDERS, CUSTOMERS)]


def touch_recently(shopify: ShopifyEmulator) -> None:  # noqa: F811
    """The erased shopper changed in the store two hours ago, before the erasure: inside the first reconciliation's
    window (a day), so it reads them."""
    recently = stamp(datetime.now(UTC) - timedelta(hours=2))
    customer = shopify.history["customers"].get(ERASED_CUSTOMER)
    assert customer is not None
    shopify.history["customers"].put({**customer, "updated_at": recently})
    for order_id in ERASED_ORDERS:
        order = shopify.history["orders"].get(order_id)
        assert order is not None
        shopify.history["orders"].put({**order, "updated_at": recently})


def redact(runner: LocalRunner, store: RegisteredStore) -> None:  # noqa: F811
    body = {
        "shop_id": 1,
        "shop_domain": store.identity,
        "customer": {"id": ERASED_CUSTOMER, "email": ERASED_EMAIL},
        "orders_to_redact": [],
    }
    answer = send_shopify(
        runner.url, store.webhook_secret, "customers/redact", store.identity, json.dumps(body).encode()
    )
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)


def test_backfill_and_reconciliation_leave_an_erased_shopper_out(
    runner: LocalRunner,
    store: RegisteredStore,  # noqa: F811
    shopify: ShopifyEmulator,  # noqa: F811
    mailchimp_reader: MailchimpReader,
) -> None:
    touch_recently(shopify)
    redact(runner, store)

    result: dict[str, Any] = backfill(runner, store.store_id)

    assert result["status"] == "done", result
    customers, orders = result["progress"]["customers"], result["progress"]["orders"]
    assert (customers["written"], customers["erased"]) == (CUSTOMERS - 1, 1)
    assert (orders["written"], orders["erased"]) == (ORDERS - len(ERASED_ORDERS), len(ERASED_ORDERS))
    base = f"/ecommerce/stores/{store.store_id}"
    for order_id in ERASED_ORDERS:
        assert mailchimp_reader.resource(f"{base}/orders/{order_id}") is None
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS - len(ERASED_ORDERS)
    found = mailchimp_reader.resource(f"{base}/customers?email_address={ERASED_EMAIL}")
    assert found is not None and found["customers"] == []

    repaired = reconcile(runner, store.store_id)

    assert repaired["status"] == "done", repaired
    assert repaired["erased"] == 1 + len(ERASED_ORDERS), repaired
    assert not any(repaired["repaired"].values()), repaired
    # The nightly catalog run writes products and discounts only: nothing of a shopper comes back with it either.
    nightly = runner.invoke("ProductSyncFunction", {"action": "catalog_sync", "store_id": store.store_id})
    runner.wait_until_idle(timeout=60)
    assert nightly["status"] == "done", nightly
    for order_id in ERASED_ORDERS:
        assert mailchimp_reader.resource(f"{base}/orders/{order_id}") is None
    found = mailchimp_reader.resource(f"{base}/customers?email_address={ERASED_EMAIL}")
    assert found is not None and found["customers"] == []
