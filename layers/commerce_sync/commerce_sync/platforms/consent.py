"""Writing a shopper's marketing consent back to the store's platform (two-way consent, docs/consent.md): each
platform's own way, through its API client. A store of a platform without one (canonical) is told so."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import HttpPolicy, PlatformSession, platform_session
from commerce_sync.platforms.shopify import customers as shopify_customers

# A queue consumer's write: short timeouts; the queue's retry is the retry (writes are never repeated here).
CONSENT_HTTP_POLICY = HttpPolicy(connect_timeout=3.05, read_timeout=10.0, retries=2, max_wait=5.0)
WRITABLE_PLATFORMS = frozenset({"shopify"})


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

    def set_email_consent(
        self, store: Store, credentials: Mapping[str, Any], customer_id: str, subscribed: bool, changed_at: datetime
    ) -> None:
        """PlatformApiError when the platform refuses or does not answer (status 404: the customer is gone)."""
        if store.platform == "shopify":
            shopify_customers.set_email_consent(store, credentials, customer_id, subscribed, changed_at, self.session)
            return
        raise ConsentNotWritable(f"commerce-sync writes no consent to {store.platform} stores")
