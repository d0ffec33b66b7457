"""`commerce-sync dead-letters FN` narrowed by --store, --since and --error-type, through the local runner: the
order queue's dead-letter queue holds real letters of two stores and two error types (an order Mailchimp kept
failing, MailchimpError; a shipment of that order, which was never applied, OrderNotYetKnown), the listing and a
dry run show exactly the matching ones and move nothing, and a replay for one store moves only that store's
letters, which then land in Mailchimp, while the other store's stay in the queue as they were."""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.e2e.test_shopify_orders import new_order
from tests.harness import MailchimpReader, RegisteredStore, register_store

FUNCTION = "order_status"


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    old_stdin, sys.stdin = sys.stdin, io.StringIO("")
    try:
        code = operator_main.main(list(arguments))
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return code, out, err


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> None:
    answer = send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())
    assert answer.status_code == 202, answer.text


def order_and_shipment(store: RegisteredStore) -> tuple[dict[str, Any], dict[str, Any]]:
    order = new_order()
    order["email"] = order["customer"]["email"] = f"dlq-{uuid.uuid4().hex[:6]}@example.com"
    shipment = {
        "id": int(uuid.uuid4().int % 10**12),
        "order_id": order["id"],
        "status": "success",
        "tracking_number": f"TRACK-{store.store_id}",
        "tracking_company": "DHL",
        "created_at": "2026-01-12T10:00:00Z",
        "updated_at": "2026-01-12T10:00:00Z",
    }
    return order, shipment


def letters_of(*stores: RegisteredStore) -> dict[str, dead_letters.DeadLetter]:
    """The order queue's dead letters of these stores, by message id, read as the CLI reads them."""
    ids = {store.store_id for store in stores}
    return {letter.message_id: letter for letter in dead_letters.peek(FUNCTION, limit=10_000) if letter.store_id in ids}


def by_kind(letters: dict[str, dead_letters.DeadLetter], store: RegisteredStore) -> dict[str, str]:
    """error type -> message id, for one store's letters."""
    return {letter.error_type: letter.message_id for letter in letters.values() if letter.store_id == store.store_id}


