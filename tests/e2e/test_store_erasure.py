"""A whole store erased (docs/privacy.md, "Erasing a whole store") through the local runner, real HTTP, moto and the
Mailchimp emulator: Shopify's signed `shop/redact` takes everything of one store (its Mailchimp store, registration,
secret and sync state) and nothing of another; a forged one is refused; the erasure delivered again, and events of
the store still on their way, end quietly instead of in a dead-letter queue."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from commerce_sync.accounts.health import AccountHealthBook
from commerce_sync.aws.bus_entries import event_source
from commerce_sync.aws.entity_locks import LEASE_MARGIN_SECONDS, EntityLocks
from commerce_sync.aws.privacy_audit import PrivacyAudit
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry
from commerce_sync.aws.tombstones import Tombstones
from commerce_sync.mailchimp.credentials import MailchimpCredentials

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical, send_shopify
from operator_cli import dead_letters
from operator_cli.stores import generate_webhook_secret
from tests.e2e.test_mailchimp_accounts import held, new_account
from tests.e2e.test_shopify_checkout_slice import checkout, post
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUYER = "jane.doe@example.com"  # the order sample's shopper
CART_SHOPPER = "cart.shopper@example.com"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def recent(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> str:
    """The delivery's one event id."""
    answer = send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())
    assert answer.status_code == 202, answer.text
    [event_id] = answer.json()["event_ids"]
    return str(event_id)


def fill(runner: LocalRunner, store: RegisteredStore) -> None:
    """An order (its customer, member and products), another shopper's open cart, and a product."""
    order = sample("shopify_order_body.json")
    order.update(id=int(uuid.uuid4().int % 10**12), financial_status="paid", updated_at=recent(30))
    send(runner, store, "orders/create", order)
    product = sample("shopify_product_update_body.json")
    product.update(updated_at=recent(20))
    send(runner, store, "products/update", product)
    runner.wait_until_idle(timeout=60)
    checkout = sample("shopify_checkout_update_body.json")
    checkout.update(token=uuid.uuid4().hex, cart_token=uuid.uuid4().hex, email=CART_SHOPPER, updated_at=recent(1))
    checkout["customer"].update(id=int(uuid.uuid4().int % 10**12), email=CART_SHOPPER)
    send(runner, store, "checkouts/update", checkout)
    runner.wait_until_idle(timeout=60)


def held_in_mailchimp(reader: MailchimpReader, store_id: str) -> dict[str, int]:
    """How many of each kind the store has in Mailchimp; empty when Mailchimp has no such store."""
    if reader.resource(f"/ecommerce/stores/{store_id}") is None:
        return {}
    kinds = ("customers", "orders", "carts", "products")
    return {kind: int(reader.resource(f"/ecommerce/stores/{store_id}/{kind}")["total_items"]) for kind in kinds}


def state_keys(store_id: str) -> set[tuple[str, str]]:
    """Every sync-state item of the store, by a full scan of the table (what an auditor would do)."""
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    keys: set[tuple[str, str]] = set()
    arguments: dict[str, Any] = {}
    while True:
        page = table.scan(**arguments)
        keys |= {(str(item["pk"]), str(item["sk"])) for item in page["Items"] if item["pk"].startswith(f"{store_id}#")}
        if "LastEvaluatedKey" not in page:
            return keys
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def secret_exists(secret_id: str) -> bool:
    try:
        boto3.client("secretsmanager").describe_secret(SecretId=secret_id)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def registry() -> StoreRegistry:
    return StoreRegistry(Settings.from_environment().stores_table)


def tombstones() -> Tombstones:
    settings = Settings.from_environment()
    dynamodb = boto3.resource("dynamodb")
    return Tombstones(dynamodb.Table(settings.sync_state_table), dynamodb)


