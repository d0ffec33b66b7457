"""`commerce-sync status [STORE]` against the local runner (docs/operator.md#status): a store's section reflects its
deliveries per topic (recorded by the webhook receiver) and the events' outcomes (recorded by the consumers), a
forged delivery as refused, its dead letters by error type with the newest reason, an `is_syncing` left on with no
backfill running, and a catalog sync that failed; each finding that needs a person makes the exit code 1, a quiet
or healthy store 0, an unknown STORE 2 with the fix on stderr."""

from __future__ import annotations

import io
import json
import sys
import uuid
from typing import Any

import boto3
import pytest
import requests
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import main as operator_main
from tests.e2e.test_shopify_orders import new_order
from tests.harness import API_KEY, RegisteredStore, register_store


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    # status asks the runner what runs; the environment's other settings lead to the same runner.
    monkeypatch.setenv("LOCAL_RUNNER_URL", runner.url)


def cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    old_stdin, sys.stdin = sys.stdin, io.StringIO("")
    try:
        code = operator_main.main(list(arguments))
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return code, out, err


def section(capsys: pytest.CaptureFixture[str], store: RegisteredStore, *options: str) -> tuple[int, dict[str, Any]]:
    """The store's section of `status STORE --json`, and the exit code."""
    code, out, err = cli(capsys, "status", store.store_id, "--json", *options)
    assert "Traceback" not in err
    (report,) = json.loads(out)["stores"]
    assert report["store_id"] == store.store_id
    return code, report


def order_of(store: RegisteredStore) -> dict[str, Any]:
    order = new_order()
    order["email"] = order["customer"]["email"] = f"status-{uuid.uuid4().hex[:6]}@example.com"
    return order


def deliver(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any], secret: str = "") -> int:
    answer = send_shopify(runner.url, secret or store.webhook_secret, topic, store.identity, json.dumps(body).encode())
    return int(answer.status_code)


def test_deliveries_per_topic_are_shown_and_a_forged_one_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify")
    order = order_of(store)
    assert deliver(runner, store, "orders/create", order) == 202
    assert deliver(runner, store, "orders/paid", dict(order, financial_status="paid")) == 202
    runner.wait_until_idle()

    code, out, err = cli(capsys, "status", store.store_id)
    assert code == 0, out + err
    block = out[out.index(f"Store {store.store_id} (shopify, active): ok") :]
    assert "deliveries 24 h:" in block and "2 accepted" in block
    assert "orders/create 20" in block and "orders/paid 20" in block
    # The store's own items are indented; a global one (another test's dead letter) may follow at the margin.
    assert "  attention:" not in block

    code, report = section(capsys, store)
    assert code == 0 and report["attention"] == []
    assert report["activity"]["deliveries"] == {"accepted": 2}
    assert set(report["activity"]["last_seen"]) == {"orders/create", "orders/paid"}
    assert sum(report["activity"]["outcomes"].values()) >= 2, "each applied event's outcome is counted"
    assert (report["dead_letters"]["total"], report["dead_letters"]["by_error"]) == (0, [])
    assert report["catalog"]["state"] == "idle" and report["backfill"]["state"] == "idle"
    assert report["reconciliation"]["state"] == "idle" and report["canonical_import"] is None
    assert report["mailchimp"]["present"] is True and report["mailchimp"]["list_id"] == store.store.list_id
    assert report["mailchimp_account"]["status"] == "ok"
    assert [secret["kind"] for secret in report["secrets"]] == ["store_webhook_secret", "mailchimp_api_key"]
    assert all(secret["rotation"] == "idle" for secret in report["secrets"])

    # Signed with another secret: 401, counted as refused for the store, and without a topic (the sender's to invent).
    assert deliver(runner, store, "orders/updated", order, secret="not-the-secret") == 401
    code, out, _ = cli(capsys, "status", store.store_id)
    assert code == 1
    assert f"Store {store.store_id} (shopify, active): needs attention" in out
    assert "attention: 1 delivery(ies) refused in the last 24 h" in out
    assert "orders/updated" not in out
    assert order["email"] not in out
    code, report = section(capsys, store, "--skip-mailchimp")
    assert code == 1 and report["activity"]["deliveries"] == {"accepted": 2, "refused": 1}
    assert report["mailchimp"] is None