def test_letters_are_narrowed_by_store_time_and_error_type_and_a_store_replay_moves_only_its_own(
    runner: LocalRunner,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    mine, theirs = register_store("shopify"), register_store("shopify")
    started = datetime.now(UTC) - timedelta(seconds=1)
    sent: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    # Mailchimp fails every request: each order fails after its retries; each shipment names an order that was never
    # applied (and that the store's platform, without API credentials, cannot be asked for).
    mailchimp.set_faults(rate_500=1.0, seed=7)
    try:
        for store in (mine, theirs):
            order, shipment = sent[store.store_id] = order_and_shipment(store)
            send(runner, store, "orders/create", order)
            send(runner, store, "fulfillments/create", shipment)
        runner.wait_until_idle(timeout=180)
    finally:
        mailchimp.set_faults()
    before = letters_of(mine, theirs)
    mine_by_kind, theirs_by_kind = by_kind(before, mine), by_kind(before, theirs)
    assert set(mine_by_kind) == set(theirs_by_kind) == {"MailchimpError", "OrderNotYetKnown"}, before
    assert len(before) == 4
    addresses = [order["email"] for order, _ in sent.values()]

    # Listed: only my store's, with what each is about and why it failed; never a body, so no address.
    code, out, _ = cli(capsys, "dead-letters", FUNCTION, "--store", mine.store_id)
    assert code == 0
    rows = out.splitlines()
    assert rows[-1] == f"2 dead letter(s) shown for {FUNCTION} matching --store {mine.store_id}"
    assert rows[0].split() == ["MESSAGE", "FAILED", "AT", "STORE", "ABOUT", "ERROR"]
    assert {row.split()[0] for row in rows[1:-1]} == set(mine_by_kind.values())
    order_id = sent[mine.store_id][0]["id"]
    order_row = next(row for row in rows if row.startswith(mine_by_kind["MailchimpError"]))
    assert f"{mine.store_id}  order.updated {order_id}" in order_row and "MailchimpError: Mailchimp 500" in order_row
    shipment_row = next(row for row in rows if row.startswith(mine_by_kind["OrderNotYetKnown"]))
    assert f"OrderNotYetKnown: order {order_id} has not been applied yet" in shipment_row
    assert not any(address in out for address in addresses)

    # --error-type (in any case) and --since narrow further; the same in JSON.
    code, out, _ = cli(
        capsys, "dead-letters", FUNCTION, "--store", mine.store_id, "--error-type", "ordernotyetknown", "--json"
    )
    assert code == 0
    (shown,) = json.loads(out)["letters"]
    assert shown["message_id"] == mine_by_kind["OrderNotYetKnown"]
    assert (shown["store_id"], shown["error_type"], shown["permanent"]) == (mine.store_id, "OrderNotYetKnown", False)
    assert datetime.fromisoformat(shown["failed_at"]) >= started
    assert "body" not in shown

    def since(value: str) -> list[dict[str, Any]]:
        arguments = ("dead-letters", FUNCTION, "--store", theirs.store_id, "--since", value, "--json")
        return list(json.loads(cli(capsys, *arguments)[1])["letters"])

    assert {letter["message_id"] for letter in since("1h")} == set(theirs_by_kind.values())
    assert {letter["message_id"] for letter in since(started.isoformat())} == set(theirs_by_kind.values())
    assert since((datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S%z")) == []
    mailchimp_errors = json.loads(cli(capsys, "dead-letters", FUNCTION, "--error-type", "MailchimpError", "--json")[1])
    ours = {letter["message_id"] for letter in mailchimp_errors["letters"] if letter["store_id"] in sent}
    assert ours == {mine_by_kind["MailchimpError"], theirs_by_kind["MailchimpError"]}
    assert all(letter["error_type"] == "MailchimpError" for letter in mailchimp_errors["letters"])

    # A dry run lists exactly what a replay would send, and sends nothing.
    code, out, _ = cli(capsys, "dead-letters", FUNCTION, "--store", mine.store_id, "--replay", "--dry-run")
    assert code == 0
    would = [line.split()[2] for line in out.splitlines() if line.startswith("would send ")]
    assert sorted(would) == sorted(mine_by_kind.values())
    assert out.splitlines()[-1].startswith(
        f"2 dead letter(s) matching --store {mine.store_id} matched: 2 would be sent back to the {FUNCTION} queue "
        "(dry run: nothing was sent); "
    )
    code, out, _ = cli(capsys, "dead-letters", FUNCTION, "--store", mine.store_id, "--replay", "--dry-run", "--json")
    dry = json.loads(out)
    assert (dry["matched"], dry["would_send"], dry["sent"]) == (2, 2, 0)
    assert letters_of(mine, theirs).keys() == before.keys(), "a dry run moves nothing"
    time.sleep(1)
    assert mailchimp_reader.resource(f"/ecommerce/stores/{mine.store_id}/orders/{order_id}") is None

    # The replay: only my store's letters go back, and land; the other store's stay, the same messages.
    code, out, err = cli(capsys, "dead-letters", FUNCTION, "--store", mine.store_id, "--replay")
    assert code == 0, err
    last = out.splitlines()[-1]
    assert last.startswith(
        f"2 dead letter(s) matching --store {mine.store_id} matched: 2 record(s) sent back to the {FUNCTION} queue; "
    ), last
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("sent ")) == sorted(
        mine_by_kind.values()
    )
    runner.wait_until_idle(timeout=120)
    landed = mailchimp_reader.resource(f"/ecommerce/stores/{mine.store_id}/orders/{order_id}")
    assert landed is not None, "the replayed order lands"
    assert landed.get("tracking_number") == f"TRACK-{mine.store_id}", "the replayed shipment lands on it"
    after = letters_of(mine, theirs)
    assert set(after) == set(theirs_by_kind.values()), "the other store's letters stay, mine are gone"
    for message_id, letter in after.items():
        assert (letter.error_type, letter.body) == (before[message_id].error_type, before[message_id].body)
    their_order = sent[theirs.store_id][0]["id"]
    assert mailchimp_reader.resource(f"/ecommerce/stores/{theirs.store_id}/orders/{their_order}") is None


def test_bad_filters_are_refused_in_plain_words_with_exit_code_2(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "dead-letters", FUNCTION, "--since", "yesterday")
    assert (code, out) == (2, "")
    assert "--since 'yesterday' is not a date (2025-01-31)" in err and "a duration back from now (30m, 2h, 3d)" in err
    code, out, err = cli(capsys, "dead-letters", FUNCTION, "--dry-run")
    assert (code, out) == (2, "")
    assert "add --replay" in err
    with pytest.raises(SystemExit) as refused:
        cli(capsys, "dead-letters", FUNCTION, "--limit", "0")
    assert refused.value.code == 2
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err
