"""Promotions in real time through real HTTP: Shopify's discounts/* and WooCommerce's coupon.* webhooks, signed as
the platforms sign them, and canonical promotion events POSTed to /webhooks/canonical, each normalised,
published on the bus, routed to the product queue and written to the Mailchimp emulator by product_sync within
seconds; what Mailchimp holds afterwards is what is checked."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from commerce_sync.platforms.signatures import sign_base64_hmac

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.discounts import price_rule
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical, send_shopify
from tests.harness import MailchimpReader, RegisteredStore, register_store

TIMEOUT = (3.05, 30)
TOKEN = "shpat_hooks"


def rule_in_mailchimp(reader: MailchimpReader, store_id: str, rule_id: str) -> dict[str, Any] | None:
    rule = reader.resource(f"/ecommerce/stores/{store_id}/promo-rules/{rule_id}")
    if rule is None:
        return None
    codes = reader.get(f"/ecommerce/stores/{store_id}/promo-rules/{rule_id}/promo-codes?count=1000").json()
    return {**rule, "codes": {code["id"]: code for code in codes["promo_codes"]}}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- Shopify --------------------------------------------------------------------------------------------------


@pytest.fixture
def shopify(runner: LocalRunner) -> Iterator[tuple[ShopifyEmulator, RegisteredStore]]:
    with ShopifyEmulator(f"hooks-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        store = register_store(
            "shopify",
            identity=emulator.shop_domain,
            platform_api_url=emulator.base_url,
            platform_api_credentials={"access_token": TOKEN},
        )
        yield emulator, store


def discount(rule_id: int, **fields: Any) -> bytes:
    body = {
        "admin_graphql_api_id": f"gid://shopify/DiscountCodeNode/{rule_id}",
        "title": "FLASH",
        "status": "ACTIVE",
        "created_at": "2025-03-01T10:00:00-05:00",
        "updated_at": stamp(datetime.now(UTC)),
        **fields,
    }
    return json.dumps(body).encode()


def test_shopify_discount_webhooks_keep_the_rule_and_its_codes(
    runner: LocalRunner,
    shopify: tuple[ShopifyEmulator, RegisteredStore],
    mailchimp_reader: MailchimpReader,
) -> None:
    emulator, store = shopify
    secret, domain = store.webhook_secret, store.identity
    emulator.put_price_rule(price_rule(801, "FLASH", value="-20.0"), [{"id": 8011, "code": "FLASH20"}])

    created = send_shopify(runner.url, secret, "discounts/create", domain, discount(801))
    assert created.status_code == 202, created.text
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "801")
    assert rule is not None and (rule["amount"], rule["target"]) == (0.2, "total")
    assert rule["codes"]["8011"]["redemption_url"] == f"https://{domain}/discount/FLASH20"

    emulator.put_price_rule(price_rule(801, "FLASH", value="-30.0", updated_at=stamp(datetime.now(UTC))))
    assert send_shopify(runner.url, secret, "discounts/update", domain, discount(801)).status_code == 202
    emulator.put_discount_code(801, {"id": 8012, "code": "FLASH-VIP"})
    added = discount(801, redeem_code={"id": "gid://shopify/DiscountRedeemCode/8012", "code": "FLASH-VIP"})
    assert send_shopify(runner.url, secret, "discounts/redeemcode_added", domain, added).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "801")
    assert rule is not None and rule["amount"] == 0.3 and set(rule["codes"]) == {"8011", "8012"}

    removed = discount(801, redeem_code={"id": "gid://shopify/DiscountRedeemCode/8011", "code": "FLASH20"})
    assert send_shopify(runner.url, secret, "discounts/redeemcode_removed", domain, removed).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "801")
    assert rule is not None and set(rule["codes"]) == {"8012"}

    emulator.delete_price_rule(801)
    deleted = send_shopify(runner.url, secret, "discounts/delete", domain, discount(801, title=None, status=None))
    assert deleted.status_code == 202
    runner.wait_until_idle()
    assert rule_in_mailchimp(mailchimp_reader, store.store_id, "801") is None


def test_redeemcode_bodies_of_another_shape_lose_nothing(
    runner: LocalRunner,
    shopify: tuple[ShopifyEmulator, RegisteredStore],
    mailchimp_reader: MailchimpReader,
) -> None:
    """Shopify publishes no sample of the redeemcode bodies (docs/promotions.md): a code we cannot read from one is
    found by reading the rule's codes, and a removal without a code id is acknowledged for the nightly run."""
    emulator, store = shopify
    secret, domain = store.webhook_secret, store.identity
    emulator.put_price_rule(price_rule(803, "ODD", value="-10.0"), [{"id": 8031, "code": "ODD10"}])
    emulator.put_discount_code(803, {"id": 8032, "code": "ODD-VIP"})

    added = discount(803, redeem_code={"code": "ODD-VIP"}, title=None)
    assert send_shopify(runner.url, secret, "discounts/redeemcode_added", domain, added).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "803")
    assert rule is not None and set(rule["codes"]) == {"8031", "8032"}

    removed = send_shopify(runner.url, secret, "discounts/redeemcode_removed", domain, discount(803, title=None))
    assert (removed.status_code, removed.json()["status"]) == (200, "ignored"), removed.text
    assert "nightly" in removed.json()["reason"]
    gone = discount(804)
    answer = send_shopify(runner.url, secret, "discounts/redeemcode_added", domain, gone)
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored"), answer.text
    assert "not a price rule" in answer.json()["reason"]


