"""Each platform names the kind of every delivery it decides to ignore (IgnoredKind, the receiver's
`WebhookIgnored_<kind>` metric): a handful of values set where the decision is made, never read back from
the reason's text, so a reason that happens to say "no longer exists" cannot count as another kind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.adapter import IgnoredKind, Normalised, WebhookRequest
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter


def shopify(topic: str, body: dict[str, Any], store: Store) -> Normalised:
    request = WebhookRequest(
        platform="shopify",
        headers={"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": store.identity},
        body=json.dumps(body).encode(),
    )
    return ShopifyAdapter().normalise(request, store)


@pytest.mark.parametrize(
    ("topic", "body", "kind", "says"),
    [
        ("app/uninstalled", {"id": 1}, IgnoredKind.NOT_HANDLED, "app/uninstalled"),
        (
            "fulfillments/create",
            {"id": 9, "order_id": 4, "status": "cancelled"},
            IgnoredKind.SKIPPED,
            "nothing shipped",
        ),
        ("draft_orders/create", {"id": 77, "status": "open"}, IgnoredKind.DRAFT_ORDER, "draft order 77"),
        ("draft_orders/update", {"id": 77, "status": "completed", "order_id": 5}, IgnoredKind.DRAFT_ORDER, "77"),
        (
            "orders/edited",
            {"order_edit": {"id": 3, "order_id": 12, "line_items": {"additions": [], "removals": []}}},
            IgnoredKind.ORDER_EDIT,
            "order 12",
        ),
    ],
)
def test_the_adapter_names_the_kind_where_it_decides(
    shopify_store: Store, topic: str, body: dict[str, Any], kind: IgnoredKind, says: str
) -> None:
    result = shopify(topic, body, shopify_store)
    assert result.events == ()
    assert result.ignored_kind is kind
    assert result.ignored_reason is not None and says in result.ignored_reason


def test_the_kind_is_not_read_from_the_reason(shopify_store: Store) -> None:
    # A draft whose id reads like another kind's reason is still a draft.
    result = shopify("draft_orders/create", {"id": "no longer exists"}, shopify_store)
    assert result.ignored_kind is IgnoredKind.DRAFT_ORDER


def test_an_ignored_answer_names_both_its_kind_and_its_reason() -> None:
    assert Normalised.ignored(IgnoredKind.GONE, "cart 1 is gone").ignored_kind is IgnoredKind.GONE
    with pytest.raises(ValueError, match="kind and its reason"):
        Normalised(ignored_reason="why, but no kind")
    with pytest.raises(ValueError, match="kind and its reason"):
        Normalised(ignored_kind=IgnoredKind.SKIPPED)


def test_the_kinds_are_a_handful_of_metric_safe_names() -> None:
    assert {kind.value for kind in IgnoredKind} == {
        "ping",
        "not_handled",
        "gone",
        "refused",
        "skipped",
        "draft_order",
        "order_edit",
        "store_disabled",
    }
    assert all(kind.value.replace("_", "").isalpha() and kind.value.islower() for kind in IgnoredKind)
