"""The run lock and the catalog's records in the sync-state table (moto server): lease expiry and
renewal, conditional record writes that never bury a concurrent change, seen marks in key order."""

from __future__ import annotations

import pytest
from commerce_sync.aws.sync_lock import LockLost, SyncLock
from commerce_sync.catalog.checkpoints import RunCheckpoint
from commerce_sync.catalog.run import CatalogConfig
from commerce_sync.catalog.state import CatalogState, ProductClaim, ProductRecord

from tests.harness import new_sync_state_table


@pytest.fixture
def state(moto_endpoint: str) -> CatalogState:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return CatalogState(table, dynamodb)


def test_the_lock_excludes_others_until_released_or_expired(state: CatalogState) -> None:
    clock = [1000.0]
    lock = SyncLock(state.table, "s1#catalog", clock=lambda: clock[0])

    assert lock.acquire("a", lease_seconds=60)
    assert not lock.acquire("b", lease_seconds=60)
    assert lock.acquire("a", lease_seconds=60), "the holder may take it again"
    clock[0] += 61
    assert lock.acquire("b", lease_seconds=60), "an expired lease is free"
    with pytest.raises(LockLost):
        lock.renew("a", 60)
    lock.release("a")  # not the holder: nothing happens
    assert lock.holder().token == "b"
    lock.release("b")
    assert lock.holder() is None


def test_record_writes_are_conditional_on_what_was_read(state: CatalogState) -> None:
    first = ProductRecord("p1", hash="h1", title="P", variants={"v": "V"}, version="2025-01")
    assert state.put_products("s1", [(first, None)]) == set()
    assert state.put_products("s1", [(first.with_changes(hash="h2"), None)]) == {"p1"}, "exists already"

    # A concurrent writer changed p1 after we read h1; p2 is new: only p2 is written.
    state.put_products("s1", [(first.with_changes(hash="h-event"), "h1")])
    conflicts = state.put_products(
        "s1", [(first.with_changes(hash="h-nightly"), "h1"), (ProductRecord("p2", hash="x"), None)]
    )

    assert conflicts == {"p1"}
    assert state.product("s1", "p1").hash == "h-event" and state.product("s1", "p2").hash == "x"
    assert not state.forget_hash("s1", "p1", "h-nightly")
    assert state.forget_hash("s1", "p1", "h-event") and state.product("s1", "p1").hash == ""


def _claim(state: CatalogState, product_id: str, token: str, lease_seconds: float = 60) -> ProductClaim:
    claim = state.claim_product("s1", product_id, token, lease_seconds)
    assert claim is not None, f"{token} could not take the lease of {product_id}"
    return claim


def test_events_never_overwrite_a_newer_version(state: CatalogState) -> None:
    assert state.put_product_if_newer("s1", ProductRecord("p1", hash="b", version="2025-02"), _claim(state, "p1", "a"))
    older = _claim(state, "p1", "b")
    assert not state.put_product_if_newer("s1", ProductRecord("p1", hash="a", version="2025-01"), older)
    state.release_product("s1", older)
    assert state.product("s1", "p1").hash == "b"


def test_taking_a_products_lease_reads_its_record_and_excludes_other_holders(state: CatalogState) -> None:
    state.put_products("s1", [(ProductRecord("p1", hash="h1", version="2025-01"), None)])

    claim = _claim(state, "p1", "first")

    assert claim.record is not None and claim.record.hash == "h1" and not claim.made
    assert state.claim_product("s1", "p1", "second", 60) is None, "held by another"
    assert _claim(state, "p1", "first").record == claim.record, "the holder may take it again"
    state.release_product("s1", claim)
    assert state.raw("s1", "product#p1").keys() >= {"hash", "version"}
    assert not {"lease_holder", "lease_until"} & state.raw("s1", "product#p1").keys()
    assert state.product("s1", "p1") == claim.record, "giving the lease back leaves the record as it was"
    lapsed = _claim(state, "p1", "second", lease_seconds=-1)
    assert _claim(state, "p1", "third").record == claim.record, "a lapsed lease is free"
    state.release_product("s1", lapsed)  # no longer its holder: nothing happens
    assert state.claim_product("s1", "p1", "fourth", 60) is None, "still held by third"


def test_the_events_record_write_gives_the_lease_back_and_a_lost_lease_writes_nothing(state: CatalogState) -> None:
    claim = _claim(state, "p1", "event")
    assert claim.record is None and claim.made

    assert state.put_product_if_newer("s1", ProductRecord("p1", hash="h", version="2025-01"), claim)

    assert claim.released and not {"lease_holder", "lease_until"} & state.raw("s1", "product#p1").keys()
    other = _claim(state, "p1", "other")
    assert other.record is not None and other.record.hash == "h"
    assert not state.put_product_if_newer(
        "s1", ProductRecord("p1", hash="lost", version="2025-02"), ProductClaim("p1", "event", None, made=False)
    ), "a write whose lease another holds is refused"
    assert state.product("s1", "p1").hash == "h"


