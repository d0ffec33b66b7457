"""The backfill and the nightly reconciliation of a WooCommerce and a BigCommerce store end to end, through the
product_sync function as Lambda runs it (runner.invoke): the platform emulators with paged order and customer
histories on 127.0.0.1, moto via the local runner (the bus, the queues, the consumers), the Mailchimp emulator.
And the reconciliation's webhook check: a WooCommerce webhook the site disabled is set active again by the run,
which says so; the next run finds it active and changes nothing."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.history.state import HistoryState
from commerce_sync.platforms.woocommerce.hooks import EXPECTED_TOPICS

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from emulators.woocommerce import WooCommerceEmulator
from local_runner.runner import LocalRunner
from operator_cli.main import main
from tests.harness import MailchimpReader, RegisteredStore, register_store
from tests.paths import EVENTS

FUNCTION = "ProductSyncFunction"
CK, CS = "ck_history_e2e", "cs_history_e2e"
BC_TOKEN = "bc-history-e2e-token"
CUSTOMERS, ORDERS = 7, 23
# BigCommerce pages orders by 250 (a real store never answers fewer but on the last page): two pages.
BC_ORDERS = 260
OURS = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks"


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def spread(n: int, count: int) -> datetime:
    """The n-th of `count` moments between 150 days and 2 days ago: months of history, all in the default window."""
    start, end = datetime.now(UTC) - timedelta(days=150), datetime.now(UTC) - timedelta(days=2)
    return (start + (end - start) * n / max(count - 1, 1)).replace(microsecond=0)


def backfill(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.invoke(FUNCTION, {"action": "backfill", "store_id": store_id})
    runner.wait_until_idle(timeout=60)
    return result


def reconcile(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
    runner.wait_until_idle(timeout=60)
    return result


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}"
    return [
        (r["method"], r["path"])
        for r in mailchimp.requests
        if r["method"] != "GET" and (r["path"] == prefix or r["path"].startswith(prefix + "/"))
    ]


def assert_backfilled_quietly(
    result: dict[str, Any], mailchimp: MailchimpEmulator, reader: MailchimpReader, store_id: str, order_ids: list[int]
) -> None:
    assert result["status"] == "done", result
    progress = result["progress"]
    assert progress["orders"]["read"] == progress["orders"]["written"] == len(order_ids), progress
    assert progress["customers"]["written"] == CUSTOMERS, progress
    assert total(reader, store_id, "orders") == len(order_ids)
    assert total(reader, store_id, "customers") == CUSTOMERS
    assert reader.resource(f"/ecommerce/stores/{store_id}")["is_syncing"] is False  # type: ignore[index]
    for order_id in order_ids:
        events = mailchimp.order_status_events(store_id, str(order_id))
        # Written once, with its final status, while the store was syncing: no notification.
        assert len(events) == 1 and events[0].store_is_syncing is True, (order_id, events)


# ---- WooCommerce ------------------------------------------------------------------------------------------


def woo_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def woo_customer(n: int, modified: datetime) -> dict[str, Any]:
    customer = copy.deepcopy(sample("woocommerce_customer_created.json"))
    email = f"woo.shopper{n}@example.com"
    customer.update(
        id=100 + n,
        email=email,
        first_name=f"Shopper{n}",
        date_created_gmt=woo_time(modified - timedelta(days=1)),
        date_modified_gmt=woo_time(modified),
    )
    customer["billing"] = {**customer.get("billing", {}), "email": email}
    return customer


def woo_order(
    order_id: int, customer: dict[str, Any], modified: datetime, status: str = "processing"
) -> dict[str, Any]:
    order = sample("woocommerce_order_created.json")
    order.update(
        id=order_id,
        number=str(order_id),
        status=status,
        customer_id=customer["id"],
        date_created_gmt=woo_time(modified - timedelta(minutes=3)),
        date_modified_gmt=woo_time(modified),
        date_paid_gmt=woo_time(modified - timedelta(minutes=2)),
    )
    order["billing"] = {**order["billing"], "email": customer["email"], "first_name": customer["first_name"]}
    return order


@pytest.fixture
def woo() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator(CK, CS) as emulator:
        customers = [woo_customer(n, spread(n, CUSTOMERS)) for n in range(CUSTOMERS)]
        for customer in customers:
            emulator.put_customer(customer)
        for n in range(ORDERS):
            emulator.put_order(woo_order(1000 + n, customers[n % CUSTOMERS], spread(n, ORDERS)))
        # The reader asks for 100 a page; a site capping it at 10 makes three pages of orders, one of customers.
        emulator.per_page_cap = 10
        yield emulator


@pytest.fixture
def woo_store(runner: LocalRunner, woo: WooCommerceEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    return register_store(
        "woocommerce",
        identity=woo.base_url,
        platform_api_url=woo.base_url,
        currency_code="CAD",
        platform_api_credentials={"consumer_key": CK, "consumer_secret": CS},
    )


def test_a_woocommerce_store_is_backfilled_and_a_status_changed_without_a_webhook_is_repaired(
    runner: LocalRunner,
    woo: WooCommerceEmulator,
    woo_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_id = woo_store.store_id
    result = backfill(runner, store_id)
    assert_backfilled_quietly(result, mailchimp, mailchimp_reader, store_id, [1000 + n for n in range(ORDERS)])
    # Paged by keyset (each page asks from where the last one ended): 23 orders at 10 a page are three reads.
    order_reads = [r for r in woo.requests if r["path"].endswith("/orders") and r["query"]["per_page"] != "1"]
    assert len(order_reads) == 3, order_reads

    # On the site, with no webhook: order 1005 is cancelled, a customer renamed.
    moment = woo_time(datetime.now(UTC) - timedelta(minutes=5))
    woo.put_order(woo.history.order(1005) | {"status": "cancelled", "date_modified_gmt": moment})
    woo.put_customer(woo.history.customer(102) | {"first_name": "Renamed", "date_modified_gmt": moment})

    repaired = reconcile(runner, store_id)

    assert repaired["status"] == "done", repaired
    assert repaired["repaired"] == {"orders_outdated": 1, "customers_outdated": 1}, repaired
    assert repaired["failed"] == 0
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/1005")
    assert order is not None and order["financial_status"] == "cancelled"
    customers = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/customers?count=100")
    assert customers is not None
    renamed = next(c for c in customers["customers"] if c["email_address"] == "woo.shopper2@example.com")
    assert renamed["first_name"] == "Renamed"

    settled = len(writes(mailchimp, store_id))
    again = reconcile(runner, store_id)
    assert again["repairs"] == 0 and again["checked"]["orders"] >= 1
    assert len(writes(mailchimp, store_id)) == settled, "nothing missed: no Mailchimp write"


def test_the_reconciliation_sets_a_disabled_woocommerce_webhook_active_and_says_so(
    runner: LocalRunner, woo: WooCommerceEmulator, woo_store: RegisteredStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {
        topic: int(woo.webhooks.add_webhook(topic, f"{OURS}/woocommerce", "s" * 32)["id"]) for topic in EXPECTED_TOPICS
    }
    woo.webhooks.set_status(ids["order.updated"], "disabled")  # as WooCommerce does after failed deliveries

    # As an operator runs it: `commerce-sync reconcile --store S` (the handler invoked in this process).
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(["reconcile", "--store", woo_store.store_id])
    runner.wait_until_idle(timeout=60)

    assert code == 0, out.getvalue()
    topics = len(EXPECTED_TOPICS)
    assert f"webhooks: {topics} topics, {topics - 1} active, 1 reactivated, 0 missing" in out.getvalue(), out.getvalue()
    assert "order.updated: was disabled, reactivated" in out.getvalue()
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    first = HistoryState(table).reconcile_state(woo_store.store_id)["last"]
    webhooks = first["webhooks"]
    assert webhooks["checked"] is True and webhooks["healthy"] is False
    assert webhooks["reactivated"] == 1 and webhooks["missing"] == 0
    by_topic = {topic["topic"]: topic for topic in webhooks["topics"]}
    assert by_topic["order.updated"] == {
        "topic": "order.updated",
        "state_before": "disabled",
        "action": "reactivated",
        "hook_id": str(ids["order.updated"]),
    }
    assert all(by_topic[t]["action"] == "none" for t in EXPECTED_TOPICS if t != "order.updated")
    assert woo.webhooks.webhook(ids["order.updated"])["status"] == "active"  # type: ignore[index]
    assert first["status"] == "done", "the orders and customers were reconciled too"

    second = reconcile(runner, woo_store.store_id)

    assert second["webhooks"]["healthy"] is True and second["webhooks"]["reactivated"] == 0
    assert {topic["action"] for topic in second["webhooks"]["topics"]} == {"none"}
    assert [r for r in woo.webhooks.requests if r["method"] != "GET"] == [
        {"method": "PUT", "path": f"/wp-json/wc/v3/webhooks/{ids['order.updated']}", "status": 200}
    ], "one change in two runs"


def test_a_webhook_check_that_fails_does_not_stop_the_reconciliation(
    runner: LocalRunner, woo: WooCommerceEmulator, woo_store: RegisteredStore
) -> None:
    def webhooks_fail(path: str, query: dict[str, str]) -> int | None:
        return 500 if "/webhooks" in path else None

    woo.fail_when(webhooks_fail)
    result = reconcile(runner, woo_store.store_id)

    assert result["status"] == "done" and result["checked"]["customers"] >= 0
    assert result["webhooks"]["checked"] is False and "500" in result["webhooks"]["reason"]


# ---- BigCommerce ------------------------------------------------------------------------------------------


def rfc2822(at: datetime) -> str:
    return format_datetime(at).replace("-0000", "+0000")


def bc_customer(n: int, modified: datetime) -> dict[str, Any]:
    customer = copy.deepcopy(sample("bigcommerce_customer.json")["data"][0])
    customer.update(
        id=200 + n,
        email=f"bc.shopper{n}@example.com",
        first_name=f"Shopper{n}",
        date_modified=modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return customer


def put_bc_order(
    emu: BigCommerceEmulator, order_id: int, customer: dict[str, Any], modified: datetime, **changes: Any
) -> None:
    order = sample("bigcommerce_order.json")
    order.update(
        id=order_id,
        customer_id=customer["id"],
        date_created=rfc2822(modified - timedelta(minutes=3)),
        date_modified=rfc2822(modified),
        refunded_amount="0.0000",
        **changes,
    )
    order["billing_address"] = {**order["billing_address"], "email": customer["email"]}
    emu.put_order(
        order,
        products=sample("bigcommerce_order_products.json"),
        shipments=[],
        coupons=sample("bigcommerce_order_coupons.json"),
    )


@pytest.fixture
def bc() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator("histe2e7k", BC_TOKEN) as emulator:
        customers = [bc_customer(n, spread(n, CUSTOMERS)) for n in range(CUSTOMERS)]
        for customer in customers:
            emulator.put_customer(customer)
        for n in range(BC_ORDERS):
            put_bc_order(emulator, 3000 + n, customers[n % CUSTOMERS], spread(n, BC_ORDERS))
        yield emulator


@pytest.fixture
def bc_store(runner: LocalRunner, bc: BigCommerceEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    return register_store(
        "bigcommerce",
        identity=bc.store_hash,
        platform_api_url=bc.base_url,
        currency_code="EUR",
        domain="shop.example.com",
        platform_api_credentials={"access_token": BC_TOKEN},
    )


def test_a_bigcommerce_store_is_backfilled_and_a_status_changed_without_a_webhook_is_repaired(
    runner: LocalRunner,
    bc: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_id = bc_store.store_id
    result = backfill(runner, store_id)
    assert_backfilled_quietly(result, mailchimp, mailchimp_reader, store_id, [3000 + n for n in range(BC_ORDERS)])
    assert len([r for r in bc.requests if r["path"] == "/stores/histe2e7k/v2/orders"]) == 2, "260 at 250 a page"

    # On the store, with no webhook: order 3004 is cancelled.
    customer = bc_customer(4, spread(4, CUSTOMERS))
    put_bc_order(
        bc,
        3004,
        customer,
        datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
        status_id=5,
        status="Cancelled",
    )

    repaired = reconcile(runner, store_id)

    assert repaired["status"] == "done", repaired
    assert repaired["repaired"] == {"orders_outdated": 1} and repaired["failed"] == 0, repaired
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/3004")
    assert order is not None and order["financial_status"] == "cancelled"

    settled = len(writes(mailchimp, store_id))
    again = reconcile(runner, store_id)
    assert again["repairs"] == 0
    assert len(writes(mailchimp, store_id)) == settled, "nothing missed: no Mailchimp write"
