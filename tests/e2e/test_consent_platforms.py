"""Two-way consent on WooCommerce and BigCommerce (docs/consent.md): an unsubscribe in the Mailchimp emulator
withdraws the shopper's consent in the platform's emulator, where the platform's adapter reads it: WooCommerce's
customer meta `mailchimp_woocommerce_is_subscribed`, BigCommerce's newsletter subscriber `consents`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from commerce_sync.canonical.emails import subscriber_hash

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from emulators.woocommerce import WooCommerceEmulator
from local_runner.runner import LocalRunner
from tests.e2e.test_bigcommerce_webhooks import ACCESS_TOKEN, put_cart, register_bigcommerce, thin
from tests.e2e.test_bigcommerce_webhooks import deliver as deliver_bigcommerce
from tests.e2e.test_consent import register_audience_webhook
from tests.e2e.test_woocommerce_webhooks import customer as woo_customer
from tests.e2e.test_woocommerce_webhooks import deliver as deliver_woo
from tests.harness import MailchimpReader, register_store

CONSENT_KEY = "mailchimp_woocommerce_is_subscribed"


@pytest.fixture
def woocommerce() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator("ck_consent", "cs_consent") as emulator:
        yield emulator


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"e2e{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


def test_an_unsubscribe_withdraws_the_woocommerce_customers_consent_meta(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    woocommerce: WooCommerceEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store = register_store(
        "woocommerce",
        list_id=f"list-{uuid.uuid4().hex[:8]}",
        identity=f"https://{uuid.uuid4().hex[:12]}.example.com/",
        platform_api_url=woocommerce.base_url,
        platform_api_credentials={"consumer_key": "ck_consent", "consumer_secret": "cs_consent"},
    )
    body = woocommerce.put_customer(woo_customer(email=f"woo-consent-{uuid.uuid4().hex[:6]}@example.com"))
    assert deliver_woo(runner, store, body).status_code == 202
    runner.wait_until_idle(timeout=60)
    email, list_id = body["email"], store.store.list_id
    member = mailchimp_reader.resource(f"/lists/{list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] == "subscribed"
    register_audience_webhook(runner, store)

    mailchimp.set_member_status(list_id, email, "unsubscribed", source="user")
    delivered = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    assert [(d["type"], d["status"]) for d in delivered] == [("unsubscribe", 202)]
    held = woocommerce.history.customer(body["id"])
    assert [m["value"] for m in held["meta_data"] if m["key"] == CONSENT_KEY] == ["0"]
    puts = [r for r in woocommerce.requests if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["status"] == 200

    # WooCommerce's next customer.updated carries the withdrawal: read back as denied, nothing flips.
    assert deliver_woo(runner, store, {**held, "first_name": "Later"}, topic="customer.updated").status_code == 202
    runner.wait_until_idle(timeout=60)
    member = mailchimp_reader.resource(f"/lists/{list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] == "unsubscribed"


def test_a_cleaned_address_withdraws_the_bigcommerce_newsletter_consent(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    bigcommerce: BigCommerceEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store = register_bigcommerce(bigcommerce, list_id=f"list-{uuid.uuid4().hex[:8]}")
    put_cart(bigcommerce)
    customer = json.loads(json.dumps(bigcommerce.state.customers))
    (held,) = customer.values()
    created = thin(bigcommerce, "store/customer/created", {"type": "customer", "id": held["id"]})
    assert deliver_bigcommerce(runner, created, store.webhook_secret).status_code == 202
    runner.wait_until_idle(timeout=60)
    email, list_id = held["email"], store.store.list_id
    member = mailchimp_reader.resource(f"/lists/{list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] == "subscribed"
    register_audience_webhook(runner, store)

    mailchimp.set_member_status(list_id, email, "cleaned", source="admin")
    delivered = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    assert [(d["type"], d["status"]) for d in delivered] == [("cleaned", 202)]
    (subscriber,) = [s for s in bigcommerce.state.subscribers.values() if s["email"] == email]
    assert "marketing_newsletter" not in subscriber["consents"]
    puts = [r for r in bigcommerce.requests if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["status"] == 200
