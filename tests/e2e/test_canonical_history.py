"""History and same-second changes in the canonical format, end to end through the local runner: what an ERP or
an adapter pushing a store's past to /webhooks/canonical gets (docs/canonical-events.md), judged by what
Mailchimp ends up holding and which order e-mails it sends (the emulator's `order_notifications`)."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from operator_cli.main import main
from tests.harness import MailchimpReader, RegisteredStore, register_store

T = TypeVar("T")

SECOND = "2025-03-14T13:18:02.000000Z"


@pytest.fixture
def canonical_store(runner: LocalRunner) -> RegisteredStore:
    return register_store("canonical", currency_code="EUR")


def order_event(
    store: RegisteredStore,
    order_id: str,
    *,
    version: str = SECOND,
    financial_status: str = "paid",
    event_id: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": order_id,
        "customer": {"email": f"buyer-{order_id}@example.com", "consent": {"state": "granted"}},
        "currency_code": "EUR",
        "order_total": "42.50",
        "financial_status": financial_status,
        "processed_at": "2025-03-14T13:18:00Z",
        "lines": [
            {
                "id": "l1",
                "product_id": "p1",
                "variant_id": "p1-m",
                "product_title": "Socks",
                "quantity": 2,
                "price": "21.25",
            }
        ],
    }
    return {
        "schema_version": "1",
        "event_id": event_id or f"erp:order:{order_id}:{uuid.uuid4().hex}",
        "type": "order.updated",
        "store_id": store.store_id,
        "platform": "canonical",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": order_id,
        "entity_version": version,
        "data": data,
        **envelope,
    }


def post(runner: LocalRunner, store: RegisteredStore, event: dict[str, Any]) -> requests.Response:
    return send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(event).encode())


def status(env_file: Path, *arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--env-file", str(env_file), "status", *arguments])
    return code, out.getvalue()


def wait_for(look: Callable[[], T], timeout: float = 15.0) -> T:
    """`look()` once it is truthy (time has to pass for a timeout to strike); its last answer otherwise."""
    deadline = time.monotonic() + timeout
    while not (answer := look()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return answer


def accepted(runner: LocalRunner, store: RegisteredStore, event: dict[str, Any]) -> dict[str, Any]:
    response = post(runner, store, event)
    assert response.status_code == 202, response.text
    return dict(response.json())


# ---- versions that tie -----------------------------------------------------------------------------------------


def test_two_changes_in_the_same_second_both_apply_in_order_and_a_true_duplicate_is_ignored(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    order_id = uuid.uuid4().hex[:12]
    placed = order_event(canonical_store, order_id, financial_status="pending", sequence=1)
    paid = order_event(canonical_store, order_id, financial_status="paid", sequence=2)

    accepted(runner, canonical_store, placed)
    runner.wait_until_idle()
    accepted(runner, canonical_store, paid)
    runner.wait_until_idle()
    # The very same delivery again (a sender's retry), and the same change under another event id.
    accepted(runner, canonical_store, paid)
    accepted(runner, canonical_store, {**paid, "event_id": f"{paid['event_id']}-again", "data": placed["data"]})
    runner.wait_until_idle()

    store = canonical_store.store_id
    assert mailchimp.order_status_history(store, order_id) == [("pending", None), ("paid", None)]
    assert [n.kind for n in mailchimp.order_notifications(store, order_id)] == ["order_confirmation", "order_invoice"]
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{order_id}")
    assert held is not None and held["financial_status"] == "paid"


def test_without_a_sequence_the_second_change_of_the_same_second_is_stale(
    runner: LocalRunner, canonical_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    order_id = uuid.uuid4().hex[:12]

    accepted(runner, canonical_store, order_event(canonical_store, order_id, financial_status="pending"))
    runner.wait_until_idle()
    accepted(runner, canonical_store, order_event(canonical_store, order_id, financial_status="paid"))
    runner.wait_until_idle()

    # What the issue reported, and why the sequence exists: equal versions are not newer.
    assert mailchimp.order_status_history(canonical_store.store_id, order_id) == [("pending", None)]


# ---- history: an import, and one-off historical events ----------------------------------------------------------


def store_event(store: RegisteredStore, kind: str, import_id: str, **data: Any) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "event_id": f"erp:{kind}:{import_id}",
        "type": f"store.{kind}",
        "store_id": store.store_id,
        "platform": "canonical",
        "occurred_at": "2026-01-01T00:00:00Z",
        "entity_id": import_id,
        "entity_version": "2026-01-01T00:00:00.000000Z",
        "data": {"id": import_id, **data},
    }


def past_order(store: RegisteredStore, number: int, **envelope: Any) -> dict[str, Any]:
    """A months-old order as an ERP exports it: final status, shipped, placed and changed long ago."""
    order_id = f"h{number:04d}-{uuid.uuid4().hex[:6]}"
    event = order_event(store, order_id, version=f"2025-0{1 + number % 9}-01T10:00:00.000000Z", **envelope)
    event["data"].update(shipped=number % 3 == 0, processed_at=f"2025-0{1 + number % 9}-01T09:00:00Z")
    if number % 10 == 0:
        event["data"].update(financial_status="cancelled", cancelled_at=f"2025-0{1 + number % 9}-01T10:00:00Z")
    return event


def is_syncing(reader: MailchimpReader, store: RegisteredStore) -> bool:
    held = reader.resource(f"/ecommerce/stores/{store.store_id}")
    assert held is not None
    return bool(held["is_syncing"])


def send_all(runner: LocalRunner, store: RegisteredStore, events: list[dict[str, Any]]) -> None:
    """As an adapter pushes a backlog: several deliveries at once, each answered before the import is finished."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda event: post(runner, store, event), events))
    refused = [answer.text for answer in answers if answer.status_code != 202]
    assert not refused, refused[:3]


