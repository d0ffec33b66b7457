"""A Shopify store's webhook subscriptions through `commerce-sync webhooks` and the nightly reconciliation, as an
operator runs them (the CLI's `main` in this process, against the local runner's moto and the Shopify stand-in on
127.0.0.1): a connected store's subscriptions are listed, then made and recorded with `--create`; the
reconciliation then makes again one Shopify removed and says so (summary, CLI line), and a second run changes
nothing. A store whose registration does not say its subscriptions are made through the Admin API is "not
checked" with the reason, and nothing is asked of Shopify's webhooks; a listing Shopify refuses is "not checked"
too, and the orders and customers are reconciled all the same. Refusals of the command change nothing."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry, WebhookSubscriptions
from commerce_sync.history.state import HistoryState
from commerce_sync.platforms.shopify.webhooks import SUBSCRIBED_TOPICS

from emulators.shopify import ShopifyEmulator
from local_runner.runner import LocalRunner
from operator_cli.main import main
from tests.harness import RegisteredStore, register_store

TOKEN = "shpat_webhooks_cli"
FUNCTION = "ProductSyncFunction"
OURS = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/shopify"


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"wh-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    # What `--env-file .local/runner.env` gives the CLI.
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def webhook_requests(shopify: ShopifyEmulator) -> list[tuple[str, int]]:
    return [(r["method"], r["status"]) for r in shopify.requests if "/webhooks" in r["path"]]


def last_reconciliation(store_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    return HistoryState(table).reconcile_state(store_id)["last"]  # type: ignore[no-any-return]


def test_a_store_connected_with_the_command_has_a_removed_subscription_made_again_by_the_reconciliation(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    store_id = store.store_id
    # A merchant's store as connected: no subscription yet, and the registration does not say how they are made.
    code, out, _ = cli("webhooks", store_id, "--address", OURS)
    assert code == 1, out
    assert f"store {store_id}: Shopify webhook subscriptions of the app at {OURS}" in out
    topics = len(SUBSCRIBED_TOPICS)
    assert f"{topics} topics: 0 subscribed, {topics} missing" in out and "not checked nightly" in out
    assert webhook_requests(shopify) == [("GET", 200)], "listed, nothing made"

    code, out, _ = cli("reconcile", "--store", store_id)
    runner.wait_until_idle(timeout=60)
    assert code == 0 and "webhooks not checked: " in out and "not recorded as made through the Admin API" in out, out
    assert len(webhook_requests(shopify)) == 1, "the reconciliation asked nothing of Shopify's webhooks"

    code, out, _ = cli("webhooks", store_id, "--create", "--address", OURS)

    assert code == 0, out
    topics = len(SUBSCRIBED_TOPICS)
    assert f"{topics} topics: 0 subscribed, {topics} missing, {topics} created, 0 not created" in out
    assert f"recorded: store {store_id}'s subscriptions are made through the Admin API" in out
    made = shopify.webhook_subscriptions(TOKEN)
    assert sorted(item["topic"] for item in made) == sorted(SUBSCRIBED_TOPICS)
    assert {(item["address"], item["format"]) for item in made} == {(OURS, "json")}
    registered = StoreRegistry(Settings.from_environment().stores_table).get(store_id)
    assert registered is not None
    assert (registered.webhook_subscriptions, registered.webhook_address) == (WebhookSubscriptions.ADMIN_API, OURS)
    assert TOKEN not in out

    # Shopify removes the orders/paid subscription after its retries of a delivery kept failing.
    removed = next(item for item in made if item["topic"] == "orders/paid")
    assert shopify.remove_webhook(removed["id"])

    code, out, _ = cli("reconcile", "--store", store_id)
    runner.wait_until_idle(timeout=60)

    assert code == 0, out
    topics = len(SUBSCRIBED_TOPICS)
    assert f"webhooks: {topics} topics, {topics - 1} active, 0 reactivated, 1 missing, 0 reactivation failed" in out, (
        out
    )
    assert "(1 recreated, 0 recreation failed)" in out and "orders/paid: was missing, recreated" in out
    first = last_reconciliation(store_id)
    webhooks = first["webhooks"]
    assert webhooks["checked"] is True and webhooks["healthy"] is False and webhooks["missing"] == 1
    assert webhooks["counts"]["recreated"] == 1 and webhooks["counts"]["none"] == len(SUBSCRIBED_TOPICS) - 1
    (paid,) = [topic for topic in webhooks["topics"] if topic["topic"] == "orders/paid"]
    again = [item for item in shopify.webhook_subscriptions(TOKEN) if item["topic"] == "orders/paid"]
    assert len(again) == 1 and again[0]["address"] == OURS and again[0]["id"] != removed["id"]
    assert paid == {
        "topic": "orders/paid",
        "state_before": "missing",
        "action": "recreated",
        "hook_id": str(again[0]["id"]),
    }
    assert first["status"] == "done", "the orders and customers were reconciled too"

    before = len(webhook_requests(shopify))
    second: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
    runner.wait_until_idle(timeout=60)

    assert second["webhooks"]["healthy"] is True and {t["action"] for t in second["webhooks"]["topics"]} == {"none"}
    assert webhook_requests(shopify)[before:] == [("GET", 200)], "everything present: one listing, no change"

    # The command agrees, and changes nothing either.
    code, out, _ = cli("webhooks", store_id, "--json")
    counts, address = json.loads(out)["counts"], json.loads(out)["address"]
    assert code == 0 and counts["none"] == len(SUBSCRIBED_TOPICS) and address == OURS


def test_a_listing_shopify_refuses_leaves_the_webhooks_unchecked_and_the_reconciliation_runs(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    assert cli("add-store", "--store-id", store.store_id, "--webhook-subscriptions", "admin-api")[0] == 0
    assert cli("add-store", "--store-id", store.store_id, "--webhook-address", OURS)[0] == 0
    shopify.fail_when(lambda path, query: 403 if path.endswith("/webhooks.json") else None)

    result: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store.store_id})
    runner.wait_until_idle(timeout=60)

    assert result["status"] == "done", result
    assert result["webhooks"]["checked"] is False and "403" in result["webhooks"]["reason"]
    assert "could not list the shopify webhooks" in result["webhooks"]["reason"]
    assert [r for r in shopify.requests if r["method"] != "GET"] == [], "nothing changed"


def test_the_command_refuses_what_it_cannot_do_and_changes_nothing(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator
) -> None:
    code, _, err = cli("webhooks", store.store_id, "--create", "--address", "http://hooks.example.com/webhooks/shopify")
    assert code == 2 and "is not a webhook address Shopify delivers to" in err

    woo = register_store("woocommerce")
    code, _, err = cli("webhooks", woo.store_id, "--create")
    assert code == 2 and "is a woocommerce store" in err
    code, _, err = cli("add-store", "--store-id", woo.store_id, "--webhook-subscriptions", "admin-api")
    assert code == 2 and "only Shopify stores record how their webhooks are made" in err

    no_token = register_store("shopify", platform_api_url=shopify.base_url)
    code, _, err = cli("webhooks", no_token.store_id, "--create")
    assert code == 2 and "no Shopify access token" in err and "stores set-credentials" in err

    code, _, err = cli("webhooks", "no-such-store")
    assert code == 2 and "is not registered" in err
    assert shopify.requests == [], "nothing asked of Shopify"
    registered = StoreRegistry(Settings.from_environment().stores_table).get(store.store_id)
    assert registered is not None and registered.webhook_subscriptions is None and registered.webhook_address is None

    # Without --address, the deployment's own: here the local runner's API, on the loopback.
    code, out, _ = cli("webhooks", store.store_id, "--create")
    assert code == 0, out
    assert {item["address"] for item in shopify.webhook_subscriptions(TOKEN)} == {f"{runner.url}/webhooks/shopify"}