def audit_lines(store_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    return list(PrivacyAudit(table).lines(store_id))


def log_records(logs: io.StringIO) -> list[dict[str, Any]]:
    records = []
    for line in logs.getvalue().splitlines():
        start = line.find("{")
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def outcomes(logs: io.StringIO, event_id: str) -> list[str]:
    """The outcome each run of the event ended in (a run that failed, to be retried, ends in none)."""
    return [str(r["outcome"]) for r in log_records(logs) if r.get("event_id") == event_id and "outcome" in r]


def put_on_the_bus(runner: LocalRunner, event: dict[str, Any]) -> None:
    """As an archive replay, or a dead letter sent back, puts it: straight onto the bus, past the webhooks."""
    answer = runner.client("events").put_events(
        Entries=[
            {
                "EventBusName": runner.environment()["EVENT_BUS_NAME"],
                "Source": event_source(event["platform"]),
                "DetailType": event["type"],
                "Detail": json.dumps(event),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def canonical(store_id: str, platform: str, event_type: str, entity_id: str, data: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "schema_version": "1",
        "event_id": f"test:{event_type}:{uuid.uuid4().hex}",
        "type": event_type,
        "store_id": store_id,
        "platform": platform,
        "occurred_at": now.isoformat(),
        "entity_id": entity_id,
        "entity_version": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": data,
    }


def dead_letters_of(store_id: str) -> list[dead_letters.DeadLetter]:
    functions = ("cart_events", "order_status", "product_sync")
    return [letter for function in functions for letter in dead_letters.peek(function) if store_id in letter.body]


@pytest.fixture
def operator_environment(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def test_shop_redact_erases_one_store_whole_and_leaves_the_other_as_it_was(
    runner: LocalRunner,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    operator_environment: None,
) -> None:
    erased = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:6]}")
    kept = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:6]}")
    for store in (erased, kept):
        fill(runner, store)
    before = held_in_mailchimp(mailchimp_reader, erased.store_id)
    assert all(before[kind] >= 1 for kind in ("customers", "orders", "carts", "products")), before
    kept_mailchimp, kept_state = held_in_mailchimp(mailchimp_reader, kept.store_id), state_keys(kept.store_id)
    assert kept_mailchimp == before and kept_state
    member = f"/lists/{erased.store.list_id}/members/{mailchimp_customer_id(BUYER)}"
    assert mailchimp_reader.resource(member) is not None
    redact = json.dumps({"shop_id": 954889, "shop_domain": erased.identity}).encode()

    forged = send_shopify(runner.url, generate_webhook_secret(), "shop/redact", erased.identity, redact)
    runner.wait_until_idle(timeout=60)
    assert forged.status_code == 401, forged.text
    assert held_in_mailchimp(mailchimp_reader, erased.store_id) == before, "a forged request erases nothing"
    assert registry().get(erased.store_id) is not None and secret_exists(erased.store.secret_id)

    answer = send_shopify(runner.url, erased.webhook_secret, "shop/redact", erased.identity, redact)
    assert answer.status_code == 202, answer.text
    [erasure_id] = answer.json()["event_ids"]
    runner.wait_until_idle(timeout=90)

    assert outcomes(captured_logs, erasure_id) == ["erased"]
    assert held_in_mailchimp(mailchimp_reader, erased.store_id) == {}
    assert registry().get(erased.store_id) is None
    assert not secret_exists(erased.store.secret_id)
    assert state_keys(erased.store_id) == set()
    assert tombstones().store_erased(erased.store_id)
    # The audience's members are the merchant's marketing list, not the store's data: they stay.
    assert mailchimp_reader.resource(member) is not None
    [line] = audit_lines(erased.store_id)
    assert line["kind"] == "shopify shop/redact" and line["subject"] == "store" and line.get("completed_at")
    assert line["outcome"]["mailchimp_store"] == "deleted" and line["outcome"]["secret"] == "deleted"
    assert int(line["outcome"]["state_items"]) >= 4
    written = json.dumps(line, default=str).lower()
    for personal in (BUYER, CART_SHOPPER, mailchimp_customer_id(BUYER), mailchimp_customer_id(CART_SHOPPER)):
        assert personal not in written

    assert held_in_mailchimp(mailchimp_reader, kept.store_id) == kept_mailchimp
    assert state_keys(kept.store_id) == kept_state
    assert registry().get(kept.store_id) == kept.store
    assert secret_exists(kept.store.secret_id) and not tombstones().store_erased(kept.store_id)

    # Its shop's deliveries are now those of an unknown store; what is already on the bus is dropped.
    late = send_shopify(runner.url, erased.webhook_secret, "checkouts/update", erased.identity, b"{}")
    assert late.status_code == 404, late.text
    order = sample("shopify_order_body.json")
    again = canonical(erased.store_id, "shopify", "store.erased", erased.store_id, {"request_kind": "replay"})
    in_flight = canonical(
        erased.store_id,
        "shopify",
        "cart.updated",
        "k-late",
        {
            "id": "k-late",
            "customer": {"id": "c-late", "email": BUYER, "consent": {"state": "granted"}},
            "currency_code": "USD",
            "order_total": "10",
            "checkout_url": f"https://{erased.identity}/checkouts/k-late",
            "lines": [
                {
                    "id": "1",
                    "product_id": str(order["line_items"][0]["product_id"]),
                    "variant_id": str(order["line_items"][0]["variant_id"]),
                    "product_title": "Socks",
                    "quantity": 1,
                    "price": "10",
                }
            ],
        },
    )
    for event in (again, in_flight):
        put_on_the_bus(runner, event)
    runner.wait_until_idle(timeout=60)

    assert outcomes(captured_logs, again["event_id"]) == ["already_erased"]
    assert outcomes(captured_logs, in_flight["event_id"]) == ["store_erased"]
    assert held_in_mailchimp(mailchimp_reader, erased.store_id) == {}, "nothing brought the store back"
    assert state_keys(erased.store_id) == set()
    assert dead_letters_of(erased.store_id) == []
    assert len(audit_lines(erased.store_id)) == 1


def test_a_store_erased_must_name_its_own_store(runner: LocalRunner) -> None:
    store = register_store("canonical")
    event = canonical(store.store_id, "canonical", "store.erased", "another-store", {"request_id": "t-1"})

    answer = send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(event).encode())

    assert answer.status_code == 400, answer.text
    assert "entity_id" in answer.text and "store id" in answer.text
    runner.wait_until_idle()
    assert registry().get(store.store_id) is not None


