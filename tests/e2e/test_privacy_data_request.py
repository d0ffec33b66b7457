"""Data requests through the local runner, real HTTP, moto (S3 included) and the Mailchimp emulator
(docs/privacy.md, "Data requests"): a shopper with a customer record, orders, an open cart and a subscribed member, and
another shopper beside them; then Shopify's signed `customers/data_request`. The export kept in the claim-check
bucket holds exactly what Mailchimp and the sync state hold about that shopper and nothing of the other one; its
audit line names the object and no address; `commerce-sync privacy export` prints the same and writes it; nothing
logged names the shopper's address."""

from __future__ import annotations

import io
import json
import stat
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from commerce_sync.aws.privacy_audit import AUDIT_PARTITION
from commerce_sync.aws.settings import Settings
from commerce_sync.orders.stored import order_json

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical, send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
TOKEN = "shpat_data_request"
REQUEST_ID = 9999


# ---- what the store sends ---------------------------------------------------------------------------------------


def number() -> int:
    return int(uuid.uuid4().int % 10**12)


def shopify_order(email: str, customer_id: int, updated_at: str) -> dict[str, Any]:
    order = json.loads((EVENTS / "shopify_order_body.json").read_text())
    order.update(
        id=number(), email=email, updated_at=updated_at, cart_token=uuid.uuid4().hex, checkout_token=uuid.uuid4().hex
    )
    order["customer"].update(id=customer_id, email=email)
    return order


def shopify_checkout(email: str, customer_id: int, updated_at: str) -> dict[str, Any]:
    checkout = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text())
    checkout.update(token=uuid.uuid4().hex, cart_token=uuid.uuid4().hex, email=email, updated_at=updated_at)
    checkout["customer"].update(id=customer_id, email=email)
    return checkout


def data_request(store: RegisteredStore, email: str, customer_id: int, order_ids: list[int]) -> bytes:
    body = {
        "shop_id": 954889,
        "shop_domain": store.identity,
        "orders_requested": order_ids,
        "customer": {"id": customer_id, "email": email, "phone": "555-625-1199"},
        "data_request": {"id": REQUEST_ID},
    }
    return json.dumps(body).encode()


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any] | bytes) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = send_shopify(runner.url, store.webhook_secret, topic, store.identity, raw)
    assert answer.status_code == 202, answer.text


# ---- what is held, read independently of the code under test ---------------------------------------------------


def as_plain_json(value: Any) -> Any:
    """A DynamoDB item as the export promises it: numbers, sorted lists for sets, JSON documents kept in strings
    (a stored order, a cart's shopper) as documents."""
    if isinstance(value, Decimal):
        return int(value) if value % 1 == 0 else float(value)
    if isinstance(value, set):
        return sorted(as_plain_json(member) for member in value)
    if isinstance(value, dict):
        return {name: as_plain_json(member) for name, member in value.items()}
    if isinstance(value, list):
        return [as_plain_json(member) for member in value]
    return value


