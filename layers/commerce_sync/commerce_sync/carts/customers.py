"""Writing a shopper to Mailchimp with the consent rules every path shares (carts, customers, orders).

`opt_in_status` is true only with real consent, and Mailchimp never lets it unsubscribe or overwrite an
existing contact. With the store's double opt-in, a consenting shopper is sent with opt_in false and
the audience member is then set to `pending` (confirmation e-mail) — only when the member is new or
transactional, never one who is subscribed, unsubscribed or cleaned. "Member In Compliance State" is
recorded in the sync state, not retried.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from commerce_sync.aws.consent_records import ConsentWithdrawals
from commerce_sync.aws.observability import metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import ConsentState, Customer
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpComplianceState, MailchimpNotFound
from commerce_sync.mailchimp.mapping import to_mailchimp_customer
from commerce_sync.mailchimp.models import McCustomer

CUSTOMER = "customer"
# Keyed by the platform's customer id: the Mailchimp customers (one per e-mail address the shopper has
# used) that a platform deletion must remove, and the version of the platform's last customer event.
PLATFORM_CUSTOMER = "platform-customer"
MAILCHIMP_IDS = "mailchimp_ids"
PLATFORM_CUSTOMER_ID = "platform_customer_id"
WRITTEN_FINGERPRINT = "written_fingerprint"
NEW_OR_TRANSACTIONAL = frozenset({None, "transactional"})


def customer_for_store(store: Store, customer: Customer, consent_withdrawn: bool = False) -> McCustomer:
    """`consent_withdrawn`: Mailchimp withdrew the contact's consent (docs/consent.md), so whatever the platform says
    the customer is not sent as opted in."""
    mailchimp_customer = to_mailchimp_customer(customer)
    if (store.double_opt_in or consent_withdrawn) and mailchimp_customer.opt_in_status:
        # The member goes to `pending` after the write; opting in here would skip the confirmation.
        return mailchimp_customer.model_copy(update={"opt_in_status": False})
    return mailchimp_customer


def written_fingerprint(mailchimp_customer: McCustomer) -> str:
    """What is recorded as written for a Mailchimp customer, so an unchanged shopper costs no PUT."""
    return hashlib.sha256(json.dumps(mailchimp_customer.body(), sort_keys=True).encode()).hexdigest()


def customer_marks(
    customer: Customer, mailchimp_customer: McCustomer
) -> list[tuple[str, str, dict[str, Any], dict[str, set[str]]]]:
    """The marks of a customer written to Mailchimp, for `SyncState.mark_many`: its fingerprint and platform id
    on the Mailchimp customer, and the Mailchimp id added to the platform customer's set."""
    marks: dict[str, Any] = {WRITTEN_FINGERPRINT: written_fingerprint(mailchimp_customer)}
    if not customer.id:
        return [(CUSTOMER, mailchimp_customer.id, marks, {})]
    marks[PLATFORM_CUSTOMER_ID] = customer.id
    return [
        (CUSTOMER, mailchimp_customer.id, marks, {}),
        (PLATFORM_CUSTOMER, customer.id, {}, {MAILCHIMP_IDS: {mailchimp_customer.id}}),
    ]