def test_an_erasure_from_before_the_store_was_registered_is_not_this_stores(
    runner: LocalRunner, captured_logs: io.StringIO
) -> None:
    store = register_store("canonical")
    event = canonical(store.store_id, "canonical", "store.erased", store.store_id, {"request_id": "old"})
    event["occurred_at"] = (datetime.now(UTC) - timedelta(days=3)).isoformat()

    answer = send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(event).encode())
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle()

    assert outcomes(captured_logs, event["event_id"]) == ["erasure_predates_store"]
    assert registry().get(store.store_id) == store.store
    assert secret_exists(store.store.secret_id) and not tombstones().store_erased(store.store_id)


def test_an_erasure_waits_for_a_write_in_progress_and_finishes_on_the_queues_retry(
    runner: LocalRunner, captured_logs: io.StringIO, operator_environment: None
) -> None:
    store = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:6]}")
    fill(runner, store)
    # Another invocation is writing one of the store's items (its lease runs two more seconds).
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    writing = EntityLocks(table, time_left=lambda: 2.0 - LEASE_MARGIN_SECONDS)
    # Entered and never left (kept referenced until the end: a holding is given back when collected): it lapses.
    lapsing = writing.holding(store.store_id, "order", ["being-written"])
    lapsing.__enter__()
    redact = json.dumps({"shop_id": 954889, "shop_domain": store.identity}).encode()

    answer = send_shopify(runner.url, store.webhook_secret, "shop/redact", store.identity, redact)
    assert answer.status_code == 202, answer.text
    [erasure_id] = answer.json()["event_ids"]
    runner.wait_until_idle(timeout=90)

    waited = [
        record
        for record in log_records(captured_logs)
        if record.get("message") == "store erasure goes on in another run" and record.get("event_id") == erasure_id
    ]
    assert waited and waited[0]["busy"] == 1, "the first run left the leased item to its holder"
    assert outcomes(captured_logs, erasure_id) == ["erased"]
    assert state_keys(store.store_id) == set(), "the retry swept what the first run had to leave"
    assert registry().get(store.store_id) is None and not secret_exists(store.store.secret_id)
    [line] = audit_lines(store.store_id)
    assert line.get("completed_at") and line["outcome"]["mailchimp_store"] == "already gone"
    assert dead_letters_of(store.store_id) == []


def test_a_store_whose_own_mailchimp_account_refuses_us_is_still_erased_at_home(
    runner: LocalRunner, mailchimp: MailchimpEmulator, captured_logs: io.StringIO, operator_environment: None
) -> None:
    account_id, key = new_account(mailchimp)
    store = register_store("shopify", mailchimp_credentials=MailchimpCredentials.api_key(key))
    assert post(runner, store, checkout()).status_code == 202
    runner.wait_until_idle()
    # The merchant revokes the key: the account pauses, and the store's next change is parked, data and all.
    mailchimp.revoke_api_key(key)
    assert post(runner, store, checkout()).status_code == 202
    runner.wait_until_idle()
    health = AccountHealthBook(boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table))
    assert [message for message in health.parked(account_id) if message.store_id == store.store_id]
    redact = json.dumps({"shop_id": 954889, "shop_domain": store.identity}).encode()

    answer = send_shopify(runner.url, store.webhook_secret, "shop/redact", store.identity, redact)
    assert answer.status_code == 202, answer.text
    [erasure_id] = answer.json()["event_ids"]
    runner.wait_until_idle(timeout=90)

    assert outcomes(captured_logs, erasure_id) == ["erased"]
    [line] = audit_lines(store.store_id)
    assert line.get("completed_at") and str(line["outcome"]["mailchimp_store"]).startswith("left: ")
    assert int(line["outcome"]["parked_events"]) >= 1
    assert not [message for message in health.parked(account_id) if message.store_id == store.store_id]
    assert state_keys(store.store_id) == set()
    assert registry().get(store.store_id) is None and not secret_exists(store.store.secret_id)
    assert store.store.mailchimp_secret_id and secret_exists(store.store.mailchimp_secret_id), "the account's own"
    assert dead_letters_of(store.store_id) == []
    # Left where it was, in the merchant's own account, which they still control.
    new_key = f"{uuid.uuid4().hex}-us6"
    mailchimp.add_api_key(new_key, account_id=account_id)
    assert held(mailchimp, new_key, f"/ecommerce/stores/{store.store_id}") is not None
