"""Shopify webhook health (issue 11) over real HTTP against the Shopify stand-in's webhooks resource on 127.0.0.1:
a store whose subscriptions commerce-sync makes through the Admin API gets a subscription Shopify removed made again
at its address and the report says so; one present is left alone, as are subscriptions at other addresses and the
shop admin's; a store whose registration does not say so is not checked, with the reason, and nothing is asked of
Shopify; a listing Shopify refuses is "not checked" with the reason and nothing changes; a topic the app may not
subscribe to is a recreation failure with Shopify's words; a run with everything present changes nothing. And the
stand-in's resource itself answers in Shopify's shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from commerce_sync.aws.store_registry import Store, WebhookSubscriptions
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.http import HttpPolicy
from commerce_sync.platforms.shopify.webhooks import SUBSCRIBED_TOPICS
from commerce_sync.platforms.webhook_health import HealthAction, HookState, WebhookHealthUnavailable

from emulators.shopify import ShopifyEmulator

FAST = HttpPolicy(connect_timeout=1.0, read_timeout=5.0, retries=1, backoff_factor=0.01, backoff_max=0.05, max_wait=1)
TOKEN = "shpat_health"
OURS = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/shopify"
OLD_STACK = "https://old999.execute-api.eu-west-1.amazonaws.com/webhooks/shopify"
CREDENTIALS = {"access_token": TOKEN}


def shopify_store(
    emulator: ShopifyEmulator,
    subscriptions: WebhookSubscriptions | None = WebhookSubscriptions.ADMIN_API,
    address: str | None = OURS,
) -> Store:
    return Store(
        store_id="shop-health",
        platform="shopify",
        identity=emulator.shop_domain,
        name="Health",
        list_id="list1",
        currency_code="USD",
        secret_id="commerce-sync/stores/shop-health",
        platform_api_url=emulator.base_url,
        webhook_subscriptions=subscriptions,
        webhook_address=address,
    )


def changes(emulator: ShopifyEmulator) -> list[tuple[str, str, int]]:
    return [(r["method"], r["path"], r["status"]) for r in emulator.requests if r["method"] != "GET"]


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator("health-shop.myshopify.com", [TOKEN, "shpat_other_app"]) as emulator:
        yield emulator


@pytest.fixture
def subscribed(shopify: ShopifyEmulator) -> dict[str, int]:
    """Every topic subscribed at our address, as `commerce-sync webhooks --create` leaves a store."""
    return {topic: int(shopify.add_webhook(topic, OURS)["id"]) for topic in SUBSCRIBED_TOPICS}


def test_a_subscription_shopify_removed_is_made_again_and_reported_and_the_others_are_left_alone(
    shopify: ShopifyEmulator, subscribed: dict[str, int]
) -> None:
    shopify.remove_webhook(subscribed["orders/paid"])  # as Shopify does once its retries of a delivery failed
    shopify.remove_webhook(subscribed["checkouts/update"])
    old = shopify.add_webhook("orders/paid", OLD_STACK)  # the app's, at another address (an old stack's)
    admin = shopify.add_webhook("checkouts/update", OURS, made_in_admin=True)  # no app's API lists it
    other_app = shopify.add_webhook("orders/paid", OURS, access_token="shpat_other_app")
    store = shopify_store(shopify)

    health = PlatformHooks(FAST).check_and_repair(store, CREDENTIALS)

    assert [topic.topic for topic in health.topics] == list(SUBSCRIBED_TOPICS)
    by_topic = {topic.topic: topic for topic in health.topics}
    for name in ("orders/paid", "checkouts/update"):
        topic = by_topic[name]
        assert (topic.state_before, topic.action) == (HookState.MISSING, HealthAction.RECREATED)
        made = shopify.webhook(str(topic.hook_id))
        assert made is not None and (made["topic"], made["address"], made["format"]) == (name, OURS, "json")
    for name, hook_id in subscribed.items():
        if name not in ("orders/paid", "checkouts/update"):
            assert (by_topic[name].action, by_topic[name].hook_id) == (HealthAction.NONE, str(hook_id))
    assert health.summary() == {
        "topics": len(SUBSCRIBED_TOPICS),
        "none": len(SUBSCRIBED_TOPICS) - 2,
        "reactivated": 0,
        "reactivation_failed": 0,
        "recreated": 2,
        "recreation_failed": 0,
        "reported": 0,
    }
    assert not health.healthy and [topic.topic for topic in health.missing] == ["checkouts/update", "orders/paid"]
    assert changes(shopify) == [("POST", "/admin/api/2026-10/webhooks.json", 201)] * 2, "two made, nothing else"
    for untouched in (old, admin, other_app):
        assert shopify.webhook(untouched["id"]) == untouched

    again = PlatformHooks(FAST).check_and_repair(store, CREDENTIALS)

    assert again.healthy and {topic.action for topic in again.topics} == {HealthAction.NONE}
    assert len(changes(shopify)) == 2, "everything present: nothing changed"


def test_a_run_with_every_subscription_present_changes_nothing_across_pages(
    shopify: ShopifyEmulator, subscribed: dict[str, int]
) -> None:
    shopify.page_size_cap = 4  # a subscription a topic: pages through the Link header

    health = PlatformHooks(FAST).check_and_repair(shopify_store(shopify), CREDENTIALS)

    assert health.healthy and health.summary()["none"] == len(SUBSCRIBED_TOPICS)
    assert {topic.topic: topic.hook_id for topic in health.topics} == {t: str(i) for t, i in subscribed.items()}
    listings = [r for r in shopify.requests if r["path"].endswith("/webhooks.json")]
    assert len(listings) == -(-len(SUBSCRIBED_TOPICS) // 4) and all(r["method"] == "GET" for r in listings)
    assert listings[0]["query"] == {"limit": "250"}
    assert all(set(r["query"]) == {"limit", "page_info"} for r in listings[1:])


def test_a_store_not_recorded_as_admin_api_managed_is_not_checked_with_its_reason(shopify: ShopifyEmulator) -> None:
    reasons = {
        None: "not recorded as made through the Admin API",
        WebhookSubscriptions.APP_CONFIG: "shopify.app.toml",
        WebhookSubscriptions.SHOP_ADMIN: "made in the shop's admin",
        WebhookSubscriptions.EVENTBRIDGE: "Amazon EventBridge",
    }
    for subscriptions, reason in reasons.items():
        with pytest.raises(WebhookHealthUnavailable, match="does not check its webhooks") as refused:
            PlatformHooks(FAST).check_and_repair(shopify_store(shopify, subscriptions), CREDENTIALS)
        assert reason in str(refused.value)
    assert shopify.requests == [], "nothing asked of Shopify"


def test_a_listing_shopify_refuses_is_not_checked_with_the_reason_and_changes_nothing(
    shopify: ShopifyEmulator, subscribed: dict[str, int]
) -> None:
    shopify.remove_webhook(subscribed["orders/create"])
    store = shopify_store(shopify)

    with pytest.raises(WebhookHealthUnavailable, match="401") as refused:
        PlatformHooks(FAST).check_and_repair(store, {"access_token": "shpat_revoked"})
    assert "could not list the shopify webhooks" in str(refused.value) and "shpat_revoked" not in str(refused.value)

    shopify.fail_when(lambda path, query: 403 if path.endswith("/webhooks.json") else None)
    with pytest.raises(WebhookHealthUnavailable, match="403"):
        PlatformHooks(FAST).check_and_repair(store, CREDENTIALS)
    shopify.fail_when(None)

    with pytest.raises(WebhookHealthUnavailable, match="no Shopify access token"):
        PlatformHooks(FAST).check_and_repair(store, {})
    subscribed_now = len(shopify.webhook_subscriptions(TOKEN))
    assert changes(shopify) == [] and subscribed_now == len(SUBSCRIBED_TOPICS) - 1, "nothing changed"


def test_a_topic_shopify_refuses_to_subscribe_is_a_recreation_failure_with_shopifys_words(
    shopify: ShopifyEmulator,
) -> None:
    shopify.webhooks.allowed_topics -= {"carts/create", "carts/update"}  # the app lacks that access scope

    health = PlatformHooks(FAST).check_and_repair(shopify_store(shopify), CREDENTIALS)

    failed = health.with_action(HealthAction.RECREATION_FAILED)
    assert [topic.topic for topic in failed] == ["carts/create", "carts/update"]
    assert all(topic.hook_id is None and topic.state_before is HookState.MISSING for topic in failed)
    assert "422" in (failed[0].detail or "") and "Is there a missing access scope?" in (failed[0].detail or "")
    made = len(health.with_action(HealthAction.RECREATED))
    assert made == len(SUBSCRIBED_TOPICS) - 2, "the others are made all the same"
    assert TOKEN not in (failed[0].detail or "")


def test_repairs_off_or_no_address_only_report_what_is_missing(
    shopify: ShopifyEmulator, subscribed: dict[str, int]
) -> None:
    shopify.remove_webhook(subscribed["refunds/create"])
    shopify.add_webhook("refunds/create", OLD_STACK)

    looked = PlatformHooks(FAST).check_and_repair(shopify_store(shopify), CREDENTIALS, repair=False)
    missing = [topic for topic in looked.topics if topic.action is not HealthAction.NONE]
    assert [(t.topic, t.state_before, t.action) for t in missing] == [
        ("refunds/create", HookState.MISSING, HealthAction.REPORTED)
    ]
    assert "(1 at another address)" in (missing[0].detail or "")

    # Without a registered address, any subscription of the app counts, and a missing topic cannot be made again.
    addressless = shopify_store(shopify, address=None)
    assert PlatformHooks(FAST).check_and_repair(addressless, CREDENTIALS).healthy
    shopify.remove_webhook(subscribed["products/delete"])
    told = PlatformHooks(FAST).check_and_repair(addressless, CREDENTIALS)
    reported = told.with_action(HealthAction.REPORTED)
    assert [topic.topic for topic in reported] == ["products/delete"]
    assert "no webhook address" in (reported[0].detail or "")
    assert changes(shopify) == []


# ---- the stand-in's resource ----------------------------------------------------------------------------------


def test_the_stand_in_answers_the_webhooks_resource_in_shopifys_shapes(shopify: ShopifyEmulator) -> None:
    url = f"{shopify.base_url}/admin/api/2026-10/webhooks.json"
    headers = {"X-Shopify-Access-Token": TOKEN}
    body = {"webhook": {"topic": "orders/create", "address": OURS, "format": "json"}}

    created = requests.post(url, json=body, headers=headers, timeout=5)
    assert created.status_code == 201
    webhook = created.json()["webhook"]
    assert set(webhook) == {
        "id",
        "address",
        "topic",
        "created_at",
        "updated_at",
        "format",
        "fields",
        "metafield_namespaces",
        "api_version",
        "private_metafield_namespaces",
        "metafield_identifiers",
    }
    assert (webhook["topic"], webhook["address"], webhook["api_version"]) == ("orders/create", OURS, "2026-10")

    taken = requests.post(url, json=body, headers=headers, timeout=5)
    assert taken.status_code == 422
    assert taken.json() == {"errors": {"address": ["for this topic has already been taken"]}}
    blank = requests.post(url, json={"webhook": {"body": "foobar"}}, headers=headers, timeout=5)
    assert blank.status_code == 422 and blank.json()["errors"]["address"] == ["can't be blank"]
    assert blank.json()["errors"]["topic"][0].startswith("Invalid topic specified: . Does it exist?")
    nope = {"webhook": {"topic": "orders/nope", "address": OURS}}
    unknown = requests.post(url, json=nope, headers=headers, timeout=5)
    assert unknown.status_code == 422 and "Invalid topic specified: orders/nope." in unknown.text

    # Another app (token) sees none of this app's; the shop admin's are listed to nobody.
    shopify.add_webhook("orders/paid", OURS, made_in_admin=True)
    other = {"X-Shopify-Access-Token": "shpat_other_app"}
    assert requests.get(url, headers=other, timeout=5).json() == {"webhooks": []}
    assert [w["id"] for w in requests.get(url, headers=headers, timeout=5).json()["webhooks"]] == [webhook["id"]]
    count = requests.get(url.replace("webhooks.json", "webhooks/count.json"), headers=headers, timeout=5)
    assert count.json() == {"count": 1}

    one = url.replace("webhooks.json", f"webhooks/{webhook['id']}.json")
    assert requests.get(one, headers=other, timeout=5).status_code == 404
    assert requests.delete(one, headers=other, timeout=5).status_code == 404
    assert requests.delete(one, headers=headers, timeout=5).json() == {}
    assert requests.get(one, headers=headers, timeout=5).status_code == 404
    assert requests.put(one, json={}, headers=headers, timeout=5).status_code == 405