def test_an_import_of_200_past_orders_lands_whole_and_fires_no_notification(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    orders = [past_order(canonical_store, number) for number in range(200)]

    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "backlog-2025"))
    send_all(runner, canonical_store, orders)
    accepted(runner, canonical_store, store_event(canonical_store, "sync_finished", "backlog-2025"))
    runner.wait_until_idle(timeout=180)

    store = canonical_store.store_id
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders?count=1000")
    assert held is not None and held["total_items"] == 200
    by_id = {order["id"]: order for order in held["orders"]}
    for event in orders:
        order = by_id[event["entity_id"]]
        # Written whole (the flag was on): statuses, totals and dates as exported.
        expected = event["data"]["financial_status"]
        assert order["financial_status"] == expected, event["entity_id"]
        assert order.get("fulfillment_status") == ("shipped" if event["data"]["shipped"] else None)
        assert order["order_total"] == (0 if expected == "cancelled" else 42.5)
        assert order["processed_at_foreign"].startswith(event["data"]["processed_at"][:19])
        changes = mailchimp.order_status_events(store, event["entity_id"])
        assert changes and all(change.store_is_syncing for change in changes), event["entity_id"]
    assert mailchimp.order_notifications(store) == []
    assert is_syncing(mailchimp_reader, canonical_store) is False


def test_an_import_nobody_finishes_is_closed_by_its_timeout_and_status_shows_it_meanwhile(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    monkeypatch.setenv("LOCAL_RUNNER_URL", runner.url)
    # Long enough for a loaded machine to deliver the import's events before it could strike.
    timeout = 20
    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "crashed", timeout_seconds=timeout))
    send_all(runner, canonical_store, [past_order(canonical_store, number) for number in range(3)])
    runner.wait_until_idle()
    # The sender died here: no store.sync_finished ever comes.
    assert is_syncing(mailchimp_reader, canonical_store) is True
    # The store's is_syncing is the open import's: nothing of the store needs attention meanwhile.
    code, out = status(env_file, canonical_store.store_id)
    assert code == 0, out
    assert "canonical import:" in out and "one open" in out
    (line,) = [line for line in out.splitlines() if "import crashed" in line]
    assert f"store {canonical_store.store_id}: import crashed open" in line
    assert "3 of 3 events applied" in line and "closes by timeout at" in line
    (product_sync,) = [spec for spec in runner.template.functions() if spec.logical_id == "ProductSyncFunction"]
    schedule = json.loads(product_sync.schedules["ImportTimeouts"]["Input"])  # what the template's schedule sends

    ours = f"store {canonical_store.store_id}: "

    def sweep() -> tuple[list[str], list[str]]:
        """The schedule's invocation: what it closed and what stays open, of this store (the runner has others)."""
        result = runner.invoke("ProductSyncFunction", schedule)
        store_open = [held["import_id"] for held in result["open"] if held["store_id"] == canonical_store.store_id]
        return [message for message in result["closed"] if message.startswith(ours)], store_open

    assert sweep() == ([], ["crashed"])
    closed = wait_for(lambda: sweep()[0], timeout=timeout + 10)

    (message,) = closed
    assert message.startswith(f"store {canonical_store.store_id}: import crashed timed out (no event of it since ")
    assert message.endswith("3 of 3 events applied) and was closed; is_syncing set off")
    assert is_syncing(mailchimp_reader, canonical_store) is False
    assert mailchimp.order_notifications(canonical_store.store_id) == []
    code, out = status(env_file)
    assert "import crashed" not in out


def test_status_closes_an_import_whose_timeout_passed_and_says_so(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp_reader: MailchimpReader,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    monkeypatch.setenv("LOCAL_RUNNER_URL", runner.url)
    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "left-open", timeout_seconds=1))

    ours = f"reset: store {canonical_store.store_id}: import left-open timed out"
    # `status` reads every store the session registered, seconds a call late in a full run on two workers.
    said = wait_for(lambda: [line for line in status(env_file)[1].splitlines() if line.startswith(ours)], timeout=60)

    # Nothing of it was ever written, so the flag was never needed.
    assert len(said) == 1 and said[0].endswith("0 of 0 events applied) and was closed; is_syncing was never set")
    assert is_syncing(mailchimp_reader, canonical_store) is False
    # Closed, its id is spent; the store takes the next import.
    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "next"))


