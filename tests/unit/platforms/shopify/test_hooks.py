"""The rules of Shopify's webhook health apart from HTTP: which topics a store is subscribed to, which addresses
Shopify can deliver to, why a store is not checked, and what `assess` does with a missing topic when it may
subscribe it again. Over HTTP: tests/integration/test_shopify_webhook_health.py."""

from __future__ import annotations

import re

import pytest
from commerce_sync.aws.store_registry import Store, WebhookSubscriptions
from commerce_sync.platforms.http import PlatformApiError
from commerce_sync.platforms.shopify.hooks import WebhookAddressError, not_checked_reason, parse_webhook_address
from commerce_sync.platforms.shopify.webhooks import DRAFT_ORDER_TOPICS, ORDER_EDITED_TOPIC, SUBSCRIBED_TOPICS
from commerce_sync.platforms.webhook_health import HealthAction, HookState, ObservedHook, assess

from tests.paths import PROJECT


def store(subscriptions: WebhookSubscriptions | None) -> Store:
    return Store(
        store_id="my-shop",
        platform="shopify",
        identity="my-shop.myshopify.com",
        name="Shop",
        list_id="list1",
        currency_code="USD",
        secret_id="commerce-sync/stores/my-shop",
        webhook_subscriptions=subscriptions,
    )


def test_the_subscribed_topics_are_the_ones_the_adapter_applies_and_the_docs_list() -> None:
    assert len(SUBSCRIBED_TOPICS) == 26 and len(set(SUBSCRIBED_TOPICS)) == 26
    ignored = set(DRAFT_ORDER_TOPICS) | {ORDER_EDITED_TOPIC}
    assert not ignored & set(SUBSCRIBED_TOPICS), "acknowledged and ignored on purpose: not subscribed"
    for topic in ("checkouts/update", "carts/create", "customers/delete", "orders/paid", "refunds/create"):
        assert topic in SUBSCRIBED_TOPICS
    # docs/shopify.md's table lists them for a merchant who makes them by hand: the same ones, no more.
    section = (PROJECT / "docs" / "shopify.md").read_text(encoding="utf-8").split("## The topics", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| `")]
    listed = {topic for row in rows for topic in re.findall(r"`([a-z_]+/[a-z_]+)`", row.split("|")[1])}
    assert listed == set(SUBSCRIBED_TOPICS)


@pytest.mark.parametrize(
    "address",
    [
        "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/shopify",
        "  https://hooks.example.com/webhooks/shopify  ",
        "http://127.0.0.1:3000/webhooks/shopify",
        "arn:aws:events:us-east-1::event-source/aws.partner/shopify.com/755357713/commerce-sync",
    ],
)
def test_addresses_shopify_delivers_to_are_taken_as_given(address: str) -> None:
    assert parse_webhook_address(address) == address.strip()


@pytest.mark.parametrize(
    "address",
    [
        "http://hooks.example.com/webhooks/shopify",  # Shopify delivers over https only
        "https://user:pass@hooks.example.com/webhooks/shopify",
        "hooks.example.com/webhooks/shopify",
        "arn:aws:events:us-east-1::event-bus/default",
        "",
    ],
)
def test_other_addresses_are_refused_with_the_forms_taken(address: str) -> None:
    with pytest.raises(WebhookAddressError, match="an https:// URL"):
        parse_webhook_address(address)


def test_only_a_store_whose_subscriptions_are_made_through_the_admin_api_is_checked() -> None:
    assert not_checked_reason(store(WebhookSubscriptions.ADMIN_API)) is None
    unrecorded = not_checked_reason(store(None))
    assert unrecorded is not None and "`commerce-sync webhooks my-shop --create`" in unrecorded
    for subscriptions in (
        WebhookSubscriptions.APP_CONFIG,
        WebhookSubscriptions.SHOP_ADMIN,
        WebhookSubscriptions.EVENTBRIDGE,
    ):
        reason = not_checked_reason(store(subscriptions))
        assert reason is not None and reason.startswith("store my-shop is a shopify store: commerce-sync does not")


def test_a_missing_topic_is_recreated_when_it_may_be_and_a_refusal_is_said() -> None:
    hooks = [ObservedHook("1", "orders/create", HookState.ACTIVE)]
    made: list[str] = []

    def recreate(topic: str) -> str:
        if topic == "carts/create":
            raise PlatformApiError(422, "POST /admin/api/2026-10/webhooks.json: topic: Invalid topic specified")
        made.append(topic)
        return "77"

    def same(hook_topic: str, topic: str) -> bool:
        return hook_topic == topic

    expected = ("orders/create", "orders/paid", "carts/create")
    health = assess("shopify", "s", expected, hooks, same, None, recreate)

    assert [(t.topic, t.state_before, t.action, t.hook_id) for t in health.topics] == [
        ("orders/create", HookState.ACTIVE, HealthAction.NONE, "1"),
        ("orders/paid", HookState.MISSING, HealthAction.RECREATED, "77"),
        ("carts/create", HookState.MISSING, HealthAction.RECREATION_FAILED, None),
    ]
    assert "Invalid topic specified" in (health.topics[2].detail or "") and made == ["orders/paid"]
    assert [t.topic for t in health.missing] == ["orders/paid", "carts/create"]

    told = assess("shopify", "s", expected, hooks, same, None, None, lambda topic: f"no {topic}")
    assert [(t.action, t.detail) for t in told.topics[1:]] == [
        (HealthAction.REPORTED, "no orders/paid"),
        (HealthAction.REPORTED, "no carts/create"),
    ]
