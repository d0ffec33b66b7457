"""Webhook health (issue 11) over real HTTP against the WooCommerce webhooks emulator and the BigCommerce
emulator's `/v3/hooks` on 127.0.0.1: a disabled or paused WooCommerce webhook set active again, an inactive
BigCommerce hook (a wildcard one too) reactivated once, a missing topic reported and never created, other
deployments' hooks left alone, a failed reactivation reported, and nothing changed when repairs are off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.bigcommerce.hooks import EXPECTED_SCOPES
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.http import HttpPolicy
from commerce_sync.platforms.webhook_health import HealthAction, HookState, WebhookHealthUnavailable
from commerce_sync.platforms.woocommerce.hooks import EXPECTED_TOPICS

from emulators.bigcommerce import BigCommerceEmulator
from emulators.woocommerce_hooks import WooCommerceHooksEmulator

FAST = HttpPolicy(connect_timeout=1.0, read_timeout=5.0, retries=1, backoff_factor=0.01, backoff_max=0.05, max_wait=1)
CK, CS = "ck_health", "cs_health"
BC_TOKEN = "bc-health-token"
OURS = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks"
SECRET = "s3cret-webhook-value-0123456789"


def store(platform: str, identity: str, api_url: str) -> Store:
    return Store(
        store_id=f"{platform}-health",
        platform=platform,
        identity=identity,
        name="Health",
        list_id="list1",
        currency_code="USD",
        secret_id=f"commerce-sync/stores/{platform}-health",
        platform_api_url=api_url,
    )


# ---- WooCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def woo() -> Iterator[WooCommerceHooksEmulator]:
    with WooCommerceHooksEmulator(CK, CS) as running:
        yield running


@pytest.fixture
def woo_hooks(woo: WooCommerceHooksEmulator) -> dict[str, int]:
    """Every expected topic of ours; order.updated disabled by failures, product.created paused, customer.deleted
    never created; someone else's disabled webhook beside them."""
    ids = {}
    for topic in EXPECTED_TOPICS:
        if topic != "customer.deleted":
            ids[topic] = int(woo.add_webhook(topic, f"{OURS}/woocommerce", secret=SECRET)["id"])
    woo.set_status(ids["order.updated"], "disabled")
    woo.set_status(ids["product.created"], "paused")
    ids["elsewhere"] = int(woo.add_webhook("order.updated", "https://erp.example.com/hook", secret="x" * 20)["id"])
    woo.set_status(ids["elsewhere"], "disabled")
    return ids


def test_woocommerce_disabled_and_paused_webhooks_are_set_active_and_a_missing_one_is_reported(
    woo: WooCommerceHooksEmulator, woo_hooks: dict[str, int]
) -> None:
    woo_store = store("woocommerce", woo.site_url, woo.api_url)
    credentials = {"consumer_key": CK, "consumer_secret": CS}

    health = PlatformHooks(FAST).check_and_repair(woo_store, credentials)

    by_topic = {topic.topic: topic for topic in health.topics}
    assert [topic.topic for topic in health.topics] == list(EXPECTED_TOPICS)
    assert (by_topic["order.updated"].state_before, by_topic["order.updated"].action) == (
        HookState.DISABLED,
        HealthAction.REACTIVATED,
    )
    assert (by_topic["product.created"].state_before, by_topic["product.created"].action) == (
        HookState.PAUSED,
        HealthAction.REACTIVATED,
    )
    assert by_topic["order.updated"].hook_id == str(woo_hooks["order.updated"])
    missing = by_topic["customer.deleted"]
    assert (missing.state_before, missing.action, missing.hook_id) == (HookState.MISSING, HealthAction.REPORTED, None)
    assert "does not create" in (missing.detail or "")
    assert not health.healthy and [topic.topic for topic in health.missing] == ["customer.deleted"]
    assert health.summary() == {
        "topics": len(EXPECTED_TOPICS),
        "none": len(EXPECTED_TOPICS) - 3,
        "reactivated": 2,
        "reactivation_failed": 0,
        "recreated": 0,
        "recreation_failed": 0,
        "reported": 1,
    }
    assert woo.webhook(woo_hooks["order.updated"])["status"] == "active"
    assert woo.webhook(woo_hooks["product.created"])["status"] == "active"
    assert woo.webhook(woo_hooks["elsewhere"])["status"] == "disabled", "not ours: left alone"
    assert woo.secret_of(woo_hooks["order.updated"]) == SECRET, "only the status was sent"
    assert len([entry for entry in woo.requests if entry["method"] == "POST"]) == 0, "nothing created"

    again = PlatformHooks(FAST).check_and_repair(woo_store, credentials)
    assert again.summary()["reactivated"] == 0 and again.summary()["reported"] == 1
    assert len([entry for entry in woo.requests if entry["method"] == "PUT"]) == 2


