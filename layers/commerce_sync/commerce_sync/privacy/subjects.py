"""Whom a privacy request is about, as erasures and data requests both need it: the shopper's Mailchimp customers,
and the salted hash that names them in an audit line.

A request names an e-mail address, the platform's customer id, or both. Mailchimp knows a shopper as one customer per
address (its id the MD5 subscriber hash); the sync state's platform-customer item lists every address a platform
customer was written with, so a request by customer id also reaches the addresses it does not name.
"""

from __future__ import annotations

from commerce_sync.aws.sync_state import SyncState
from commerce_sync.aws.tombstones import Tombstones
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.carts.customers import MAILCHIMP_IDS, PLATFORM_CUSTOMER


def mailchimp_ids(state: SyncState, store_id: str, email: str | None, customer_id: str | None) -> set[str]:
    """Every Mailchimp customer of the shopper: the address given, and those the platform customer had."""
    ids: set[str] = set()
    if email:
        ids.add(subscriber_hash(email))
    if customer_id:
        known = state.applied(store_id, PLATFORM_CUSTOMER, customer_id) or {}
        ids |= {str(value) for value in known.get(MAILCHIMP_IDS) or ()}
    return ids


def audit_subject(tombstones: Tombstones, store_id: str, email: str | None, customer_id: str | None) -> str:
    """Who a request is about, for its audit line: a salted hash, never the address."""
    if email:
        return "email#" + tombstones.digest(store_id, "email", subscriber_hash(email))
    return "customer#" + tombstones.digest(store_id, "customer", str(customer_id))