def test_shopify_automatic_and_unexpressible_discounts_are_acknowledged_and_ignored(
    runner: LocalRunner, shopify: tuple[ShopifyEmulator, RegisteredStore]
) -> None:
    emulator, store = shopify
    automatic = json.dumps({"admin_graphql_api_id": "gid://shopify/DiscountAutomaticNode/9", "title": "Auto"}).encode()
    answer = send_shopify(runner.url, store.webhook_secret, "discounts/create", store.identity, automatic)
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    assert "not a code discount" in answer.json()["reason"]

    bxgy = price_rule(
        802,
        "B2G1",
        value="-100.0",
        target_selection="entitled",
        prerequisite_to_entitlement_quantity_ratio={"prerequisite_quantity": 2, "entitled_quantity": 1},
    )
    emulator.put_price_rule(bxgy, [{"id": 8021, "code": "B2G1"}])
    answer = send_shopify(runner.url, store.webhook_secret, "discounts/create", store.identity, discount(802))
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    assert "not a price rule Mailchimp can hold" in answer.json()["reason"]


def test_a_discount_payload_replayed_under_an_order_topic_is_refused(
    runner: LocalRunner, shopify: tuple[ShopifyEmulator, RegisteredStore]
) -> None:
    _, store = shopify
    answer = send_shopify(runner.url, store.webhook_secret, "orders/create", store.identity, discount(801))
    assert answer.status_code == 400


# ---- WooCommerce ----------------------------------------------------------------------------------------------


