"""The loop guard of two-way consent (docs/consent.md): once Mailchimp withdrew a contact's consent, a platform that
still says subscribed (its write failed) never gets them sent to Mailchimp as opted in; Mailchimp's own subscribe of
the contact lifts the guard."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import requests
from commerce_sync.canonical.emails import subscriber_hash

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import history_customer, stamp
from local_runner.runner import LocalRunner
from tests.e2e.test_consent import (
    form,
    key_of,
    post,
    register_audience_webhook,
    send_customer,
    shopify,
    shopify_store,
    subscribed_customer,
)
from tests.harness import API_KEY, MailchimpReader, register_store

__all__ = ["shopify"]


def test_a_platform_that_still_says_subscribed_never_resubscribes_a_withdrawn_contact(
    runner: LocalRunner, mailchimp: MailchimpEmulator, shopify: ShopifyEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = shopify_store(shopify)
    customer = subscribed_customer(runner, shopify, store, mailchimp_reader)
    email, list_id = customer["email"], store.store.list_id
    register_audience_webhook(runner, store)
    # The contact is cleaned in Mailchimp, and Shopify refuses the write for good (its consent stays subscribed).
    shopify.fail_when(lambda path, query: 422 if "/customers/" in path else None)
    mailchimp.set_member_status(list_id, email, "cleaned", source="admin")
    runner.wait_until_idle(timeout=180)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "subscribed"
    # The platform's next change still says subscribed, and the member is removed from the audience meanwhile:
    # the customer is written as not opted in, so Mailchimp makes a transactional contact, not a subscriber.
    assert requests.delete(
        f"{mailchimp.base_url}/lists/{list_id}/members/{subscriber_hash(email)}", auth=("any", API_KEY), timeout=30
    ).status_code in (204, 200)
    newer = {**customer, "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"), "first_name": "Again"}
    send_customer(runner, store, newer)
    runner.wait_until_idle(timeout=60)
    mailchimp_customer = mailchimp_reader.resource(
        f"/ecommerce/stores/{store.store_id}/customers/{subscriber_hash(email)}"
    )
    assert mailchimp_customer is not None and mailchimp_customer["first_name"] == "Again"
    assert mailchimp_customer["opt_in_status"] is False
    member = mailchimp_reader.resource(f"/lists/{list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] != "subscribed"

    # The contact subscribes again in Mailchimp: the withdrawal is lifted, the platform's consent counts again.
    mailchimp.set_member_status(list_id, email, "subscribed", source="user")
    runner.wait_until_idle(timeout=60)
    latest = {**newer, "updated_at": (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")}
    send_customer(runner, store, {**latest, "first_name": "Back"})
    runner.wait_until_idle(timeout=60)
    mailchimp_customer = mailchimp_reader.resource(
        f"/ecommerce/stores/{store.store_id}/customers/{subscriber_hash(email)}"
    )
    assert mailchimp_customer is not None and mailchimp_customer["opt_in_status"] is True


def test_a_backfill_never_opts_in_a_contact_mailchimp_unsubscribed(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    with ShopifyEmulator(f"guard-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_guard") as shop:
        store = register_store(
            "shopify",
            list_id=f"list-{uuid.uuid4().hex[:8]}",
            identity=shop.shop_domain,
            platform_api_url=shop.base_url,
            platform_api_credentials={"access_token": "shpat_guard"},
        )
        email = f"backfilled-{uuid.uuid4().hex[:6]}@example.com"
        moment = stamp(datetime.now(UTC) - timedelta(days=3))
        shop.history["customers"].put_many([history_customer(4242, email, moment, subscribed=True)])
        # Mailchimp says the contact unsubscribed (before commerce-sync ever wrote them).
        answer = post(runner, store.store_id, key_of(store), form(store.store.list_id, email=email, id="g1"))
        assert answer.status_code == 202, answer.text
        runner.wait_until_idle(timeout=60)

        result = runner.invoke("ProductSyncFunction", {"action": "backfill", "store_id": store.store_id})
        assert result["status"] == "done", result
        assert result["progress"]["customers"]["written"] == 1
    written = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/customers/{subscriber_hash(email)}")
    assert written is not None and written["opt_in_status"] is False
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{subscriber_hash(email)}")
    assert member is None or member["status"] != "subscribed"
