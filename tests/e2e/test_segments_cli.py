"""`commerce-sync add-store --segments|--no-segments` and `commerce-sync segments STORE [--set …] [--dry-run]
[--json]` against the local runner: segments are turned on and off from the CLI (a store's own rules kept while
on), the command shows the rules, the members holding each tag and the last nightly pass, a dry run of a rule
change counts who would enter and leave each tag and saves nothing, a saved change is written by the next pass,
and what cannot be done is refused with exit code 2 and nothing saved."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, Store, StoreRegistry

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main
from tests.e2e.test_segment_pass import run_pass
from tests.e2e.test_segments import Shopper, segmented_store
from tests.harness import register_store


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


def stored(store_id: str) -> Store:
    store = StoreRegistry(Settings.from_environment().stores_table).get(store_id)
    assert store is not None
    return store


def report(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "segments", *arguments, "--json")
    assert code == 0, err
    answer: dict[str, Any] = json.loads(out)
    return answer


def test_add_store_turns_segments_on_keeps_the_stores_rules_and_turns_them_off(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store_id = register_store("canonical", currency_code="EUR").store_id
    assert stored(store_id).segments is None

    code, out, err = cli(capsys, "add-store", "--store-id", store_id, "--segments", "--skip-mailchimp")
    assert code == 0, err
    assert out.strip() == f"store {store_id} updated: segments"
    assert stored(store_id).segments == SegmentRules()

    code, _, err = cli(capsys, "segments", store_id, "--set", "vip_lifetime_value=800", "--set", "tags.advocate=")
    assert code == 0, err
    mine = SegmentRules.model_validate({"vip_lifetime_value": 800, "tags": {"advocate": None}})
    assert stored(store_id).segments == mine

    # Given again, --segments keeps the store's own rules; nothing else given, nothing changes.
    code, out, _ = cli(capsys, "add-store", "--store-id", store_id, "--segments", "--skip-mailchimp")
    assert out.strip() == f"store {store_id}: nothing to change" and stored(store_id).segments == mine
    code, out, _ = cli(capsys, "add-store", "--store-id", store_id, "--currency", "usd", "--skip-mailchimp")
    assert code == 0 and stored(store_id).segments == mine

    code, out, _ = cli(capsys, "add-store", "--store-id", store_id, "--no-segments", "--skip-mailchimp")
    assert code == 0 and out.strip() == f"store {store_id} updated: segments"
    assert stored(store_id).segments is None


def test_segments_shows_members_per_tag_a_dry_run_moves_nothing_and_a_saved_change_is_written_by_the_pass(
    runner: LocalRunner, mailchimp: MailchimpEmulator, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = segmented_store()
    vip = Shopper(runner, mailchimp, store)
    vip.send(vip.order("v1", "600.00", days_ago=2), vip.order("v2", "20.00", days_ago=1))
    once = Shopper(runner, mailchimp, store)
    once.send(once.order("w1", "40.00", days_ago=40))
    assert (vip.tags(), once.tags()) == ({"VIP"}, {"One-time buyer"})

    shown = report(capsys, store.store_id)
    assert shown["segments"] == "on" and shown["customers"] == 2 and shown["last_pass"] is None
    assert shown["members_per_tag"] == {"Advocate": 0, "At risk": 0, "One-time buyer": 1, "VIP": 1}
    assert shown["rules"]["thresholds"]["vip_lifetime_value"] == "500"
    code, text, _ = cli(capsys, "segments", store.store_id)
    assert code == 0
    assert "segments on" in text and "net lifetime value >= 500 EUR, or >= 5 orders" in text
    assert "customers with an aggregate: 2" in text and "last nightly pass: none yet" in text
    assert vip.email not in text and once.email not in text

    # 620 is below 700, and a renamed one-time tag moves the one-time buyer from the old tag to the new one.
    dry = report(capsys, store.store_id, "--dry-run", "--set", "vip_lifetime_value=700", "--set", "tags.one_time=Once")
    assert dry["saved"] is False and stored(store.store_id).segments == SegmentRules()
    proposed = dry["proposed"]
    assert proposed["changes"] == {"vip_lifetime_value": ["500", "700"], "tags.one_time": ["One-time buyer", "Once"]}
    assert proposed["customers_moving"] == 2
    moves = {tag: (m["holding"], m["after"], m["enter"], m["leave"]) for tag, m in proposed["moves"].items()}
    assert moves["VIP"] == (1, 0, 0, 1)
    assert moves["One-time buyer"] == (1, 0, 0, 1) and moves["Once"] == (0, 1, 1, 0)
    assert (vip.tags(), once.tags()) == ({"VIP"}, {"One-time buyer"}), "a dry run writes nothing"

    code, text, err = cli(capsys, "segments", store.store_id, "--set", "vip_lifetime_value=700")
    assert code == 0, err
    assert "1 customer(s) will move at the next nightly pass" in text and "rules saved" in text
    assert stored(store.store_id).segments == SegmentRules(vip_lifetime_value=700)

    summary = run_pass(runner, store, 0)
    assert (summary["changed"], summary["tags_removed"]) == (1, 1) and vip.tags() == set()
    after = report(capsys, store.store_id)
    assert after["members_per_tag"]["VIP"] == 0
    assert after["last_pass"]["run_id"] == summary["run_id"] and after["last_pass"]["tags_removed"] == 1
    code, text, _ = cli(capsys, "segments", store.store_id)
    assert "last nightly pass: done at" in text and "changed 1" in text


def test_what_cannot_be_done_is_refused_with_exit_code_2_and_nothing_saved(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    off = register_store("canonical", currency_code="EUR").store_id
    code, _, err = cli(capsys, "segments", off, "--set", "vip_orders=3")
    assert code == 2 and f"add-store --store-id {off} --segments" in err
    assert stored(off).segments is None
    # A dry run of rules for a store whose segments are off compares with the default rules.
    assert report(capsys, off, "--dry-run", "--set", "vip_orders=3")["segments"] == "off"

    on = segmented_store().store_id
    for arguments, says in (
        (("--set", "vip_order=3"), "unknown setting 'vip_order'"),
        (("--set", "vip_orders=0"), "vip_orders: Input should be greater than or equal to 1"),
        (("--set", "advocate_orders=51"), "advocate_orders"),
        (("--dry-run",), "give one"),
    ):
        code, _, err = cli(capsys, "segments", on, *arguments)
        assert code == 2 and says in err, err
    assert stored(on).segments == SegmentRules()
    code, _, err = cli(capsys, "segments", "no-such-store")
    assert code == 2 and "not registered" in err
