"""Two-way consent through the local runner (docs/consent.md): Mailchimp's audience webhooks at
`/webhooks/mailchimp/{store}`, sent by the Mailchimp emulator when a member changes, withdraw the Shopify
customer's consent in the Shopify emulator; Shopify's customers/update then comes back to our receiver and nothing
flaps; forged, malformed and replayed deliveries are refused; Shopify down means retries, then a dead letter."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.consent.keys import audience_webhook_key, audience_webhook_url

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import history_customer
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.harness import API_KEY, MailchimpReader, RegisteredStore, register_store

TOKEN = "shpat_consent"
EVENTS = {"subscribe": True, "unsubscribe": True, "profile": True, "cleaned": True, "upemail": True}


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"consent-{uuid.uuid4().hex[:8]}.myshopify.com", access_token=TOKEN).start() as emulator:
        yield emulator


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def shopify_store(shopify: ShopifyEmulator) -> RegisteredStore:
    store = register_store(
        "shopify",
        list_id=f"list-{uuid.uuid4().hex[:8]}",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )
    shopify.customer_webhooks.signing_secret = store.webhook_secret
    return store


def key_of(store: RegisteredStore) -> str:
    return audience_webhook_key(store.webhook_secret, store.store_id)


def form(list_id: str, event_type: str = "unsubscribe", fired_at: datetime | None = None, **data: str) -> str:
    moment = (fired_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
    fields = {"type": event_type, "fired_at": moment, "data[list_id]": list_id}
    fields.update({f"data[{name}]": value for name, value in data.items()})
    return urlencode(fields)


def post(runner: LocalRunner, store_id: str, key: str | None, body: str) -> requests.Response:
    query = f"?{urlencode({'key': key})}" if key is not None else ""
    return requests.post(
        f"{runner.url}/webhooks/mailchimp/{store_id}{query}",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )


def send_customer(runner: LocalRunner, store: RegisteredStore, customer: dict[str, Any]) -> None:
    body = json.dumps(customer).encode()
    answer = send_shopify(runner.url, store.webhook_secret, "customers/update", store.identity, body)
    assert answer.status_code == 202, answer.text


def subscribed_customer(
    runner: LocalRunner, shopify: ShopifyEmulator, store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> dict[str, Any]:
    """A Shopify customer who consents, synced to Mailchimp: a subscribed audience member."""
    email = f"consent-{uuid.uuid4().hex[:8]}@example.com"
    moment = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    customer = shopify.put_customer(history_customer(int(uuid.uuid4().int % 10**9), email, moment, subscribed=True))
    send_customer(runner, store, customer)
    runner.wait_until_idle(timeout=60)
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] == "subscribed"
    return customer


def register_audience_webhook(runner: LocalRunner, store: RegisteredStore) -> None:
    url = audience_webhook_url(runner.url, store.store_id, key_of(store))
    body = {"url": url, "events": EVENTS, "sources": {"user": True, "admin": True, "api": False}}
    answer = requests.post(
        f"{runner.environment()['MAILCHIMP_API_URL']}/lists/{store.store.list_id}/webhooks",
        json=body,
        auth=("any", API_KEY),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


# ---- the route ---------------------------------------------------------------------------------------------


def test_mailchimps_get_check_is_answered_only_with_the_stores_key(runner: LocalRunner) -> None:
    store = register_store("shopify")
    base = f"{runner.url}/webhooks/mailchimp"
    assert requests.get(f"{base}/{store.store_id}?key={key_of(store)}", timeout=30).status_code == 200
    wrong = requests.get(f"{base}/{store.store_id}?key={'0' * 64}", timeout=30)
    missing = requests.get(f"{base}/{store.store_id}", timeout=30)
    unknown = requests.get(f"{base}/no-such-store?key={key_of(store)}", timeout=30)
    assert wrong.status_code == missing.status_code == unknown.status_code == 404
    # The same answer whether the store exists or not: the route tells no one which store ids there are.
    assert wrong.json() == missing.json() == unknown.json()


def test_forged_malformed_foreign_and_replayed_deliveries_are_refused(runner: LocalRunner) -> None:
    store = register_store("shopify")
    list_id, key = store.store.list_id, key_of(store)
    good = form(list_id, email="forged@example.com", id="abc123")
    assert post(runner, store.store_id, "not-the-key", good).status_code == 404
    assert post(runner, store.store_id, None, good).status_code == 404
    assert post(runner, "no-such-store", key, good).status_code == 404

    cases = {
        form(list_id, email="x@example.com", id="1").replace("unsubscribe", "explode", 1): "type",
        form(list_id, id="1"): "data[email]",
        form("someone-elses-list", email="x@example.com"): "data[list_id]",
        "type=unsubscribe&fired_at=yesterday&data[list_id]=" + list_id + "&data[email]=x%40example.com": "fired_at",
        form(list_id, fired_at=datetime.now(UTC) - timedelta(days=2), email="x@example.com"): "fired_at",
        form(list_id, fired_at=datetime.now(UTC) + timedelta(hours=15), email="x@example.com"): "fired_at",
        form(list_id, "upemail", old_email="a@example.com"): "data[new_email]",
    }
    for body, field in cases.items():
        answer = post(runner, store.store_id, key, body)
        assert answer.status_code == 400, (body, answer.text)
        assert field in answer.json()["message"], (field, answer.json())
    not_a_form = post(runner, store.store_id, key, "%%%&&&==")
    assert not_a_form.status_code == 400 and "form" in not_a_form.json()["message"]

    accepted = post(runner, store.store_id, key, good)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["event_ids"]
    replayed = post(runner, store.store_id, key, good)
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "ignored" and "received already" in replayed.json()["reason"]
    profile = post(runner, store.store_id, key, form(list_id, "profile", email="p@example.com", id="p1"))
    assert profile.status_code == 200 and profile.json()["status"] == "ignored"
    runner.wait_until_idle(timeout=60)


def test_the_key_is_never_logged(runner: LocalRunner, captured_logs: Any) -> None:
    store = register_store("shopify")
    key = key_of(store)
    email = f"logged-{uuid.uuid4().hex[:6]}@example.com"
    assert post(runner, store.store_id, key, form(store.store.list_id, email=email, id="k1")).status_code == 202
    assert post(runner, store.store_id, key[:-1] + "x", form(store.store.list_id, email=email)).status_code == 404
    runner.wait_until_idle(timeout=60)
    logs = captured_logs.getvalue()
    assert key not in logs and key[:-1] not in logs
    assert email not in logs


# ---- through the emulators ---------------------------------------------------------------------------------


def test_an_unsubscribe_in_mailchimp_withdraws_shopify_consent_and_nothing_flaps(
    runner: LocalRunner, mailchimp: MailchimpEmulator, shopify: ShopifyEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = shopify_store(shopify)
    shopify.add_webhook("customers/update", f"{runner.url}/webhooks/shopify")
    customer = subscribed_customer(runner, shopify, store, mailchimp_reader)
    email, list_id = customer["email"], store.store.list_id
    register_audience_webhook(runner, store)

    mailchimp.set_member_status(list_id, email, "unsubscribed", source="user")
    deliveries = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    assert [(d["type"], d["status"]) for d in deliveries] == [("unsubscribe", 202)]
    # Shopify's customers/update comes back to the receiver once the consent changed there.
    (echo,) = shopify.customer_webhooks.wait_for(1, timeout=60)
    assert echo["status"] == 202 and echo["body"]["email_marketing_consent"]["state"] == "unsubscribed"
    runner.wait_until_idle(timeout=60)

    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "unsubscribed"
    member = mailchimp_reader.resource(f"/lists/{list_id}/members/{subscriber_hash(email)}")
    assert member is not None and member["status"] == "unsubscribed"
    mailchimp_customer = mailchimp_reader.resource(
        f"/ecommerce/stores/{store.store_id}/customers/{subscriber_hash(email)}"
    )
    assert mailchimp_customer is not None and mailchimp_customer["opt_in_status"] is False
    # Stable: no further delivery either way.
    assert [d for d in mailchimp.webhook_deliveries() if d["list_id"] == list_id] == deliveries
    assert len(shopify.customer_webhooks.deliveries) == 1
    puts = [r for r in shopify.requests if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["status"] == 200


def test_shopify_down_is_retried_then_dead_lettered_with_the_reason(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    shopify: ShopifyEmulator,
    mailchimp_reader: MailchimpReader,
    operator_env: None,
) -> None:
    store = shopify_store(shopify)
    customer = subscribed_customer(runner, shopify, store, mailchimp_reader)
    register_audience_webhook(runner, store)
    shopify.fail_when(lambda path, query: 503 if "/customers/" in path else None)
    mailchimp.set_member_status(store.store.list_id, customer["email"], "unsubscribed", source="user")
    runner.wait_until_idle(timeout=180)
    puts = [r for r in shopify.requests if r["method"] == "PUT"]
    assert len(puts) > 1 and all(r["status"] == 503 for r in puts)
    letters = [letter for letter in dead_letters.peek("cart_events") if letter.store_id == store.store_id]
    assert len(letters) == 1
    assert "503" in letters[0].error_message and "customers" in letters[0].error_message
    assert customer["email"] not in letters[0].error_message


def test_a_subscribe_grants_shopify_consent_only_where_the_store_allows_it(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    shopify: ShopifyEmulator,
    mailchimp_reader: MailchimpReader,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = shopify_store(shopify)
    customer = subscribed_customer(runner, shopify, store, mailchimp_reader)
    email, list_id = customer["email"], store.store.list_id
    register_audience_webhook(runner, store)
    mailchimp.set_member_status(list_id, email, "unsubscribed", source="user")
    mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "unsubscribed"

    # Off (the default): the contact's subscribe in Mailchimp lifts the withdrawal, the platform is not written.
    mailchimp.set_member_status(list_id, email, "subscribed", source="user")
    mailchimp.wait_for_webhook_deliveries(2, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "unsubscribed"

    # On (add-store --consent-from-mailchimp): the next subscribe is written to Shopify.
    assert (
        operator_main.main(["add-store", "--store-id", store.store_id, "--consent-from-mailchimp", "--skip-check"]) == 0
    ), capsys.readouterr()
    mailchimp.set_member_status(list_id, email, "unsubscribed", source="user")
    mailchimp.wait_for_webhook_deliveries(3, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    mailchimp.set_member_status(list_id, email, "subscribed", source="user")
    mailchimp.wait_for_webhook_deliveries(4, list_id=list_id)
    runner.wait_until_idle(timeout=60)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "subscribed"
    assert held["email_marketing_consent"]["opt_in_level"] == "single_opt_in"


def test_an_address_changed_in_mailchimp_still_leads_to_the_platform_customer(
    runner: LocalRunner, mailchimp: MailchimpEmulator, shopify: ShopifyEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = shopify_store(shopify)
    customer = subscribed_customer(runner, shopify, store, mailchimp_reader)
    old, list_id = customer["email"], store.store.list_id
    new = f"moved-{uuid.uuid4().hex[:6]}@example.com"
    register_audience_webhook(runner, store)
    sent = mailchimp.deliver_audience_webhook(
        list_id, "upemail", {"list_id": list_id, "new_id": "n1", "new_email": new, "old_email": old}
    )
    assert sent == 1
    (moved,) = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    assert moved["type"] == "upemail" and moved["status"] == 202
    runner.wait_until_idle(timeout=60)

    # An unsubscribe of the new address reaches the same Shopify customer.
    unsubscribe = form(list_id, email=new, id="n1")
    assert post(runner, store.store_id, key_of(store), unsubscribe).status_code == 202
    runner.wait_until_idle(timeout=60)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "unsubscribed"


def test_a_contact_commerce_sync_never_wrote_is_found_on_the_platform_by_address(
    runner: LocalRunner, shopify: ShopifyEmulator
) -> None:
    store = shopify_store(shopify)
    email = f"never-synced-{uuid.uuid4().hex[:6]}@example.com"
    moment = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    customer = shopify.put_customer(history_customer(int(uuid.uuid4().int % 10**9), email, moment, subscribed=True))
    other = shopify.put_customer(
        history_customer(int(uuid.uuid4().int % 10**9), f"bystander-{email}", moment, subscribed=True)
    )
    answer = post(runner, store.store_id, key_of(store), form(store.store.list_id, "cleaned", email=email.upper()))
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)
    held = shopify.history["customers"].get(customer["id"])
    assert held is not None and held["email_marketing_consent"]["state"] == "unsubscribed"
    bystander = shopify.history["customers"].get(other["id"])
    assert bystander is not None and bystander["email_marketing_consent"]["state"] == "subscribed"
    searches = [r for r in shopify.requests if r["path"].endswith("/customers/search.json")]
    assert len(searches) == 1 and searches[0]["status"] == 200
