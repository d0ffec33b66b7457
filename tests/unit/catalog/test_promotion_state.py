"""The promotions' records in the sync-state table (moto server) and how writes are built from them: conditional
writes that never bury a concurrent change, versions for events, removed records that keep late events out, a
rule's `since` hiding the code records of its earlier life, marks in key order, and each write's batch operation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Promotion, PromotionCode
from commerce_sync.catalog.promotion_state import CODE, SEEN, PromoRecord, PromotionState, code_key, rule_key
from commerce_sync.catalog.promotion_writer import code_write, deletion, newer_recorded, rule_write, unchanged

from tests.harness import new_sync_state_table


@pytest.fixture
def state(moto_endpoint: str) -> PromotionState:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return PromotionState(table, dynamodb)


STORE = Store(
    store_id="s1",
    platform="shopify",
    identity="s1.myshopify.com",
    name="S1",
    list_id="l1",
    currency_code="USD",
    secret_id="x",
)
RULE = Promotion(id="r1", type="fixed", amount=Decimal(5), target="total")
CODE_1 = PromotionCode(id="c1", code="FIVE", redemption_url="https://s1.example.com/discount/FIVE")


def test_keys_split_back_into_their_ids() -> None:
    record = PromoRecord(key=code_key("r:1", "c-2"))
    assert (record.is_rule, record.rule_id, record.code_id) == (False, "r:1", "c-2")
    assert PromoRecord(key=rule_key("r:1")).rule_id == "r:1"


def test_nightly_writes_are_conditional_on_the_hash_read_and_events_on_the_version(state: PromotionState) -> None:
    first = rule_write(RULE, None, STORE, "2025-01")
    assert first.kind == "created" and first.record.since == "2025-01"
    assert state.put_records("s1", [(first.record, None)]) == set()
    assert state.put_records("s1", [(first.record, None)]) == {first.key}, "a record exists already"

    held = state.record("s1", first.key)
    again = rule_write(RULE, held, STORE, "2025-02")
    assert again.kind == "updated" and again.record.since == "2025-01" and unchanged(again, held)
    assert state.put_if_newer("s1", again.record.with_changes(version="2025-03"))
    assert not state.put_if_newer("s1", again.record.with_changes(version="2025-02")), "an older event"
    assert state.put_records("s1", [(again.record.with_changes(hash="other"), "not-the-hash")]) == {first.key}
    assert newer_recorded(state.record("s1", first.key), "2025-02")


def test_a_deletion_leaves_a_removed_record_and_a_failed_one_becomes_a_record_to_delete_again(
    state: PromotionState,
) -> None:
    write = rule_write(RULE, None, STORE, "2025-01")
    state.put_records("s1", [(write.record, None)])
    removal = deletion(write.record, "2025-02")
    assert removal.kind == "deleted" and removal.record.removed and removal.read_hash == write.record.hash
    assert state.put_records("s1", [(removal.record, removal.read_hash)]) == set()
    assert state.record("s1", write.key) == removal.record

    assert state.forget_hash("s1", write.key, "")
    again = state.record("s1", write.key)
    assert again is not None and (again.removed, again.hash) == (False, "")
    created_again = rule_write(RULE, removal.record, STORE, "2025-03")
    assert created_again.kind == "created" and created_again.record.since == "2025-03"


def test_code_records_older_than_the_rules_present_life_count_as_absent() -> None:
    old = code_write("r1", CODE_1, None, "2025-01").record
    assert old.current("2025-01") is old

    rewritten = code_write("r1", CODE_1, old, "2025-05", since="2025-04")
    assert rewritten.kind == "created" and rewritten.read_hash == old.hash
    assert not unchanged(rewritten, old, since="2025-04")
    assert unchanged(code_write("r1", CODE_1, old, "2025-05"), old)


def test_marks_come_back_in_key_order_keyed_without_their_prefix(state: PromotionState) -> None:
    keys = [code_key("r2", "c1"), code_key("r1", "c9"), code_key("r1", "c10")]
    state.mark_seen("s1", keys, at=1.5)
    state.mark_codes_read("s1", ["r2", "r1"], at=2.0)

    seen = state.marks("s1", SEEN + CODE)
    assert [seen.at(suffix) for suffix in ("r1#c10", "r1#c9", "r2#c1")] == [1500, 1500, 1500]
    assert state.codes_read_at("s1", "r1") == 2000 and state.codes_read_at("s1", "r3") == 0


def test_each_write_is_one_independent_batch_operation() -> None:
    created = rule_write(RULE, None, STORE, "2025-01").operation("s1")
    assert (created.method, created.path) == ("POST", "/ecommerce/stores/s1/promo-rules")
    assert created.body is not None and created.body["id"] == "r1"
    held = PromoRecord(key=rule_key("r1"), hash="h", version="2025-01")
    patched = rule_write(RULE, held, STORE, "2025-02").operation("s1")
    assert (patched.method, patched.path) == ("PATCH", "/ecommerce/stores/s1/promo-rules/r1")
    assert patched.body is not None and "id" not in patched.body
    code = code_write("r1", CODE_1, None, "2025-01").operation("s1")
    assert (code.method, code.path) == ("POST", "/ecommerce/stores/s1/promo-rules/r1/promo-codes")
    gone = deletion(PromoRecord(key=code_key("r1", "c1"), hash="h"), "2025-02").operation("s1")
    assert (gone.method, gone.path, gone.body) == ("DELETE", "/ecommerce/stores/s1/promo-rules/r1/promo-codes/c1", None)
    assert gone.operation_id == "promo:code#r1#c1:0" and created.operation_id.startswith("promo:rule#r1:")