def state_items(store_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    found = {}
    for entity_type, entity_id in keys:
        item = table.get_item(Key={"pk": f"{store_id}#{entity_type}#{entity_id}", "sk": "state"}).get("Item")
        if item is not None:
            attributes = {name: as_plain_json(value) for name, value in item.items() if name not in {"pk", "sk"}}
            if "order" in item:
                # Kept compressed (commerce_sync.orders.stored).
                attributes["order"] = order_json(item["order"])
            for name in ("order", "customer", "pending_cart", "withheld"):
                if attributes.get(name):
                    attributes[name] = json.loads(attributes[name])
            found[(entity_type, entity_id)] = attributes
    return found


def audit_lines(store_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": AUDIT_PARTITION})["Items"]
    return [item for item in items if item.get("store_id") == store_id]


def rendered(record: Any) -> str:
    """A record as `privacy export` prints it: indented JSON."""
    text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False)
    return "\n".join("  " + line for line in text.splitlines())


# ---- the scene ---------------------------------------------------------------------------------------------------


@pytest.fixture
def shopify(runner: LocalRunner) -> Iterator[tuple[ShopifyEmulator, RegisteredStore]]:
    with ShopifyEmulator(f"data-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        store = register_store(
            "shopify",
            identity=emulator.shop_domain,
            list_id=f"list-{uuid.uuid4().hex[:6]}",
            platform_api_url=emulator.base_url,
            platform_api_credentials={"access_token": TOKEN},
        )
        yield emulator, store


def test_a_data_request_keeps_exactly_what_is_held_and_the_cli_shows_it(
    runner: LocalRunner,
    shopify: tuple[ShopifyEmulator, RegisteredStore],
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _, store = shopify
    store_id, list_id = store.store_id, store.store.list_id
    suffix = uuid.uuid4().hex[:8]
    email, other = f"Data.Shopper.{suffix}@Example.com", f"someone.else.{suffix}@example.com"
    customer_id, other_customer = number(), number()
    mine, theirs = mailchimp_customer_id(email), mailchimp_customer_id(other)

    orders = [shopify_order(email, customer_id, f"2025-03-14T09:3{minute}:00-04:00") for minute in (1, 2)]
    other_order = shopify_order(other, other_customer, "2025-03-14T09:33:00-04:00")
    for order in [*orders, other_order]:
        send(runner, store, "orders/create", order)
    runner.wait_until_idle(timeout=60)
    # The carts after the orders: a purchase ends the shopper's carts that were open before it.
    cart = shopify_checkout(email, customer_id, "2025-03-14T11:00:00-04:00")
    other_cart = shopify_checkout(other, other_customer, "2025-03-14T11:01:00-04:00")
    send(runner, store, "checkouts/update", cart)
    send(runner, store, "checkouts/update", other_cart)
    runner.wait_until_idle(timeout=60)

    base = f"/ecommerce/stores/{store_id}"
    held_customer = mailchimp_reader.resource(f"{base}/customers/{mine}")
    held_orders = [mailchimp_reader.resource(f"{base}/orders/{order['id']}") for order in orders]
    held_cart = mailchimp_reader.resource(f"{base}/carts/{cart['cart_token']}")
    held_member = mailchimp_reader.resource(f"/lists/{list_id}/members/{mine}")
    assert held_customer is not None and held_cart is not None and all(held_orders)
    assert held_member is not None and held_member["status"] == "subscribed"
    assert mailchimp_reader.resource(f"{base}/carts/{other_cart['cart_token']}") is not None

    order_ids = [order["id"] for order in orders]
    forged = send_shopify(
        runner.url, "not-the-app-secret", "customers/data_request", store.identity, data_request(store, email, 1, [])
    )
    assert forged.status_code == 401
    send(runner, store, "customers/data_request", data_request(store, email, customer_id, order_ids))
    runner.wait_until_idle(timeout=60)

    # The audit line: completed, naming the kept object and the counts, and nobody.
    (line,) = audit_lines(store_id)
    key = f"privacy-exports/{store_id}/{REQUEST_ID}.json"
    assert line["kind"] == "shopify customers/data_request" and line["request_id"] == str(REQUEST_ID)
    assert line.get("completed_at") and line["outcome"]["export_key"] == key
    assert {name: int(line["outcome"][name]) for name in ("mailchimp_customers", "orders", "carts", "members")} == {
        "mailchimp_customers": 1,
        "orders": 2,
        "carts": 1,
        "members": 1,
    }
    assert email.lower() not in json.dumps(line, default=str).lower() and mine not in json.dumps(line, default=str)

    # The kept export: exactly what Mailchimp holds of the shopper ...
    s3 = boto3.client("s3")
    kept = s3.get_object(Bucket=runner.template.refs["ClaimCheckBucket"], Key=key)
    assert kept["ContentType"] == "application/json"
    body = kept["Body"].read()
    document = json.loads(body)
    assert document["store_id"] == store_id and document["request_id"] == str(REQUEST_ID)
    assert document["looked_up"]["email"] == email.lower()
    assert document["looked_up"]["customer_id"] == str(customer_id)
    assert document["mailchimp"]["customers"] == [held_customer]
    assert sorted(document["mailchimp"]["orders"], key=lambda order: order["id"]) == sorted(
        held_orders, key=lambda order: order["id"]
    )
    assert document["mailchimp"]["carts"] == [held_cart]
    assert document["mailchimp"]["members"] == [held_member]
    # ... and exactly our sync-state entries about them.
    expected = state_items(
        store_id,
        [
            ("customer", mine),
            ("platform-customer", str(customer_id)),
            *[("order", str(order_id)) for order_id in order_ids],
            ("cart", cart["cart_token"]),
            # The carts the orders converted, by cart and checkout token (marked so; no shopper remembered).
            *[("cart", order[token]) for order in orders for token in ("cart_token", "checkout_token")],
        ],
    )
    assert len(expected) == 9, "every kind of entry is held"
    assert {(entry["type"], entry["id"]): entry["attributes"] for entry in document["sync_state"]} == expected
    # Nothing of the other shopper.
    text = body.decode()
    for absent in (other.lower(), theirs, str(other_order["id"]), other_cart["cart_token"], str(other_customer)):
        assert absent not in text

    # The CLI: the same content printed, written to a file of the operator's, and the kept export fetched.
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert operator_main.main(["privacy", "export", store_id, "--email", email]) == 0
    printed = capsys.readouterr().out
    for record in [*document["mailchimp"]["customers"], *document["mailchimp"]["orders"]]:
        assert rendered(record) in printed
    for record in [*document["mailchimp"]["carts"], *document["mailchimp"]["members"]]:
        assert rendered(record) in printed
    for entry in document["sync_state"]:
        if entry["type"] != "platform-customer":  # looked up by address alone: the platform id is not named
            assert rendered(entry) in printed
    assert other.lower() not in printed and str(other_order["id"]) not in printed

    written = tmp_path / "shopper.json"
    command = ["privacy", "export", store_id, "--customer-id", str(customer_id), "--json", str(written)]
    assert operator_main.main(command) == 0
    assert str(written) in capsys.readouterr().out
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    by_id = json.loads(written.read_text())
    assert by_id["mailchimp"] == document["mailchimp"] and by_id["sync_state"] == document["sync_state"]

    fetched = tmp_path / "kept.json"
    assert (
        operator_main.main(["privacy", "export", store_id, "--request", str(REQUEST_ID), "--json", str(fetched)]) == 0
    )
    assert fetched.read_bytes() == body and stat.S_IMODE(fetched.stat().st_mode) == 0o600
    assert operator_main.main(["privacy", "export", store_id, "--request", str(REQUEST_ID)]) == 0
    assert rendered(held_cart) in capsys.readouterr().out

    # The CLI's two exports made now (by address, by customer id) have their audit lines; fetching a kept one not.
    made_now = [line for line in audit_lines(store_id) if line["kind"] == "cli export"]
    assert len(made_now) == 2 and all(line.get("completed_at") for line in made_now)
    assert sorted(line["outcome"]["delivered"] for line in made_now) == ["printed", "written to a file"]
    assert all(int(line["outcome"]["orders"]) == 2 for line in made_now)
    assert email.lower() not in json.dumps(made_now, default=str).lower() and mine not in json.dumps(
        made_now, default=str
    )

    # Nothing logged names the shopper: the runner's functions (receiver, cart_events) and this process.
    logged = captured_logs.getvalue()
    assert "shopper data exported" in logged, "the capture saw the export being made"
    assert email.lower() not in logged.lower()


def test_export_cli_refusals_and_a_shopper_of_whom_nothing_is_held(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    store_id = shopify_store.store_id

    nobody = ["privacy", "export", store_id, "--email", "nobody.here@example.com", "--reference", "letter-12"]
    assert operator_main.main(nobody) == 0
    assert "nothing is held about this shopper" in capsys.readouterr().out
    (line,) = audit_lines(store_id)
    assert line["request_id"] == "letter-12" and line["kind"] == "cli export" and line.get("completed_at")
    assert not any(int(count) for name, count in line["outcome"].items() if name != "delivered")

    assert operator_main.main(["privacy", "export", "no-such-store", "--email", "nobody.here@example.com"]) == 2
    assert capsys.readouterr().err == (
        "commerce-sync privacy export: error: no store no-such-store is registered (`commerce-sync stores list` lists "
        "them)\n"
    )
    assert operator_main.main(["privacy", "export", store_id, "--email", "not-an-address"]) == 2
    assert capsys.readouterr().err == "commerce-sync privacy export: error: --email: not an e-mail address\n"
    assert operator_main.main(["privacy", "erase", "no-such-store", "--email", "nobody.here@example.com"]) == 2
    assert "commerce-sync privacy erase: error: no store no-such-store is registered" in capsys.readouterr().err
    assert operator_main.main(["privacy", "erase", store_id, "--email", "not-an-address"]) == 2
    assert capsys.readouterr().err == "commerce-sync privacy erase: error: --email: not an e-mail address\n"
    assert operator_main.main(["privacy", "export", store_id, "--request", "424242"]) == 1
    assert "no export of request 424242" in capsys.readouterr().err
    assert operator_main.main(["privacy", "export", store_id, "--request", "424242", "--order", "1"]) == 2
    assert "not --request" in capsys.readouterr().err
    assert len(audit_lines(store_id)) == 1, "refused or fetched: no new line"
    with pytest.raises(SystemExit) as refused:
        operator_main.main(["privacy", "export", store_id, "--email", "a@example.com", "--customer-id", "7"])
    assert refused.value.code == 2


def canonical_event(store: RegisteredStore, event_type: str, data: dict[str, Any], at: str) -> bytes:
    envelope = {
        "schema_version": "1",
        "event_id": f"site:{event_type}:{uuid.uuid4().hex}",
        "type": event_type,
        "store_id": store.store_id,
        "platform": "canonical",
        "occurred_at": at,
        "entity_id": "c-7",
        "entity_version": at,
        "data": data,
    }
    return json.dumps(envelope).encode()


def canonical_customer(email: str) -> dict[str, Any]:
    return {"id": "c-7", "email": email, "first_name": "Ada", "consent": {"state": "granted"}}


def send_canonical_events(runner: LocalRunner, store: RegisteredStore, bodies: list[bytes]) -> None:
    for body in bodies:
        answer = send_canonical(runner.url, store.webhook_secret, store.store_id, body)
        assert answer.status_code == 202, answer.text
        runner.wait_until_idle(timeout=60)


def test_a_canonical_data_request_by_customer_id_reaches_every_address_the_customer_used(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    """A platform customer written with two addresses is two Mailchimp customers: a request naming only the
    customer id exports both (the sync state's platform-customer item lists them)."""
    store = register_store("canonical", list_id=f"list-{uuid.uuid4().hex[:6]}")
    suffix = uuid.uuid4().hex[:8]
    first, second = f"first.{suffix}@example.com", f"second.{suffix}@example.com"
    request = {"customer_id": "c-7", "request_id": "ticket-7"}
    send_canonical_events(
        runner,
        store,
        [
            canonical_event(store, "customer.updated", canonical_customer(first), "2025-03-14T10:00:00.000000Z"),
            canonical_event(store, "customer.updated", canonical_customer(second), "2025-03-14T11:00:00.000000Z"),
            canonical_event(store, "customer.data_requested", request, "2025-03-14T12:00:00Z"),
        ],
    )

    kept = boto3.client("s3").get_object(
        Bucket=runner.template.refs["ClaimCheckBucket"], Key=f"privacy-exports/{store.store_id}/ticket-7.json"
    )
    document = json.loads(kept["Body"].read())
    ids = sorted([mailchimp_customer_id(first), mailchimp_customer_id(second)])
    base = f"/ecommerce/stores/{store.store_id}"
    assert document["looked_up"]["mailchimp_customer_ids"] == ids
    held = [mailchimp_reader.resource(f"{base}/customers/{mailchimp_id}") for mailchimp_id in ids]
    assert document["mailchimp"]["customers"] == [customer for customer in held if customer is not None]
    assert len(document["mailchimp"]["customers"]) == 2
    members = [
        mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mailchimp_id}") for mailchimp_id in ids
    ]
    assert document["mailchimp"]["members"] == [member for member in members if member is not None]
    entries = {(entry["type"], entry["id"]) for entry in document["sync_state"]}
    assert entries == {("customer", ids[0]), ("customer", ids[1]), ("platform-customer", "c-7")}
    (line,) = audit_lines(store.store_id)
    assert line["kind"] == "canonical customer.data_requested" and line["outcome"]["export_key"].endswith(
        "ticket-7.json"
    )


def test_a_data_request_mailchimp_keeps_failing_is_dead_lettered_and_its_replay_completes_it(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = register_store("canonical", list_id=f"list-{uuid.uuid4().hex[:6]}")
    email = f"retried.{uuid.uuid4().hex[:8]}@example.com"
    updated = canonical_event(store, "customer.updated", canonical_customer(email), "2025-03-14T10:00:00.000000Z")
    send_canonical_events(runner, store, [updated])
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    bucket, key = runner.template.refs["ClaimCheckBucket"], f"privacy-exports/{store.store_id}/ticket-9.json"

    mailchimp.set_faults(rate_500=1.0, seed=5)
    request = {"email": email, "customer_id": "c-7", "request_id": "ticket-9"}
    requested = canonical_event(store, "customer.data_requested", request, "2025-03-14T12:00:00Z")
    answer = send_canonical(runner.url, store.webhook_secret, store.store_id, requested)
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=120)
    mailchimp.set_faults()

    letters = [
        letter
        for letter in dead_letters.peek("cart_events")
        if json.loads(letter.body)["detail"]["store_id"] == store.store_id
    ]
    assert len(letters) == 1 and letters[0].error_type == "MailchimpError"
    (line,) = audit_lines(store.store_id)
    assert line["request_id"] == "ticket-9" and not line.get("completed_at"), "received, not completed"
    with pytest.raises(boto3.client("s3").exceptions.NoSuchKey):
        boto3.client("s3").get_object(Bucket=bucket, Key=key)

    assert operator_main.main(["dead-letters", "cart_events", "--replay"]) == 0
    capsys.readouterr()
    runner.wait_until_idle(timeout=120)
    (line,) = audit_lines(store.store_id)
    assert line.get("completed_at") and line["outcome"]["export_key"] == key
    document = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert [customer["email_address"] for customer in document["mailchimp"]["customers"]] == [email]
