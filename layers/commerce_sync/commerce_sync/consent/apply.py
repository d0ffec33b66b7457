"""Applying Mailchimp's consent changes to the store (docs/consent.md), in the cart/customer queue's consumer
(privacy.events.ShopperEvents), with its leases, retries and dead letters.

- `customer.consent_withdrawn` (unsubscribe, cleaned): the withdrawal is recorded first (aws.consent_records: from
  then on no write path sends the contact to Mailchimp as opted in), then the platform customer's marketing consent
  is withdrawn through its API. The platform customers are those commerce-sync wrote to Mailchimp under that
  address (the sync state remembers each Mailchimp customer's platform id), else those the platform finds by the
  address (Shopify's customer search, WooCommerce's `email` filter); with none, only the record is kept. A
  platform that fails or does not answer fails the event: the queue retries it, then dead-letters it with the
  reason. A customer the platform no longer has is done with.
- `customer.consent_granted` (subscribe): the withdrawal record goes (the contact chose to subscribe again in
  Mailchimp); the platform is told only when the store's option `consent_from_mailchimp` is on.
- `customer.email_changed` (upemail): the Mailchimp customer written under the old address is known under the
  new one too, so the platform customer's next change finds it; a withdrawal of the old address carries over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commerce_sync.aws.consent_records import ConsentWithdrawals
from commerce_sync.aws.observability import logger
from commerce_sync.aws.secret_store import SecretReader
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.carts.customers import CUSTOMER, MAILCHIMP_IDS, PLATFORM_CUSTOMER, PLATFORM_CUSTOMER_ID
from commerce_sync.platforms.consent import BY_ADDRESS, WRITABLE_PLATFORMS, PlatformConsent
from commerce_sync.platforms.http import PlatformApiError

Outcome = dict[str, Any]
# The lease a consent change holds: the contact's, by the hash of the address (never the address).
CONSENT = "consent"


class ConsentApplier:
    def __init__(
        self,
        state: SyncState,
        withdrawals: ConsentWithdrawals,
        secrets: SecretReader,
        platform: PlatformConsent | None = None,
    ) -> None:
        self._state = state
        self._withdrawals = withdrawals
        self._secrets = secrets
        self._platform = platform or PlatformConsent()

    def withdrawn(self, store: Store, event: CanonicalEvent) -> Outcome:
        change = event.consent_change()
        self._withdrawals.withdraw(store.store_id, change.email, event.entity_version, change.reason)
        written = self._write_platform(store, change.email, False, change.changed_at)
        return {"outcome": "consent_withdrawn", "reason": change.reason, **written}

    def granted(self, store: Store, event: CanonicalEvent) -> Outcome:
        change = event.consent_change()
        cleared = self._withdrawals.granted(store.store_id, change.email, event.entity_version)
        if not cleared:
            # A later unsubscribe was applied already (the two delivered out of order): it stands.
            return {"outcome": "stale"}
        if not store.consent_from_mailchimp:
            return {"outcome": "consent_granted", "platform": "not_written_option_off"}
        written = self._write_platform(store, change.email, True, change.changed_at)
        return {"outcome": "consent_granted", **written}

    def email_changed(self, store: Store, event: CanonicalEvent) -> Outcome:
        moved = event.email_change()
        old_id, new_id = subscriber_hash(moved.old_email), subscriber_hash(moved.new_email)
        known = self._state.applied(store.store_id, CUSTOMER, old_id) or {}
        platform_id = known.get(PLATFORM_CUSTOMER_ID)
        if platform_id:
            self._state.mark(store.store_id, CUSTOMER, new_id, **{PLATFORM_CUSTOMER_ID: platform_id})
            self._state.add_to_set(store.store_id, PLATFORM_CUSTOMER, str(platform_id), MAILCHIMP_IDS, {new_id})
        if self._withdrawals.withdrawn(store.store_id, moved.old_email):
            self._withdrawals.withdraw(store.store_id, moved.new_email, event.entity_version, "upemail")
        return {"outcome": "email_changed", "platform_customer_known": bool(platform_id)}

    def _platform_customers(self, store: Store, email: str) -> list[str]:
        known = self._state.applied(store.store_id, CUSTOMER, subscriber_hash(email)) or {}
        platform_id = known.get(PLATFORM_CUSTOMER_ID)
        return [str(platform_id)] if platform_id else []

    def _write_platform(self, store: Store, email: str, subscribed: bool, changed_at: datetime) -> Outcome:
        if store.platform not in WRITABLE_PLATFORMS:
            return {"platform": "not_written_no_api"}
        credentials = self._secrets.current(store.secret_id).get("platform_api_credentials") or {}
        if not credentials:
            # A store registered for its webhooks alone: nothing to write with, and retrying cannot help.
            logger.warning("consent not written: the store has no platform API credentials")
            return {"platform": "not_written_no_credentials"}
        targets: list[str | None] = (
            [None] if store.platform in BY_ADDRESS else [*self._platform_customers(store, email)]
        )
        if not targets:
            # A contact commerce-sync never wrote: the platform is asked for its customers with that address.
            targets = [*self._platform.customer_ids_of(store, credentials, email)]
        if not targets:
            return {"platform": "no_platform_customer"}
        written = gone = 0
        for customer_id in targets:
            try:
                changed = self._platform.set_email_consent(
                    store, credentials, customer_id, email, subscribed, changed_at
                )
            except PlatformApiError as error:
                if error.status != 404:
                    raise
                logger.info("consent not written: the platform has no such customer any more")
                gone += 1
                continue
            written += int(changed)
        return {"platform": "written" if written else "unchanged", "platform_customers": written, "gone": gone}
