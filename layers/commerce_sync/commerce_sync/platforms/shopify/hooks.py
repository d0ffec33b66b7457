"""A Shopify store's webhook subscriptions made through the Admin API (`/admin/api/<version>/webhooks.json`, the
store's access token), for the webhook health check (platforms.webhook_health) and `commerce-sync webhooks`.

Shopify's API lists only the subscriptions the calling app made through the API for that shop: not those made in
the shop's admin, not the app-specific ones declared in the app's `shopify.app.toml`, and not an EventBridge
delivery configured with the app. So a store is checked only when its registration says its subscriptions are made
through the Admin API (`webhook_subscriptions: admin-api`); for the others `not_checked_reason` says why not.

Subscriptions carry no state: one Shopify lists delivers. Shopify deletes one whose deliveries keep failing (it
retries a failed delivery 8 times over 4 hours), so a needed topic without a subscription at the store's
`webhook_address` is missing, and is subscribed again there (`POST webhooks.json` with topic, address and format
json) when repairs are on. Without a registered address every subscription of the app counts as ours, and a
missing topic is only reported. Subscriptions at other addresses are never changed or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from commerce_sync.aws.store_registry import Store, WebhookSubscriptions
from commerce_sync.platforms.secret_push import send_json
from commerce_sync.platforms.shopify.api import auth_headers, every_page
from commerce_sync.platforms.webhook_health import HookState, ObservedHook, WebhookHealth, assess

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
EVENTBRIDGE_ARN_PREFIX = "arn:aws:events:"
ACCEPTED_ADDRESSES = (
    "an https:// URL (the stack's WebhookUrl for shopify, https://…/webhooks/shopify), an Amazon EventBridge "
    "partner event source ARN (arn:aws:events:…), or locally http://127.0.0.1:PORT/…"
)

_NOT_CHECKED = {
    None: (
        "they are not recorded as made through the Admin API, the only ones Shopify's API lists "
        "(`commerce-sync webhooks {store} --create` makes them so)"
    ),
    WebhookSubscriptions.APP_CONFIG: "they are declared in the app's shopify.app.toml, which Shopify keeps itself",
    WebhookSubscriptions.SHOP_ADMIN: "they were made in the shop's admin, which Shopify's API does not list",
    WebhookSubscriptions.EVENTBRIDGE: "they come through Amazon EventBridge as the app configures it, not the API",
}


class WebhookAddressError(ValueError):
    """An address Shopify would not deliver to (or not one of ours): the message names the accepted forms."""


def parse_webhook_address(address: str) -> str:
    """The address as given, stripped, when Shopify can deliver there; WebhookAddressError otherwise."""
    value = address.strip()
    if value.startswith(EVENTBRIDGE_ARN_PREFIX) and "/aws.partner/shopify.com/" in value:
        return value
    parts = urlsplit(value)
    secure = parts.scheme == "https" and bool(parts.hostname)
    # Shopify delivers to https only; the local runner serves plain http on the loopback, for the stand-in.
    local = parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS
    if not (secure or local) or parts.username or parts.password:
        raise WebhookAddressError(
            f"{value[:100]!r} is not a webhook address Shopify delivers to; give {ACCEPTED_ADDRESSES}"
        )
    return value


def not_checked_reason(store: Store) -> str | None:
    """Why a Shopify store's subscriptions are not checked, from its registration; None when they are."""
    if store.webhook_subscriptions == WebhookSubscriptions.ADMIN_API:
        return None
    reason = _NOT_CHECKED.get(store.webhook_subscriptions, _NOT_CHECKED[None]).format(store=store.store_id)
    return f"store {store.store_id} is a shopify store: commerce-sync does not check its webhooks: {reason}"


class ShopifyWebhooks:
    """The app's subscriptions in one shop, against the topics commerce-sync needs (`topics`) at `address`."""

    platform = "shopify"

    def __init__(
        self,
        api_root: str,
        access_token: str,
        session: requests.Session,
        topics: Sequence[str],
        address: str | None,
    ) -> None:
        self._url = f"{api_root.rstrip('/')}/webhooks.json"
        self._headers: Mapping[str, str] = auth_headers(access_token)
        self._session = session
        self.topics = tuple(topics)
        self.address = address

    def subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription Shopify lists for the app (`id`, `topic`, `address`, …). PlatformApiError when the
        listing is refused or fails."""
        found: list[dict[str, Any]] = []
        for page in every_page(self._session, self._url, self._headers):
            items = page.get("webhooks") if isinstance(page, dict) else None
            found.extend(item for item in items or [] if isinstance(item, dict))
        return found

    def ours(self, subscription: Mapping[str, Any]) -> bool:
        return self.address is None or str(subscription.get("address") or "") == self.address

    def create(self, topic: str) -> str:
        """Subscribes `topic` at the store's address; the new subscription's id. PlatformApiError with Shopify's
        words when it refuses (422: a topic the app's access scopes do not cover, an address already taken)."""
        if self.address is None:
            raise WebhookAddressError("the store has no webhook address to subscribe at")
        body = {"webhook": {"topic": topic, "address": self.address, "format": "json"}}
        answer = send_json(self._session, "POST", self._url, body, self._headers)
        created = answer.get("webhook") if isinstance(answer, dict) else None
        return str(created.get("id")) if isinstance(created, dict) else ""

    def check_and_repair(self, store_id: str, repair: bool = True) -> WebhookHealth:
        """Each needed topic's state; `repair` subscribes a missing one again at the store's address (when it has
        one). Raises PlatformApiError when the subscriptions cannot be listed (nothing changed)."""
        listed = self.subscriptions()
        observed = [
            ObservedHook(str(item.get("id")), str(item.get("topic") or ""), HookState.ACTIVE)
            for item in listed
            if self.ours(item)
        ]

        def missing_detail(topic: str) -> str:
            if self.address is None:
                return "the app has no subscription of this topic, and no webhook address is registered to make one at"
            elsewhere = sum(1 for item in listed if item.get("topic") == topic and not self.ours(item))
            return f"no subscription at the webhook address{f' ({elsewhere} at another address)' if elsewhere else ''}"

        return assess(
            self.platform,
            store_id,
            self.topics,
            observed,
            lambda hook_topic, topic: hook_topic == topic,
            None,
            self.create if repair and self.address is not None else None,
            missing_detail,
        )
