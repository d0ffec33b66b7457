"""The WooCommerce and BigCommerce history readers (issue 11) over real HTTP against the platform emulators on
127.0.0.1: paging across several pages, the since/until window, counts, a change during a run, resources that
cannot be used landing in `skipped`, and the key property: a resource read from history makes the event its
webhook makes for the same body, but for the event id."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.platforms.adapter import StoreApi, WebhookRequest
from commerce_sync.platforms.bigcommerce.api import BigCommerceApi
from commerce_sync.platforms.bigcommerce.history import BigCommerceHistory
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.history import HistoryPage, HistorySource, HistoryUnavailable
from commerce_sync.platforms.http import HttpPolicy, PlatformAuthError, platform_session
from commerce_sync.platforms.registry import history_source_for
from commerce_sync.platforms.woocommerce.history import WooCommerceHistory
from commerce_sync.platforms.woocommerce.webhooks import DEFAULT_CONSENT_META_KEYS, WooCommerceAdapter

from emulators.bigcommerce import BigCommerceEmulator
from emulators.woocommerce import WooCommerceEmulator
from tests.paths import EVENTS

FAST = HttpPolicy(connect_timeout=1.0, read_timeout=5.0, retries=2, backoff_factor=0.01, backoff_max=0.05, max_wait=1)
T0 = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)
CK, CS = "ck_history", "cs_history"
BC_TOKEN = "bc-history-token"


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def read_all(
    source: HistorySource, resource: Any, since: datetime, until: datetime | None = None
) -> tuple[list[HistoryPage], list[CanonicalEvent]]:
    pages: list[HistoryPage] = []
    cursor: str | None = None
    while True:
        page = source.page(resource, since, cursor, until)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages, [event for page in pages for event in page.events]
        assert len(pages) < 100, "the reader never ends"


def without_id(event: CanonicalEvent) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude={"event_id"})


# ---- WooCommerce ------------------------------------------------------------------------------------------


def woo_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def woo() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator(CK, CS) as running:
        yield running


@pytest.fixture
def woo_store(woo: WooCommerceEmulator) -> Store:
    return Store(
        store_id="woo-history",
        platform="woocommerce",
        identity="https://shop.example.com",
        name="Woo history",
        list_id="list1",
        currency_code="USD",
        secret_id="commerce-sync/stores/woo-history",
        platform_api_url=woo.base_url,
    )


def woo_reader(store: Store) -> WooCommerceHistory:
    reader = history_source_for(store, {"consumer_key": CK, "consumer_secret": CS}, FAST)
    assert isinstance(reader, WooCommerceHistory)
    return reader


def woo_order(order_id: int, modified: datetime, **changes: Any) -> dict[str, Any]:
    body = sample("woocommerce_order_created.json")
    body.update({"id": order_id, "status": "processing", "date_modified_gmt": woo_time(modified), **changes})
    return body


def test_woocommerce_orders_page_across_pages_in_modification_order_with_the_count(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    # 250 orders, three to a second (ties across page boundaries), put in an order unlike their modification's.
    for order_id in range(250, 0, -1):
        woo.put_order(woo_order(order_id, T0 + timedelta(seconds=order_id // 3)))
    reader = woo_reader(woo_store)

    pages, events = read_all(reader, "orders", T0)

    assert len(pages) == 3, "100 a page"
    ids = [event.entity_id for event in events]
    assert sorted(ids, key=int) == [str(order_id) for order_id in range(1, 251)] and len(set(ids)) == 250
    assert [event.entity_version for event in events] == sorted(event.entity_version for event in events)
    assert {event.event_id for event in events} == {
        f"history:woocommerce:orders:{event.entity_id}:{event.entity_version}" for event in events
    }
    assert [page.resources for page in pages] == [100, 98, 52]  # page 2 starts in page 1's last second
    assert pages[-1].high_water == (T0 + timedelta(seconds=250 // 3)).isoformat()
    assert reader.count("orders", T0) == 250
    listed = [entry for entry in woo.requests if entry["path"].endswith("/orders")]
    assert {
        (entry["query"]["orderby"], entry["query"]["order"]) for entry in listed if "orderby" in entry["query"]
    } == {("modified", "asc")}
    assert all(entry["query"]["dates_are_gmt"] == "true" for entry in listed)


def test_woocommerce_more_than_a_page_of_orders_in_one_second_are_all_read_once(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    # A bulk status change: 150 orders saved in the same second, then one more a second later.
    for order_id in range(1, 151):
        woo.put_order(woo_order(order_id, T0))
    woo.put_order(woo_order(151, T0 + timedelta(seconds=1)))

    pages, events = read_all(woo_reader(woo_store), "orders", T0)

    assert sorted(int(event.entity_id) for event in events) == list(range(1, 152))
    assert [page.resources for page in pages] == [100, 0, 51], "the second page re-reads the first: all seen"


def test_woocommerce_orders_since_and_until_are_inclusive_to_the_second(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    for order_id in range(1, 31):
        woo.put_order(woo_order(order_id, T0 + timedelta(minutes=order_id)))
    reader = woo_reader(woo_store)
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)

    _, events = read_all(reader, "orders", since, until)

    assert [event.entity_id for event in events] == [str(order_id) for order_id in range(10, 21)]
    assert reader.count("orders", since, until) == 11
    assert reader.count("orders", since + timedelta(microseconds=1), until) == 10, "a later instant: the next second"
    assert reader.count("orders", T0 + timedelta(days=1)) == 0
    assert read_all(reader, "orders", T0 + timedelta(days=1))[1] == []


def test_woocommerce_an_order_changed_during_a_run_loses_no_other_order(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    for order_id in range(1, 151):
        woo.put_order(woo_order(order_id, T0 + timedelta(seconds=order_id)))
    reader = woo_reader(woo_store)

    first = reader.page("orders", T0, None)
    # Order 5, already read, changes: it moves to the end of the modification order. With page numbers the
    # order at the head of page 2 would slide onto page 1 and never be read.
    woo.put_order(woo_order(5, T0 + timedelta(hours=1), status="completed"))
    cursor, later = first.next_cursor, []
    while cursor:
        page = reader.page("orders", T0, cursor)
        later.extend(page.events)
        cursor = page.next_cursor

    ids = [event.entity_id for event in first.events + later]
    assert set(ids) == {str(order_id) for order_id in range(1, 151)}
    assert ids.count("5") == 2 and later[-1].entity_id == "5", "its new version comes last"
    assert later[-1].entity_version > first.events[4].entity_version


def test_woocommerce_orders_that_cannot_be_used_are_skipped_with_their_reason(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    woo.put_order(woo_order(1, T0))
    woo.put_order(woo_order(2, T0 + timedelta(seconds=1), status="wc-made-up-status"))
    no_email = woo_order(3, T0 + timedelta(seconds=2))
    no_email["billing"]["email"] = ""
    woo.put_order(no_email)
    woo.put_order(woo_order(4, T0 + timedelta(seconds=3), line_items=[]))

    page = woo_reader(woo_store).page("orders", T0, None)

    assert [event.entity_id for event in page.events] == ["1"]
    assert page.resources == 4
    reasons = dict(page.skipped)
    assert set(reasons) == {"2", "3", "4"}
    assert reasons["2"].startswith("unmappable: status:") and "made-up-status" in reasons["2"]
    assert reasons["3"].startswith("skipped: ") and "billing e-mail" in reasons["3"]
    assert reasons["4"] == "skipped: order 4 has no line items"


def test_woocommerce_order_and_customer_from_history_equal_their_webhook_events(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    order = woo.put_order(woo_order(727, T0, status="pending"))
    customer = woo.put_customer(sample("woocommerce_customer_created.json"))
    reader = woo_reader(woo_store)
    adapter = WooCommerceAdapter(consent_meta_keys=DEFAULT_CONSENT_META_KEYS)

    def delivered(topic: str, body: dict[str, Any]) -> CanonicalEvent:
        headers = {"X-WC-Webhook-Source": woo_store.identity + "/", "X-WC-Webhook-Topic": topic}
        request = WebhookRequest("woocommerce", headers, json.dumps(body).encode())
        [event] = adapter.normalise(request, woo_store).events
        return event

    [from_history] = reader.page("orders", T0, None).events
    assert without_id(from_history) == without_id(delivered("order.updated", order))
    assert from_history.order().order_url, "the order's page, on the site the store is registered under"
    assert from_history.event_id != delivered("order.updated", order).event_id

    since = datetime(2025, 3, 1, tzinfo=UTC)
    [customer_event] = reader.page("customers", since, None).events
    assert without_id(customer_event) == without_id(delivered("customer.updated", customer))
    assert customer_event.event_id == f"history:woocommerce:customers:58:{customer_event.entity_version}"


def test_woocommerce_customers_are_read_whole_and_kept_by_modification_time(
    woo: WooCommerceEmulator, woo_store: Store
) -> None:
    base = sample("woocommerce_customer_created.json")
    for customer_id in range(1, 131):
        modified = woo_time(T0 + timedelta(days=customer_id % 10))
        email = f"shopper{customer_id}@example.com"
        woo.put_customer({**copy.deepcopy(base), "id": customer_id, "email": email, "date_modified_gmt": modified})
    woo.put_customer({**copy.deepcopy(base), "id": 131, "email": "admin@example.com", "role": "administrator"})
    refused = {"id": 132, "email": "two@@ats.example.com", "date_modified_gmt": woo_time(T0)}
    woo.put_customer({**copy.deepcopy(base), **refused})
    reader = woo_reader(woo_store)

    pages, events = read_all(reader, "customers", T0 + timedelta(days=8), T0 + timedelta(days=9))

    assert len(pages) == 2, "131 customers of the customer role, 100 a page"
    assert sorted(int(event.entity_id) for event in events) == [i for i in range(1, 131) if i % 10 in (8, 9)]
    assert reader.count("customers", T0) is None, "no date filter on customers: unknown without reading them all"
    assert reader.count("customers", datetime(1970, 1, 1, tzinfo=UTC)) == 131
    [skipped] = read_all(reader, "customers", T0, T0)[0][-1].skipped
    assert skipped[0] == "132" and skipped[1].startswith("unmappable: ") and "ats.example" not in skipped[1]
    assert {entry["query"].get("role") for entry in woo.requests if entry["path"].endswith("/customers")} == {
        "customer"
    }


# ---- BigCommerce ------------------------------------------------------------------------------------------


def rfc2822(at: datetime) -> str:
    return format_datetime(at).replace("-0000", "+0000")


@pytest.fixture
def bc() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator("hist7x2m9", BC_TOKEN) as running:
        yield running


@pytest.fixture
def bc_store(bc: BigCommerceEmulator) -> Store:
    return Store(
        store_id="bc-history",
        platform="bigcommerce",
        identity=bc.store_hash,
        name="BC history",
        list_id="list1",
        currency_code="USD",
        secret_id="commerce-sync/stores/bc-history",
        platform_api_url=bc.base_url,
        domain="shop.example.com",
    )


def bc_reader(store: Store, page_size: int = 250) -> BigCommerceHistory:
    client = BigCommerceApi(store.platform_api_url or "", BC_TOKEN, platform_session(FAST))
    return BigCommerceHistory(store, client, page_size=page_size)


def put_bc_order(emu: BigCommerceEmulator, order_id: int, modified: datetime, **changes: Any) -> dict[str, Any]:
    order = sample("bigcommerce_order.json")
    order.update({"id": order_id, "date_modified": rfc2822(modified), "refunded_amount": "0.0000", **changes})
    return emu.put_order(
        order,
        products=sample("bigcommerce_order_products.json"),
        shipments=sample("bigcommerce_order_shipments.json"),
        coupons=sample("bigcommerce_order_coupons.json"),
    )


def put_bc_customer(emu: BigCommerceEmulator, customer_id: int, modified: datetime, **changes: Any) -> dict[str, Any]:
    customer = copy.deepcopy(sample("bigcommerce_customer.json")["data"][0])
    customer.update(
        id=customer_id, email=f"shopper{customer_id}@example.com", date_modified=modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    customer.update(changes)
    return emu.put_customer(customer)


def test_bigcommerce_orders_page_across_pages_complete_each_order_and_count(
    bc: BigCommerceEmulator, bc_store: Store
) -> None:
    for order_id in range(60, 0, -1):
        put_bc_order(bc, order_id, T0 + timedelta(seconds=order_id // 2))
    bc.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": ["marketing_newsletter"]})
    reader = bc_reader(bc_store, page_size=25)

    pages, events = read_all(reader, "orders", T0)

    assert len(pages) == 3
    assert sorted(int(event.entity_id) for event in events) == list(range(1, 61))
    assert [event.entity_version for event in events] == sorted(event.entity_version for event in events)
    assert all(event.order().shipments and event.order().promos for event in events), "sub-resources read"
    assert reader.count("orders", T0) == 60
    assert reader.count("orders", T0 + timedelta(seconds=10), T0 + timedelta(seconds=12)) == 6
    listed = [entry["query"] for entry in bc.requests if entry["path"].endswith("/v2/orders")]
    assert {(query["sort"], query["limit"]) for query in listed} == {("date_modified:asc", "25")}
    subscriber_reads = [entry for entry in bc.requests if entry["path"].endswith("/customers/subscribers")]
    assert len(subscriber_reads) == 3, "one billing address: read once a page"


def test_bigcommerce_orders_in_a_window_and_the_ones_that_cannot_be_used(
    bc: BigCommerceEmulator, bc_store: Store
) -> None:
    for order_id in range(1, 11):
        put_bc_order(bc, order_id, T0 + timedelta(minutes=order_id))
    put_bc_order(bc, 11, T0 + timedelta(minutes=5), status_id=99)
    put_bc_order(bc, 12, T0 + timedelta(minutes=6))
    bc.put_order_products(12, [])
    reader = bc_reader(bc_store)

    page = reader.page("orders", T0 + timedelta(minutes=4), None, T0 + timedelta(minutes=6))

    assert [event.entity_id for event in page.events] == ["4", "5", "6"]
    reasons = dict(page.skipped)
    assert set(reasons) == {"11", "12"} and page.resources == 5
    assert reasons["11"].startswith("unmappable: status_id:")
    assert reasons["12"] == "skipped: order 12 has no products Mailchimp can show"
    assert page.next_cursor is None


def test_bigcommerce_order_and_customer_from_history_equal_their_webhook_events(
    bc: BigCommerceEmulator, bc_store: Store
) -> None:
    order = {**sample("bigcommerce_order.json"), "refunded_amount": "16.4900", "status_id": 14}
    bc.put_order(
        order,
        products=sample("bigcommerce_order_products.json"),
        shipments=sample("bigcommerce_order_shipments.json"),
        coupons=sample("bigcommerce_order_coupons.json"),
        refunds=sample("bigcommerce_order_refunds.json")["data"],
    )
    bc.put_customer(sample("bigcommerce_customer.json")["data"][0])
    bc.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": ["marketing_newsletter"]})
    reader = bc_reader(bc_store)
    adapter = BigCommerceAdapter(session=platform_session(FAST))
    api = StoreApi(bc.base_url, {"access_token": BC_TOKEN})

    def delivered(scope: str, entity_id: int) -> CanonicalEvent:
        payload = {
            "scope": scope,
            "store_id": "1001",
            "producer": f"stores/{bc.store_hash}",
            "hash": "5f1c0b2e9d",
            "created_at": int(datetime.now(UTC).timestamp()),
            "data": {"type": scope.split("/")[1], "id": entity_id},
        }
        request = WebhookRequest("bigcommerce", {}, json.dumps(payload).encode())
        [event] = adapter.normalise(request, bc_store, api).events
        return event

    since = datetime(2025, 1, 1, tzinfo=UTC)
    [order_event] = reader.page("orders", since, None).events
    assert without_id(order_event) == without_id(delivered("store/order/updated", order["id"]))
    assert order_event.order().refunds and order_event.order().customer.consent.state.value == "granted"
    assert order_event.event_id == f"history:bigcommerce:orders:{order['id']}:{order_event.entity_version}"

    [customer_event] = reader.page("customers", since, None).events
    assert without_id(customer_event) == without_id(delivered("store/customer/updated", 42))


def test_bigcommerce_customers_page_in_a_window_with_the_total(bc: BigCommerceEmulator, bc_store: Store) -> None:
    for customer_id in range(1, 61):
        put_bc_customer(bc, customer_id, T0 + timedelta(hours=customer_id))
    put_bc_customer(bc, 61, T0 + timedelta(hours=30), email="no address")
    reader = bc_reader(bc_store, page_size=20)

    pages, events = read_all(reader, "customers", T0 + timedelta(hours=11), T0 + timedelta(hours=50))

    assert sorted(int(event.entity_id) for event in events) == list(range(11, 51))
    assert len(pages) == 3
    assert [skip[0] for page in pages for skip in page.skipped] == ["61"]
    assert reader.count("customers", T0 + timedelta(hours=11), T0 + timedelta(hours=50)) == 41
    assert reader.count("customers", T0) == 61
    queries = [entry["query"] for entry in bc.requests if entry["path"].endswith("/v3/customers")]
    assert all(query.get("sort") == "date_modified:asc" for query in queries if "page" in query)


# ---- the registry ---------------------------------------------------------------------------------------


def test_history_source_for_refuses_stores_it_cannot_read(woo_store: Store, bc_store: Store) -> None:
    canonical = woo_store.model_copy(update={"platform": "canonical"})
    with pytest.raises(HistoryUnavailable, match="canonical store"):
        history_source_for(canonical, {})
    with pytest.raises(HistoryUnavailable, match="no WooCommerce REST key"):
        history_source_for(woo_store, {"consumer_key": CK})
    with pytest.raises(HistoryUnavailable, match="no BigCommerce access token"):
        history_source_for(bc_store, {})
    unreadable = bc_store.model_copy(update={"platform_api_url": "https://api.bigcommerce.com/nowhere"})
    with pytest.raises(HistoryUnavailable, match="names no store"):
        history_source_for(unreadable, {"access_token": BC_TOKEN})
    assert isinstance(history_source_for(bc_store, {"access_token": BC_TOKEN}), BigCommerceHistory)
    with pytest.raises(HistoryUnavailable, match="was not made by this reader"):
        woo_reader(woo_store).page("orders", T0, "page=2")


def test_a_refused_key_is_an_error_not_an_empty_history(woo: WooCommerceEmulator, woo_store: Store) -> None:
    reader = history_source_for(woo_store, {"consumer_key": CK, "consumer_secret": "wrong"}, FAST)
    with pytest.raises(PlatformAuthError) as raised:
        reader.page("orders", T0, None)
    assert raised.value.status == 401
    assert "wrong" not in str(raised.value)


# ---- one order by its id (the order consumer's repair of a shipment or refund of an order it never saw) ------


def test_woocommerce_one_order_by_id_is_the_event_a_page_makes(woo: WooCommerceEmulator, woo_store: Store) -> None:
    for order_id in (5, 6, 7):
        woo.put_order(woo_order(order_id, T0 + timedelta(seconds=order_id)))
    woo.put_order(woo_order(8, T0, status="trash"))
    reader = woo_reader(woo_store)
    _, listed = read_all(reader, "orders", T0)

    (one,) = reader.order("6")

    assert one == next(event for event in listed if event.entity_id == "6")
    assert reader.order("99") == [] and reader.order("8") == [], "unknown, or in the trash: none"
    assert reader.order("not-a-number") == []


def test_bigcommerce_one_order_by_id_is_the_completed_order_a_page_makes(
    bc: BigCommerceEmulator, bc_store: Store
) -> None:
    for order_id in (5, 6, 7):
        put_bc_order(bc, order_id, T0 + timedelta(seconds=order_id))
    reader = bc_reader(bc_store)
    _, listed = read_all(reader, "orders", T0)

    (one,) = reader.order("6")

    assert one == next(event for event in listed if event.entity_id == "6")
    assert one.order().shipments and one.order().promos, "its sub-resources read"
    assert reader.order("99") == []
