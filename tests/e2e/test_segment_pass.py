"""The nightly segment pass through the local runner (product_sync invoked as the schedule invokes it, moto, the
Mailchimp emulator over HTTP): customers cross the time thresholds without an order when the pass runs at a
later moment (the request's `at`: the clock is injected, nothing sleeps), tags are written only for the customers
whose segments changed, a second pass at the same moment writes nothing, members in compliance states and
shoppers without a member are skipped with the reason and never touched, a failing Mailchimp is retried and then
dead-lettered (and the dead letter, replayed, writes the tags), and a store with segments off is skipped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, StoreRegistry
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.segments.nightly import PassRecords

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.e2e.test_segments import LIST_ID, NOW, Shopper, segmented_store
from tests.harness import RegisteredStore, register_store

FUNCTION = "ProductSyncFunction"


def run_pass(runner: LocalRunner, store: RegisteredStore, days_later: float) -> dict[str, Any]:
    at = (NOW + timedelta(days=days_later)).isoformat()
    answer: dict[str, Any] = runner.invoke(FUNCTION, {"action": "segment_pass", "store_id": store.store_id, "at": at})
    return answer


def counts(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("examined", "changed", "tags_added", "tags_removed", "skipped_no_member", "dead_lettered")
    return {key: summary[key] for key in keys}


def test_time_moves_customers_across_the_thresholds_and_only_changes_are_written(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = segmented_store()
    lapsing = Shopper(runner, mailchimp, store)
    lapsing.send(lapsing.order("h1", "20.00", days_ago=120), lapsing.order("h2", "20.00", days_ago=80))
    newcomer = Shopper(runner, mailchimp, store)
    newcomer.send(newcomer.order("i1", "20.00", days_ago=20))
    advocate = Shopper(runner, mailchimp, store)
    advocate.send(*(advocate.order(f"j{n}", "20.00", days_ago=25 - n) for n in range(3)))
    steady = Shopper(runner, mailchimp, store)
    steady.send(steady.order("k1", "700.00", days_ago=10), steady.order("k2", "20.00", days_ago=5))
    assert (lapsing.tags(), newcomer.tags(), advocate.tags(), steady.tags()) == (set(), set(), {"Advocate"}, {"VIP"})
    requests_before = len(mailchimp.requests)

    # Nothing crossed a threshold yet: the pass reads every aggregate and writes nothing.
    today = run_pass(runner, store, 0)
    assert today["status"] == "done"
    assert counts(today) == counts({**today, "examined": 4, "changed": 0, "tags_added": 0, "tags_removed": 0})
    assert len(mailchimp.requests) == requests_before

    # Eleven days on: the last of two orders is 91 days old, the only order 31 days, the advocate's newest 34.
    later = run_pass(runner, store, 11)
    assert counts(later) == {
        "examined": 4,
        "changed": 3,
        "tags_added": 2,
        "tags_removed": 1,
        "skipped_no_member": 0,
        "dead_lettered": 0,
    }
    assert lapsing.tags() == {"At risk"} and newcomer.tags() == {"One-time buyer"} and advocate.tags() == set()
    assert steady.tags() == {"VIP"} and len(steady.tag_requests()) == 1
    # Written as news (the pass is not history): automations on "tag added" may fire.
    assert lapsing.tag_requests()[-1]["body"] == {"tags": [{"name": "At risk", "status": "active"}]}

    again = run_pass(runner, store, 11)
    assert (again["examined"], again["changed"]) == (4, 0)
    last = PassRecords(SyncState(Settings.from_environment().sync_state_table).table).last_summary(store.store_id)
    assert (
        last is not None
        and last["run_id"] == again["run_id"]
        and last["at"].startswith((NOW + timedelta(days=11)).date().isoformat())
    )

    # The newcomer orders again: the live path takes the one-time tag off at once.
    newcomer.send(newcomer.order("i2", "20.00", days_ago=0))
    assert newcomer.tags() == set()


def test_members_in_compliance_states_and_shoppers_without_a_member_are_skipped_and_never_touched(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = segmented_store()
    gone = Shopper(runner, mailchimp, store)
    gone.send(gone.order("m1", "20.00", days_ago=20))
    with mailchimp.state.lock:
        audience = mailchimp.state.lists[LIST_ID]
        del audience.members[gone.hash]
        audience.forgotten.add(gone.hash)
    unsubscribed = Shopper(runner, mailchimp, store)
    unsubscribed.send(unsubscribed.order("n1", "20.00", days_ago=20))
    mailchimp.set_member_status(LIST_ID, unsubscribed.email, "unsubscribed")
    compliance = Shopper(runner, mailchimp, store)
    compliance.send(compliance.order("o1", "20.00", days_ago=20))
    # What the order path records when Mailchimp answers "Member In Compliance State" for the customer.
    state = SyncState(Settings.from_environment().sync_state_table)
    state.table.update_item(
        Key={"pk": f"{store.store_id}#customer#{compliance.hash}", "sk": "state"},
        UpdateExpression="SET compliance_state = :yes",
        ExpressionAttributeValues={":yes": True},
    )

    summary = run_pass(runner, store, 11)

    assert (summary["examined"], summary["changed"], summary["skipped_no_member"]) == (3, 0, 1)
    assert summary["skipped"] == {"no_audience_member": 1, "member_unsubscribed": 1, "compliance_state": 1}
    for shopper in (gone, unsubscribed, compliance):
        assert shopper.tag_requests() == []
    assert (gone.skipped(), unsubscribed.skipped(), compliance.skipped()) == (
        "no_audience_member",
        "member_unsubscribed",
        "compliance_state",
    )


def test_a_failing_mailchimp_is_retried_then_dead_lettered_and_the_replayed_letter_writes_the_tags(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = segmented_store()
    shopper = Shopper(runner, mailchimp, store)
    shopper.send(shopper.order("q1", "20.00", days_ago=20))
    # The store's one-time threshold lowered to 10 days: the shopper is one now, which only a pass writes.
    registry = StoreRegistry(Settings.from_environment().stores_table)
    registry.update(store.store.model_copy(update={"segments": SegmentRules(one_time_after_days=10)}), ["segments"])
    dead_letters = runner.operator_environment()["PRODUCT_SYNC_DEAD_LETTER_QUEUE_URL"]
    sqs = boto3.client("sqs")
    member_path = f"/members/{shopper.hash}"
    calls_before = sum(1 for request in mailchimp.requests if member_path in request["path"])

    mailchimp.set_faults(rate_500=1.0)
    try:
        summary = run_pass(runner, store, 0)
    finally:
        mailchimp.set_faults()

    assert (summary["examined"], summary["changed"], summary["dead_lettered"]) == (1, 0, 1)
    assert shopper.tags() == set()
    # Tried twice (PassConfig.attempts), each time with the client's own retries of the 500.
    assert sum(1 for request in mailchimp.requests if member_path in request["path"]) - calls_before >= 2
    letters = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        letters += [m for m in answer.get("Messages", []) if store.store_id in m["Body"]]
        if letters:
            break
    (letter,) = letters
    body = json.loads(letter["Body"])
    assert body == {"action": "segment_tags", "store_id": store.store_id, "customer_id": shopper.hash}
    assert letter["MessageAttributes"]["source"]["StringValue"] == "segment_pass"
    assert shopper.email not in letter["Body"]
    sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=letter["ReceiptHandle"])

    replayed = runner.invoke(FUNCTION, body)
    assert replayed["segments"] == "written" and shopper.tags() == {"One-time buyer"}


def test_a_store_with_segments_off_is_skipped(runner: LocalRunner) -> None:
    store = register_store("canonical", currency_code="EUR")
    answer = runner.invoke(FUNCTION, {"action": "segment_pass", "store_id": store.store_id})
    assert answer == {"status": "skipped", "store_id": store.store_id, "reason": "segments are off for this store"}


def test_the_nightly_schedule_queues_a_pass_for_each_store_with_segments_on(
    runner: LocalRunner, mailchimp: MailchimpEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, off = segmented_store(), register_store("canonical", currency_code="EUR")
    once = Shopper(runner, mailchimp, store)
    once.send(once.order("r1", "20.00", days_ago=20))
    registry = StoreRegistry(Settings.from_environment().stores_table)
    registry.update(store.store.model_copy(update={"segments": SegmentRules(one_time_after_days=10)}), ["segments"])
    # Only this test's stores (the registry is shared by the session's tests); the patch reaches the handler in
    # this process only, so the scheduled invocation runs here and the queued passes in the runner.
    monkeypatch.setattr(
        "commerce_sync.aws.store_registry.StoreRegistry.list",
        lambda self: [self.get(store.store_id), self.get(off.store_id)],
    )
    answer = runner.in_process(FUNCTION).invoke({"action": "reconcile", "scope": "all_stores"})
    runner.wait_until_idle(timeout=60)

    assert answer["segment_passes"] == {"status": "queued", "stores": [store.store_id]}
    table = SyncState(Settings.from_environment().sync_state_table).table
    last = PassRecords(table).last_summary(store.store_id)
    assert last is not None and last["trigger"] == "schedule" and last["status"] == "done"
    assert (last["examined"], last["changed"]) == (1, 1) and once.tags() == {"One-time buyer"}
    assert PassRecords(table).last_summary(off.store_id) is None