def test_historical_orders_fire_nothing_on_a_live_store_while_a_live_order_still_does(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store = canonical_store.store_id
    shipped = past_order(canonical_store, 3, historical=True)  # paid and shipped
    cancelled = past_order(canonical_store, 10, historical=True)
    live = order_event(canonical_store, f"live-{uuid.uuid4().hex[:8]}", financial_status="paid")

    send_all(runner, canonical_store, [shipped, cancelled, live])
    runner.wait_until_idle()

    for event in (shipped, cancelled):
        order = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{event['entity_id']}")
        assert order is not None, event["entity_id"]
        # The purchase lands (lines, total, dates, customer); the statuses that would send e-mails do not.
        assert order["lines"][0]["product_id"] == "p1" and order["processed_at_foreign"]
        assert order.get("financial_status") in (None, "") and order.get("fulfillment_status") in (None, "")
        assert not order.get("cancelled_at_foreign")
    assert order["order_total"] == 0  # the cancelled one counts no revenue
    notified = [(note.order_id, note.kind) for note in mailchimp.order_notifications(store)]
    assert notified == [(live["entity_id"], "order_invoice")], "the store stayed live for everyone else"
    assert is_syncing(mailchimp_reader, canonical_store) is False
    assert all(not change.store_is_syncing for change in mailchimp.order_status_events(store, shipped["entity_id"]))

    # A later live change that says the same as the history still sends nothing; a real change does.
    same = order_event(canonical_store, shipped["entity_id"], version="2026-02-01T00:00:00.000000Z")
    same["data"].update(shipped=True, order_url="https://shop.example.com/orders/1")
    accepted(runner, canonical_store, same)
    runner.wait_until_idle()
    assert [n.kind for n in mailchimp.order_notifications(store, shipped["entity_id"])] == []
    refunded = order_event(
        canonical_store, shipped["entity_id"], version="2026-02-02T00:00:00.000000Z", financial_status="refunded"
    )
    refunded["data"].update(shipped=True)
    accepted(runner, canonical_store, refunded)
    runner.wait_until_idle()
    assert [n.kind for n in mailchimp.order_notifications(store, shipped["entity_id"])] == ["refund_confirmation"]


def test_history_asks_no_one_to_confirm_a_subscription_and_brings_back_no_abandoned_cart(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("canonical", currency_code="EUR", double_opt_in=True)
    past = past_order(store, 1, historical=True)
    now = order_event(store, f"live-{uuid.uuid4().hex[:8]}")
    cart_id = uuid.uuid4().hex[:10]
    old_cart = {
        **order_event(store, cart_id, historical=True),
        "type": "cart.updated",
        "event_id": f"erp:cart:{cart_id}",
    }
    old_cart["data"] = {
        key: value for key, value in old_cart["data"].items() if key not in ("financial_status", "processed_at")
    } | {"checkout_url": f"https://shop.example.com/checkout/{cart_id}"}

    send_all(runner, store, [past, now, old_cart])
    runner.wait_until_idle()

    confirming = mailchimp.member(store.store.list_id, now["data"]["customer"]["email"])
    assert confirming is not None and confirming["status"] == "pending"  # the store does double opt-in
    bystander = mailchimp.member(store.store.list_id, past["data"]["customer"]["email"])
    assert bystander is None or bystander["status"] == "transactional"
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart_id}") is None


def test_an_import_is_refused_while_another_is_open_and_a_finish_must_name_the_open_one(
    runner: LocalRunner, canonical_store: RegisteredStore
) -> None:
    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "first"))
    again = post(runner, canonical_store, store_event(canonical_store, "sync_started", "first"))
    second = post(runner, canonical_store, store_event(canonical_store, "sync_started", "second"))
    wrong = post(runner, canonical_store, store_event(canonical_store, "sync_finished", "second"))
    short = post(runner, canonical_store, store_event(canonical_store, "sync_started", "x", timeout_seconds=0))
    mismatched = post(runner, canonical_store, {**store_event(canonical_store, "sync_started", "y"), "entity_id": "z"})
    accepted(runner, canonical_store, store_event(canonical_store, "sync_finished", "first"))
    reopened = post(runner, canonical_store, store_event(canonical_store, "sync_started", "first"))
    runner.wait_until_idle()

    assert again.status_code == 202  # a retry of the same opening
    assert second.status_code == 409 and "has import first open until" in second.json()["message"]
    assert wrong.status_code == 409 and "has no import second" in wrong.json()["message"]
    assert short.status_code == 400 and short.json()["message"].startswith("timeout_seconds:")
    assert mismatched.status_code == 400 and mismatched.json()["message"].startswith("entity_id:")
    assert reopened.status_code == 409 and "was already" in reopened.json()["message"]
    accepted(runner, canonical_store, store_event(canonical_store, "sync_started", "second"))