def deliver_woo(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> requests.Response:
    raw = json.dumps(body).encode()
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": store.identity + "/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign_base64_hmac(store.webhook_secret, raw),
        "X-WC-Webhook-ID": "31",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return requests.post(f"{runner.url}/webhooks/woocommerce", data=raw, headers=headers, timeout=TIMEOUT)


def coupon(modified: datetime, **fields: Any) -> dict[str, Any]:
    """A wc/v3 coupon as a webhook delivers it, last saved at `modified`."""
    return {
        "id": 719,
        "code": "spring25",
        "amount": "25.00",
        "status": "publish",
        "date_created_gmt": woo_time(modified - timedelta(days=1)),
        "date_modified_gmt": woo_time(modified),
        "discount_type": "percent",
        "description": "Spring sale",
        "date_expires_gmt": None,
        "usage_count": 2,
        "usage_limit": None,
        "free_shipping": False,
        "product_ids": [],
        "product_categories": [],
        **fields,
    }


def woo_time(moment: datetime) -> str:
    """WooCommerce's `*_gmt` dates: UTC without an offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_woocommerce_coupon_webhooks_create_expire_delete_and_restore(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("woocommerce", identity=f"https://hooks-{uuid.uuid4().hex[:8]}.example.com")
    now = datetime.now(UTC)

    assert deliver_woo(runner, store, "coupon.created", coupon(now - timedelta(minutes=2))).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "719")
    assert rule is not None
    assert (rule["type"], rule["amount"], rule["description"], rule["enabled"]) == (
        "percentage",
        0.25,
        "Spring sale",
        True,
    )
    assert rule["codes"]["719"]["code"] == "spring25" and rule["codes"]["719"]["usage_count"] == 2

    expired = coupon(now - timedelta(minutes=1), date_expires_gmt="2025-01-01T00:00:00")
    assert deliver_woo(runner, store, "coupon.updated", expired).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "719")
    assert rule is not None and rule["enabled"] is False and rule["ends_at"] == "2025-01-01T00:00:00+00:00"

    # Trashed (WooCommerce sends coupon.deleted with the id alone), then restored: the rule and its code come
    # back, though the code's record says it was written (Mailchimp deleted it with the rule).
    assert deliver_woo(runner, store, "coupon.deleted", {"id": 719}).status_code == 202
    runner.wait_until_idle()
    assert rule_in_mailchimp(mailchimp_reader, store.store_id, "719") is None
    restored = coupon(datetime.now(UTC) + timedelta(seconds=1))
    assert deliver_woo(runner, store, "coupon.restored", restored).status_code == 202
    runner.wait_until_idle()
    rule = rule_in_mailchimp(mailchimp_reader, store.store_id, "719")
    assert rule is not None and rule["enabled"] is True and list(rule["codes"]) == ["719"]


# ---- canonical ------------------------------------------------------------------------------------------------


def promotion_event(store_id: str, event_type: str, data: dict[str, Any], version: str) -> bytes:
    return json.dumps(
        {
            "schema_version": "1",
            "event_id": f"erp:{data['id']}:{version}:{uuid.uuid4().hex[:6]}",
            "type": event_type,
            "store_id": store_id,
            "platform": "my-erp",
            "occurred_at": version,
            "entity_id": data["id"],
            "entity_version": version,
            "data": data,
        }
    ).encode()


def version(seconds: int) -> str:
    return (datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_canonical_promotion_events(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("canonical")
    send = lambda body: send_canonical(runner.url, store.webhook_secret, store.store_id, body)  # noqa: E731
    codes = [
        {"id": f"vip-{n}", "code": f"VIP-{n}", "redemption_url": f"https://erp.example.com/apply/VIP-{n}"}
        for n in range(3)
    ]
    rule = {
        "id": "vip",
        "title": "VIP",
        "type": "percentage",
        "amount": "0.2",
        "target": "total",
        "starts_at": "2025-06-01T00:00:00Z",
        "ends_at": "2030-06-01T00:00:00Z",
        "codes": codes,
        "codes_complete": True,
    }

    assert send(promotion_event(store.store_id, "promotion.updated", rule, version(1))).status_code == 202
    runner.wait_until_idle()
    held = rule_in_mailchimp(mailchimp_reader, store.store_id, "vip")
    assert held is not None and (held["amount"], held["description"]) == (0.2, "20% off the order")
    assert set(held["codes"]) == {"vip-0", "vip-1", "vip-2"}

    # The complete list without vip-2: it is deleted; an older event changes nothing.
    assert (
        send(promotion_event(store.store_id, "promotion.updated", {**rule, "codes": codes[:2]}, version(2))).status_code
        == 202
    )
    stale = {**rule, "amount": "0.9", "codes": codes}
    assert send(promotion_event(store.store_id, "promotion.updated", stale, version(0))).status_code == 202
    runner.wait_until_idle()
    held = rule_in_mailchimp(mailchimp_reader, store.store_id, "vip")
    assert held is not None and held["amount"] == 0.2 and set(held["codes"]) == {"vip-0", "vip-1"}

    removal = {"id": "vip", "code_ids": ["vip-1"]}
    assert send(promotion_event(store.store_id, "promotion.deleted", removal, version(3))).status_code == 202
    runner.wait_until_idle()
    held = rule_in_mailchimp(mailchimp_reader, store.store_id, "vip")
    assert held is not None and set(held["codes"]) == {"vip-0"}

    assert send(promotion_event(store.store_id, "promotion.deleted", {"id": "vip"}, version(4))).status_code == 202
    runner.wait_until_idle()
    assert rule_in_mailchimp(mailchimp_reader, store.store_id, "vip") is None


def test_a_canonical_promotion_mailchimp_would_refuse_is_a_400_naming_the_field(runner: LocalRunner) -> None:
    store = register_store("canonical")
    bad = {"id": "r", "type": "percentage", "amount": "15", "target": "total"}
    answer = send_canonical(
        runner.url,
        store.webhook_secret,
        store.store_id,
        promotion_event(store.store_id, "promotion.updated", bad, version(1)),
    )
    assert answer.status_code == 400 and "fraction" in answer.text

    long_code = {
        "id": "r",
        "type": "fixed",
        "amount": "5",
        "target": "total",
        "codes": [{"id": "c", "code": "X" * 60, "redemption_url": "https://shop.example.com"}],
    }
    answer = send_canonical(
        runner.url,
        store.webhook_secret,
        store.store_id,
        promotion_event(store.store_id, "promotion.updated", long_code, version(1)),
    )
    assert answer.status_code == 400 and "codes.0.code" in answer.text