def test_dead_letters_of_the_store_are_counted_by_error_type_with_the_newest_reason(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str], mailchimp: MailchimpEmulator
) -> None:
    store = register_store("shopify")
    order = order_of(store)
    mailchimp.set_faults(rate_500=1.0, seed=7)
    try:
        assert deliver(runner, store, "orders/create", order) == 202
        runner.wait_until_idle(timeout=180)
    finally:
        mailchimp.set_faults()

    code, report = section(capsys, store, "--skip-mailchimp")

    assert code == 1
    letters = report["dead_letters"]
    assert letters["total"] == 1
    (error,) = letters["by_error"]
    assert error["error_type"] == "MailchimpError" and error["count"] == 1
    assert error["newest_reason"].startswith("Mailchimp 500") and error["newest_failed_at"]
    assert any(reason.startswith("1 dead letter(s)") for reason in report["attention"])
    code, out, _ = cli(capsys, "status", store.store_id, "--skip-mailchimp")
    assert code == 1 and "dead letters:" in out and "MailchimpError 1 (newest" in out
    assert order["email"] not in out


def test_is_syncing_left_on_without_a_backfill_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str], mailchimp: MailchimpEmulator
) -> None:
    store = register_store("shopify")
    path = f"{mailchimp.base_url}/ecommerce/stores/{store.store_id}"

    def set_syncing(value: bool) -> None:
        answer = requests.patch(path, json={"is_syncing": value}, auth=("status", API_KEY), timeout=10)
        assert answer.status_code == 200, answer.text

    set_syncing(True)
    try:
        code, report = section(capsys, store)
        code_out, out, _ = cli(capsys, "status", store.store_id)
    finally:
        set_syncing(False)

    assert code == code_out == 1
    assert report["mailchimp"]["is_syncing"] is True and report["backfill"]["state"] == "idle"
    assert [reason for reason in report["attention"] if reason.startswith("is_syncing is on")]
    assert "is_syncing on" in out and "attention: is_syncing is on in Mailchimp" in out
    code, report = section(capsys, store)
    assert code == 0 and report["attention"] == []


def test_a_failed_catalog_sync_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_right") as shopify:
        for product in sample_catalog():
            shopify.put_product(product)
        # The store's token is not the one the shop takes: its catalog read is refused (401, final).
        store = register_store(
            "shopify",
            identity=shopify.shop_domain,
            platform_api_url=shopify.base_url,
            platform_api_credentials={"access_token": "shpat_wrong"},
        )
        with pytest.raises(Exception, match="401"):
            runner.invoke("ProductSyncFunction", {"action": "catalog_sync", "store_id": store.store_id})

    code, report = section(capsys, store, "--skip-mailchimp")

    assert code == 1
    assert report["catalog"]["state"] == "failed" and "401" in report["catalog"]["error"]
    (reason,) = [reason for reason in report["attention"] if "catalog sync" in reason]
    assert (
        reason.startswith("the last catalog sync failed (") and f"commerce-sync sync-catalog {store.store_id}" in reason
    )
    code, out, _ = cli(capsys, "status", store.store_id, "--skip-mailchimp")
    assert code == 1 and "catalog sync:" in out and "now failed (" in out
    assert "shpat_wrong" not in out


def test_an_unknown_store_is_refused_with_the_fix_and_exit_code_2(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "status", "no-such-store")

    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "commerce-sync status: error: store no-such-store is not registered (`commerce-sync stores list` shows the "
        "stores; leave STORE out for every store)"
    ]


def test_without_store_every_store_has_a_section_and_the_exit_code_follows_what_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet, forged = register_store("shopify"), register_store("shopify")
    assert deliver(runner, forged, "orders/create", order_of(forged), secret="not-the-secret") == 401

    code, out, _ = cli(capsys, "status", "--json", "--skip-mailchimp")

    status = json.loads(out)
    reports = {report["store_id"]: report for report in status["stores"]}
    assert reports[quiet.store_id]["attention"] == [] and reports[quiet.store_id]["activity"]["deliveries"] == {}
    assert reports[forged.store_id]["attention"]
    assert code == 1
    assert {"idle", "queues", "mailchimp_accounts", "imports", "flags_reset", "attention"} <= set(status)


# ---- the other findings that need a person -----------------------------------------------------------------

OURS = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/shopify"


