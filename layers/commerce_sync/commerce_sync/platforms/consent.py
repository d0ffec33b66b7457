"""Writing a shopper's marketing consent back to the store's platform (two-way consent, docs/consent.md): each
platform's own way, through its API client. A store of a platform without one (canonical) is told so."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import HttpPolicy, PlatformSession, platform_session

# Each platform's consent module is imported where its store's consent is written: cart_events and order_status
# import this module at init, and loading every platform's API models there cost their cold start for a write
# that reaches one platform, rarely.

# A queue consumer's write: short timeouts; the queue's retry is the retry (writes are never repeated here).
CONSENT_HTTP_POLICY = HttpPolicy(connect_timeout=3.05, read_timeout=10.0, retries=2, max_wait=5.0)
WRITABLE_PLATFORMS = frozenset({"shopify", "woocommerce", "bigcommerce"})
# Platforms that keep consent by address (BigCommerce's subscribers), not on the customer: no customer id needed.
BY_ADDRESS = frozenset({"bigcommerce"})


class ConsentNotWritable(Exception):
    """The store's platform has no API commerce-sync writes consent through."""


class PlatformConsent:
    def __init__(self, policy: HttpPolicy = CONSENT_HTTP_POLICY) -> None:
        self._policy = policy
        self._session: PlatformSession | None = None

    @property
    def session(self) -> PlatformSession:
        if self._session is None:
            self._session = platform_session(self._policy)
        return self._session

    def customer_ids_of(self, store: Store, credentials: Mapping[str, Any], email: str) -> list[str]:
        """The platform's customers with that address, for a contact commerce-sync never wrote (PlatformApiError
        when the platform fails). None for a platform that keeps consent by address or has no API."""
        if store.platform == "shopify":
            from commerce_sync.platforms.shopify import customers as shopify_customers

            return shopify_customers.customer_ids_of(store, credentials, email, self.session)
        if store.platform == "woocommerce":
            from commerce_sync.platforms.woocommerce import consent as woocommerce_consent

            return woocommerce_consent.customer_ids_of(store, credentials, email, self.session)
        return []

    def set_email_consent(
        self,
        store: Store,
        credentials: Mapping[str, Any],
        customer_id: str | None,
        email: str,
        subscribed: bool,
        changed_at: datetime,
    ) -> bool:
        """True when the platform was written. PlatformApiError when the platform refuses or does not answer (status
        404: the customer is gone); `customer_id` is needed unless the platform keeps consent by address."""
        if store.platform == "bigcommerce":
            from commerce_sync.platforms.bigcommerce import consent as bigcommerce_consent

            return bigcommerce_consent.set_newsletter_consent(store, credentials, email, subscribed, self.session)
        if customer_id is None:
            raise ConsentNotWritable(f"a {store.platform} customer's consent is written by the customer's id")
        if store.platform == "shopify":
            from commerce_sync.platforms.shopify import customers as shopify_customers

            shopify_customers.set_email_consent(store, credentials, customer_id, subscribed, changed_at, self.session)
            return True
        if store.platform == "woocommerce":
            from commerce_sync.platforms.woocommerce import consent as woocommerce_consent

            woocommerce_consent.set_consent_meta(store, credentials, customer_id, subscribed, self.session)
            return True
        raise ConsentNotWritable(f"commerce-sync writes no consent to {store.platform} stores")