class CustomerWriter:
    def __init__(self, state: SyncState, withdrawals: ConsentWithdrawals | None = None) -> None:
        self._state = state
        # Contacts whose consent Mailchimp withdrew (docs/consent.md); None: none are looked up.
        self._withdrawals = withdrawals

    def consent_withdrawn(self, store: Store, customer: Customer) -> bool:
        """Only a shopper the platform says consents is looked up: anyone else is never sent as opted in anyway."""
        if self._withdrawals is None or customer.consent.state is not ConsentState.GRANTED or not customer.email:
            return False
        return self._withdrawals.withdrawn(store.store_id, customer.email)

    def reads_of(self, store: Store, customer: Customer) -> list[dict[str, str]]:
        """The items `for_store` and `write` read beyond the customer's own state (for reading them ahead)."""
        if self._withdrawals is None or customer.consent.state is not ConsentState.GRANTED or not customer.email:
            return []
        return [self._withdrawals.key(store.store_id, customer.email)]

    def for_store(self, store: Store, customer: Customer) -> McCustomer:
        """The Mailchimp customer to write (customer_for_store), with Mailchimp's withdrawal of consent honoured."""
        return customer_for_store(store, customer, self.consent_withdrawn(store, customer))

    def write(
        self,
        client: MailchimpClient,
        store: Store,
        customer: Customer,
        mailchimp_customer: McCustomer,
        confirm: bool = True,
    ) -> dict[str, Any]:
        """PUT the customer unless Mailchimp already holds exactly this body (every cart and order event
        carries its shopper; re-sending an unchanged one would only spend the 10-connection budget).
        `confirm` False (history) never asks for a double opt-in confirmation: the shopper stays transactional."""
        fingerprint = written_fingerprint(mailchimp_customer)
        known = self._state.applied(store.store_id, CUSTOMER, mailchimp_customer.id) or {}
        if known.get(WRITTEN_FINGERPRINT) == fingerprint:
            return {"customer": "unchanged"}
        try:
            client.upsert_customer(store.store_id, mailchimp_customer)
        except MailchimpComplianceState:
            self._record_compliance(store, mailchimp_customer.id)
            return {"member": "compliance_state"}
        marks = {WRITTEN_FINGERPRINT: fingerprint} | ({PLATFORM_CUSTOMER_ID: customer.id} if customer.id else {})
        self._state.mark(store.store_id, CUSTOMER, mailchimp_customer.id, **marks)
        if customer.id and known.get(PLATFORM_CUSTOMER_ID) != customer.id:
            # Only the first write of this address for this platform customer costs the second item.
            known_as = {mailchimp_customer.id}
            self._state.add_to_set(store.store_id, PLATFORM_CUSTOMER, customer.id, MAILCHIMP_IDS, known_as)
        if not (confirm and store.double_opt_in and customer.consent.state is ConsentState.GRANTED and customer.email):
            return {}
        if self.consent_withdrawn(store, customer):
            # Mailchimp withdrew it: no confirmation e-mail asks the contact again.
            return {"member": "consent_withdrawn"}
        return {"member": self._request_confirmation(client, store, customer.email, mailchimp_customer.id)}

    def mailchimp_ids_of(self, store: Store, platform_customer_id: str) -> set[str]:
        """Every Mailchimp customer written for a platform customer. Before customers were keyed by e-mail
        their Mailchimp id was the platform id itself, so that one is included."""
        known = self._state.applied(store.store_id, PLATFORM_CUSTOMER, platform_customer_id) or {}
        return {*(known.get(MAILCHIMP_IDS) or ()), platform_customer_id}

    def forget(self, store: Store, mailchimp_id: str) -> None:
        """The customer left Mailchimp: the next write of the same shopper must not be skipped as unchanged."""
        self._state.mark(store.store_id, CUSTOMER, mailchimp_id, **{WRITTEN_FINGERPRINT: ""})

    def _request_confirmation(self, client: MailchimpClient, store: Store, email: str, mailchimp_id: str) -> str:
        member = client.get_member(store.list_id, subscriber_hash(email), fields="status")
        status = member.get("status") if member else None
        if status not in NEW_OR_TRANSACTIONAL:
            return f"left_{status}"
        try:
            client.update_member(store.list_id, subscriber_hash(email), {"status": "pending"})
        except MailchimpComplianceState:
            self._record_compliance(store, mailchimp_id)
            return "compliance_state"
        except MailchimpNotFound:
            body = {"email_address": email, "status_if_new": "pending", "status": "pending"}
            client.put_member(store.list_id, subscriber_hash(email), body)
        return "pending"

    def _record_compliance(self, store: Store, mailchimp_id: str) -> None:
        metrics.add_metric(name="MemberInComplianceState", unit="Count", value=1)
        self._state.mark(store.store_id, CUSTOMER, mailchimp_id, compliance_state=True)