def test_a_webhook_subscription_the_reconciliation_could_not_make_again_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_hooks") as shopify:
        store = register_store(
            "shopify",
            identity=shopify.shop_domain,
            platform_api_url=shopify.base_url,
            platform_api_credentials={"access_token": "shpat_hooks"},
        )
        assert cli(capsys, "webhooks", store.store_id, "--create", "--address", OURS)[0] == 0
        (paid,) = [item for item in shopify.webhook_subscriptions("shpat_hooks") if item["topic"] == "orders/paid"]
        assert shopify.remove_webhook(paid["id"])
        # Shopify lists the subscriptions (a GET with `limit`) but refuses to make one (a POST, no query).
        shopify.fail_when(lambda path, query: 422 if path.endswith("/webhooks.json") and not query else None)
        summary = runner.invoke("ProductSyncFunction", {"action": "reconcile", "store_id": store.store_id})
        runner.wait_until_idle(timeout=60)
    assert summary["webhooks"]["counts"]["recreation_failed"] == 1, summary["webhooks"]

    code, report = section(capsys, store, "--skip-mailchimp")

    assert code == 1
    assert report["reconciliation"]["webhooks"]["missing"] == 1
    (reason,) = [reason for reason in report["attention"] if "webhook topic" in reason]
    assert reason.startswith("1 webhook topic(s) without a working subscription at the last reconciliation")
    assert f"`commerce-sync webhooks {store.store_id} --create`" in reason
    assert "shpat_hooks" not in json.dumps(report)


def test_a_failed_reconciliation_needs_attention_and_says_how_to_resume(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_right") as shopify:
        # The store's token is not the one the shop takes: every read of its history is refused (401, final).
        store = register_store(
            "shopify",
            identity=shopify.shop_domain,
            platform_api_url=shopify.base_url,
            platform_api_credentials={"access_token": "shpat_wrong"},
        )
        with pytest.raises(Exception, match="401"):
            runner.invoke("ProductSyncFunction", {"action": "reconcile", "store_id": store.store_id})

    code, report = section(capsys, store, "--skip-mailchimp")

    assert code == 1
    assert report["reconciliation"]["state"] == "failed" and "401" in report["reconciliation"]["error"]
    (reason,) = [reason for reason in report["attention"] if "reconciliation" in reason]
    assert reason.startswith("the last reconciliation failed (")
    assert reason.endswith(f"`commerce-sync reconcile --store {store.store_id}` resumes it")
    assert "shpat_wrong" not in json.dumps(report)


def test_a_rotation_left_half_done_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify")
    secrets = boto3.client("secretsmanager")
    current = secrets.get_secret_value(SecretId=store.store.secret_id)["SecretString"]
    # What a rotation that stopped after createSecret leaves: a new version staged AWSPENDING, never promoted.
    pending = secrets.put_secret_value(
        SecretId=store.store.secret_id, SecretString=current, VersionStages=["AWSPENDING"]
    )["VersionId"]

    code, report = section(capsys, store, "--skip-mailchimp")

    assert code == 1
    (webhook_secret,) = [secret for secret in report["secrets"] if secret["kind"] == "store_webhook_secret"]
    assert webhook_secret["rotation"] == f"in progress or failed: version {pending} created, not promoted"
    (reason,) = [reason for reason in report["attention"] if reason.startswith("the rotation of secret")]
    assert "`commerce-sync rotate ... --restart` starts it again" in reason
    assert store.webhook_secret not in json.dumps(report)

    secrets.update_secret_version_stage(
        SecretId=store.store.secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=pending
    )
    code, report = section(capsys, store, "--skip-mailchimp")
    assert code == 0 and report["attention"] == []


def test_a_registration_naming_another_audience_than_the_mailchimp_stores_needs_attention(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify")
    registry = StoreRegistry(Settings.from_environment().stores_table)
    # Someone edited the registration by hand; Mailchimp keeps a store's audience for good.
    registry.update(store.store.model_copy(update={"list_id": "another-list"}), ["list_id"])

    code, report = section(capsys, store)

    assert code == 1
    assert report["mailchimp"]["present"] is True and report["mailchimp"]["list_id"] == store.store.list_id
    assert (
        f"the Mailchimp store is in audience {store.store.list_id}, the registration names another-list"
        in report["attention"]
    )
