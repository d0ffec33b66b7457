"""Each Mailchimp account's connection budget holds across every container (docs/mailchimp-accounts.md):
through the local runner, cart and order consumers (six containers at once) flood one account while
Mailchimp answers slowly, and at no moment are more requests of that account in flight than its slots; every
change still lands. The budget is lowered to 2 for the test (the runner restarts its containers on an
environment change, as Lambda does after a configuration update), so six consumers would break it at once
without the slots."""

from __future__ import annotations

import copy
import threading
import uuid

import pytest
import requests
from commerce_sync.mailchimp.credentials import MailchimpCredentials

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.e2e.test_shopify_checkout_slice import checkout, post
from tests.e2e.test_shopify_orders import new_order, send
from tests.harness import MailchimpReader, RegisteredStore, register_store

BUDGET = 2


def test_at_most_the_accounts_budget_is_in_flight_and_every_change_lands(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    shopify_store: RegisteredStore,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILCHIMP_CONNECTIONS_PER_ACCOUNT", str(BUDGET))
    monkeypatch.setenv("MAILCHIMP_BULK_CONNECTIONS", "1")
    # Shoppers of their own: an order ends its shopper's carts, which would hide whether a cart landed.
    carts = [checkout(email=f"budget.{uuid.uuid4().hex[:8]}@example.org") for _ in range(8)]
    orders = [dict(copy.deepcopy(new_order()), financial_status="paid") for _ in range(8)]
    mailchimp.set_faults(latency_ms=120)
    mailchimp.reset_peak_in_flight()

    senders = [threading.Thread(target=post, args=(runner, shopify_store, body)) for body in carts]
    senders += [threading.Thread(target=send, args=(runner, shopify_store, "orders/create", body)) for body in orders]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    runner.wait_until_idle(timeout=180)
    mailchimp.set_faults()

    assert 1 <= mailchimp.peak_in_flight <= BUDGET
    store = shopify_store.store_id
    for body in carts:
        assert mailchimp_reader.resource(f"/ecommerce/stores/{store}/carts/{body['cart_token']}") is not None
    for order in orders:
        held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{order['id']}")
        assert held is not None and held["financial_status"] == "paid"


def test_two_accounts_each_keep_to_their_own_budget_and_both_progress(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    shopify_store: RegisteredStore,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One merchant floods their account; the other merchant's changes still land, and neither account ever has
    more than its budget in flight."""
    monkeypatch.setenv("MAILCHIMP_CONNECTIONS_PER_ACCOUNT", str(BUDGET))
    monkeypatch.setenv("MAILCHIMP_BULK_CONNECTIONS", "1")
    account_b, key_b = f"acct-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex}-us6"
    mailchimp.add_account(account_b, key_b)
    store_b = register_store("shopify", mailchimp_credentials=MailchimpCredentials.api_key(key_b))
    flood = [checkout(email=f"flood.{uuid.uuid4().hex[:8]}@example.org") for _ in range(16)]
    trickle = [checkout(email=f"trickle.{uuid.uuid4().hex[:8]}@example.org") for _ in range(4)]
    mailchimp.set_faults(latency_ms=120)
    mailchimp.reset_peak_in_flight()

    senders = [threading.Thread(target=post, args=(runner, shopify_store, body)) for body in flood]
    senders += [threading.Thread(target=post, args=(runner, store_b, body)) for body in trickle]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    runner.wait_until_idle(timeout=180)
    mailchimp.set_faults()

    peaks = mailchimp.in_flight_peaks()
    assert 1 <= peaks[mailchimp.primary_account_id] <= BUDGET
    assert 1 <= peaks[account_b] <= BUDGET
    for body in flood:
        path = f"/ecommerce/stores/{shopify_store.store_id}/carts/{body['cart_token']}"
        assert mailchimp_reader.resource(path) is not None
    for body in trickle:
        path = f"/ecommerce/stores/{store_b.store_id}/carts/{body['cart_token']}"
        answer = requests.get(f"{mailchimp.base_url}{path}", auth=("test", key_b), timeout=10)
        assert answer.status_code == 200, answer.text