def test_a_lease_without_a_record_is_no_record_to_any_reader_and_goes_when_given_back(state: CatalogState) -> None:
    state.put_products("s1", [(ProductRecord("p1", hash="h1"), None)])
    claim = _claim(state, "p2", "event")

    assert state.product("s1", "p2") is None
    assert set(state.products("s1", ["p1", "p2"])) == {"p1"}
    assert set(state.products_marking_seen("s1", 1, ["p1", "p2"])) == {"p1"}
    assert [record.product_id for record in state.iter_products("s1")] == ["p1"]
    assert state.recorded_ids("s1") == {"p1"}
    state.release_product("s1", claim)
    assert state.raw("s1", "product#p2") is None, "the item the lease made is gone"


def test_catalog_writes_leave_a_product_an_event_is_applying_alone(state: CatalogState) -> None:
    state.put_products("s1", [(ProductRecord("p1", hash="h1"), None)])
    held, made = _claim(state, "p1", "event"), _claim(state, "p2", "event")

    conflicts = state.put_products(
        "s1", [(ProductRecord("p1", hash="nightly"), "h1"), (ProductRecord("p2", hash="nightly"), None)]
    )

    assert conflicts == {"p1", "p2"}
    assert state.raw("s1", "product#p1")["lease_holder"] == "event" and state.product("s1", "p1").hash == "h1"
    assert state.product("s1", "p2") is None
    # A lease that lapsed (its container died) stops nothing, and a record item left by it is written over.
    _claim(state, "p3", "died", lease_seconds=-1)
    assert state.put_products("s1", [(ProductRecord("p3", hash="nightly"), None)]) == set()
    assert state.product("s1", "p3").hash == "nightly"
    assert not {"lease_holder", "lease_until"} & state.raw("s1", "product#p3").keys()
    state.release_product("s1", held)
    state.release_product("s1", made)
    assert state.put_products("s1", [(ProductRecord("p1", hash="nightly"), "h1")]) == set()


def test_records_come_back_in_key_order_and_their_ids_as_a_set(state: CatalogState) -> None:
    ids = [f"p{n}" for n in (3, 10, 1, 22)]
    state.put_products("s1", [(ProductRecord(pid, hash=pid, variants={pid: pid}), None) for pid in ids])
    state.put_products("s1", [(ProductRecord("gone", removed=True), None)])
    state.put_products("s2", [(ProductRecord("elsewhere", hash="h"), None)])

    assert [r.product_id for r in state.iter_products("s1")] == sorted([*ids, "gone"])
    assert [r.product_id for r in state.iter_products("s1", after="p10")] == ["p22", "p3"]
    assert state.recorded_ids("s1") == {*ids, "gone"}
    assert set(state.products("s1", ["p1", "p3", "missing"])) == {"p1", "p3"}


def test_a_record_from_what_mailchimp_holds_lists_every_variant_and_no_hash() -> None:
    held = {"id": "8801", "title": "Mug", "variants": [{"id": "88011", "title": "Blue"}, {"id": 88012}], "url": "x"}

    record = ProductRecord.from_mailchimp(held)

    assert record == ProductRecord("8801", hash="", title="Mug", variants={"88011": "Blue", "88012": "88012"})
    assert ProductRecord.from_mailchimp({"id": "9", "variants": None}).variants == {}


def test_checkpoints_and_summaries(state: CatalogState) -> None:
    checkpoint = RunCheckpoint(run_id="r1", started_at=10.0, cursor="abc", phase="unrecorded", listing_offset=2000)
    checkpoint.counters.seen = 5
    state.save_run("s1", checkpoint)
    state.save_summary("s1", {"run_id": "r0", "finished_at": 1.0})
    state.save_summary("s1", {"run_id": "r1", "finished_at": 2.0})

    loaded = state.load_run("s1")
    assert (loaded.run_id, loaded.cursor, loaded.counters.seen) == ("r1", "abc", 5)
    assert (loaded.phase, loaded.listing_offset) == ("unrecorded", 2000)
    assert state.last_summary("s1")["run_id"] == "r1"
    assert [s["run_id"] for s in state.summaries("s1")] == ["r1", "r0"]


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_BATCH_SIZE", "200")
    monkeypatch.setenv("CATALOG_QUEUE_SLICE_SECONDS", "0.5")
    config = CatalogConfig.from_environment()
    assert (config.batch_size, config.queue_slice_seconds, config.direct_max) == (200, 0.5, 50)


def test_a_runs_seen_lists_come_back_as_one_set_and_only_for_that_run(state: CatalogState) -> None:
    many = [f"p{n}" for n in range(1200)]
    state.mark_seen_in_run("s1", 1000, many, at=2.0)
    state.mark_seen_in_run("s1", 1000, ["p1", "late"], at=2.0)
    state.mark_seen_in_run("s1", 999, ["earlier-run"], at=1.0)
    state.mark_seen_in_run("s2", 1000, ["other-store"], at=2.0)

    assert state.seen_in_run("s1", 1000) == {*many, "late"}
    assert state.seen_in_run("s1", 999) == {"earlier-run"}
    assert state.seen_in_run("s1", 1001) == set()
    assert state.recorded_ids("s1") == set()


def test_reading_a_page_and_marking_it_seen_go_together(state: CatalogState) -> None:
    state.put_products("s1", [(ProductRecord("p1", hash="h", variants={"v": "v"}), None)])

    records = state.products_marking_seen("s1", 5000, ["p1", "p2", "p1"], at=6.0)

    assert set(records) == {"p1"}
    assert state.seen_in_run("s1", 5000) == {"p1", "p2"}
