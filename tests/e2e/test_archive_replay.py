"""`commerce-sync replay` against the local runner, whose bus keeps an archive as EventBridge does: a window replayed
re-applies only what never got applied (an order lost while Mailchimp was down), narrowed to a store or to event
types, and `--dry-run` sends nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import main as operator_main
from tests.e2e.test_shopify_orders import new_order
from tests.harness import MailchimpReader, RegisteredStore, register_store


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def send(runner: LocalRunner, store: RegisteredStore, order: dict[str, Any]) -> None:
    answer = send_shopify(runner.url, store.webhook_secret, "orders/create", store.identity, json.dumps(order).encode())
    assert answer.status_code == 202, answer.text


def lost_while_mailchimp_is_down(
    runner: LocalRunner, mailchimp: MailchimpEmulator, sends: list[tuple[RegisteredStore, dict[str, Any]]]
) -> None:
    """The orders fail for good, and their dead letters are then lost (purged): only the archive has them."""
    mailchimp.set_faults(rate_500=1.0, seed=9)
    try:
        for store, order in sends:
            send(runner, store, order)
        runner.wait_until_idle(timeout=180)
    finally:
        mailchimp.set_faults()
    sqs = runner.client("sqs")
    sqs.purge_queue(QueueUrl=runner.queue_url("OrderStatusDeadLetterQueue"))


def order_writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}/orders"
    return [
        (r["method"], r["path"])
        for r in mailchimp.requests
        if r["method"] in ("POST", "PATCH", "PUT") and r["path"].startswith(prefix) and r["status"] < 300
    ]


def test_a_window_replayed_reapplies_only_what_is_missing(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine, other = register_store("shopify"), register_store("shopify")
    applied = [new_order() for _ in range(3)]
    for order in applied:
        send(runner, mine, order)
    runner.wait_until_idle(timeout=60)
    lost, other_lost = new_order(), new_order()
    lost_while_mailchimp_is_down(runner, mailchimp, [(mine, lost), (other, other_lost)])

    def held(store: RegisteredStore, order: dict[str, Any]) -> bool:
        return mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/{order['id']}") is not None

    assert all(held(mine, order) for order in applied)
    assert not held(mine, lost) and not held(other, other_lost)
    writes_before = order_writes(mailchimp, mine.store_id)

    assert operator_main.main(["replay", "--from", "15m", "--store", mine.store_id, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert dry.startswith("would replay:") and mine.store_id in dry
    runner.wait_until_idle(timeout=60)
    assert not held(mine, lost), "a dry run replays nothing"

    assert operator_main.main(["replay", "--from", "15m", "--store", mine.store_id]) == 0
    assert "replay completed" in capsys.readouterr().out
    runner.wait_until_idle(timeout=60)

    assert held(mine, lost), "the lost order is applied"
    assert not held(other, other_lost), "another store's events stay out of a replay for one store"
    new_writes = order_writes(mailchimp, mine.store_id)[len(writes_before) :]
    assert {path.rsplit("/", 1)[-1] for _, path in new_writes} <= {"orders", str(lost["id"])}, (
        "the orders applied before are duplicates: nothing written again"
    )
    events = runner.client("events")
    rules = events.list_rules(EventBusName=runner.environment()["EVENT_BUS_NAME"])["Rules"]
    assert not [rule for rule in rules if rule["Name"].startswith("commerce-sync-replay-")], "temporary rules gone"

    # By type, for every store: the other store's lost order too; a cart type alone replays no order.
    assert operator_main.main(["replay", "--from", "15m", "--types", "cart.updated"]) == 0
    runner.wait_until_idle(timeout=60)
    assert not held(other, other_lost)
    capsys.readouterr()
    assert operator_main.main(["replay", "--from", "15m", "--types", "order.updated", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    runner.wait_until_idle(timeout=60)
    assert held(other, other_lost)
    assert summary["state"] == "COMPLETED" and summary["types"] == ["order.updated"]


def test_bad_windows_and_types_are_refused_with_the_fix(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operator_main.main(["replay", "--from", "yesterday"]) == 2
    assert "not a time" in capsys.readouterr().err
    assert operator_main.main(["replay", "--from", "1h", "--types", "order.created"]) == 2
    assert "unknown event type" in capsys.readouterr().err
    assert operator_main.main(["replay", "--from", "1h", "--to", "2h"]) == 2
    assert "--to must come after --from" in capsys.readouterr().err
    assert operator_main.main(["replay", "--from", "1h", "--store", f"nope-{uuid.uuid4().hex[:6]}"]) == 2
    assert "no store" in capsys.readouterr().err