def test_woocommerce_repairs_off_or_failing_change_nothing_and_say_so(
    woo: WooCommerceHooksEmulator, woo_hooks: dict[str, int]
) -> None:
    woo_store = store("woocommerce", woo.site_url, woo.api_url)
    credentials = {"consumer_key": CK, "consumer_secret": CS}

    looked = PlatformHooks(FAST).check_and_repair(woo_store, credentials, repair=False)
    assert {topic.topic: topic.action for topic in looked.topics if topic.action is not HealthAction.NONE} == {
        "order.updated": HealthAction.REPORTED,
        "product.created": HealthAction.REPORTED,
        "customer.deleted": HealthAction.REPORTED,
    }
    assert not [entry for entry in woo.requests if entry["method"] != "GET"]

    woo.fail_updates(after=0, count=1)
    tried = PlatformHooks(FAST).check_and_repair(woo_store, credentials)
    failed = tried.with_action(HealthAction.REACTIVATION_FAILED)
    assert [topic.topic for topic in failed] == ["order.updated"]
    assert "500" in (failed[0].detail or "") and SECRET not in (failed[0].detail or "")
    assert [topic.topic for topic in tried.with_action(HealthAction.REACTIVATED)] == ["product.created"]
    assert woo.webhook(woo_hooks["order.updated"])["status"] == "disabled"

    with pytest.raises(WebhookHealthUnavailable, match="401"):
        PlatformHooks(FAST).check_and_repair(woo_store, {"consumer_key": CK, "consumer_secret": "wrong"})
    with pytest.raises(WebhookHealthUnavailable, match="no WooCommerce REST API key"):
        PlatformHooks(FAST).check_and_repair(woo_store, {})


# ---- BigCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def bc() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator("health9k2", BC_TOKEN) as running:
        yield running


def test_bigcommerce_inactive_hooks_are_reactivated_once_and_missing_scopes_reported(bc: BigCommerceEmulator) -> None:
    destination, token = f"{OURS}/bigcommerce", {"X-Commerce-Sync-Token": SECRET}
    shipments = bc.put_hook("store/shipment/*", destination, headers=token, is_active=False)
    created = bc.put_hook("store/order/created", destination, headers=token, is_active=False)
    for scope in EXPECTED_SCOPES:
        if not scope.startswith(("store/shipment/", "store/order/created", "store/product/")):
            bc.put_hook(scope, destination, headers=token)
    theirs = bc.put_hook("store/product/updated", "https://erp.example.com/bc", is_active=False)
    bc_store = store("bigcommerce", bc.store_hash, bc.base_url)

    health = PlatformHooks(FAST).check_and_repair(bc_store, {"access_token": BC_TOKEN})

    by_scope = {topic.topic: topic for topic in health.topics}
    for scope in ("store/shipment/created", "store/shipment/updated", "store/shipment/deleted"):
        assert (by_scope[scope].state_before, by_scope[scope].action, by_scope[scope].hook_id) == (
            HookState.INACTIVE,
            HealthAction.REACTIVATED,
            str(shipments["id"]),
        )
    assert by_scope["store/order/created"].action is HealthAction.REACTIVATED
    assert [topic.topic for topic in health.missing] == [s for s in EXPECTED_SCOPES if s.startswith("store/product/")]
    puts = [entry for entry in bc.requests if entry["method"] == "PUT"]
    assert len(puts) == 2, "the wildcard hook once, the order hook once"
    assert bc.hook(shipments["id"])["is_active"] is True and bc.hook(created["id"])["is_active"] is True
    assert bc.hook(shipments["id"])["headers"] == token, "its headers (the token) kept"
    assert bc.hook(theirs["id"])["is_active"] is False, "another destination's hook: left alone"
    assert not [entry for entry in bc.requests if entry["method"] == "POST"], "nothing created"


def test_platforms_whose_webhooks_are_not_checked_say_so() -> None:
    # A Shopify store is checked only when its registration says its subscriptions are made through the Admin API
    # (tests/integration/test_shopify_webhook_health.py); by default it is not.
    for platform in ("shopify", "canonical"):
        with pytest.raises(WebhookHealthUnavailable, match="does not check its webhooks"):
            PlatformHooks(FAST).check_and_repair(store(platform, "shop.example.com", "https://shop.example.com"), {})
