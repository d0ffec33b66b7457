"""A store's WooCommerce webhooks of ours: every webhook of the site that delivers to commerce-sync
(`delivery_url` ending in `/webhooks/woocommerce`), through `/wp-json/wc/v3/webhooks` (REST API key as HTTP Basic).

- Secret push: each gets the new `secret` (`PUT /webhooks/{id}`). WooCommerce never returns a webhook's secret,
  so the push cannot be read back.
- Health (`check_and_repair`, platforms.webhook_health): each topic docs/woocommerce.md asks for (EXPECTED_TOPICS)
  has a webhook of ours whose `status` is `active`; one `disabled` (WooCommerce does it after more than 5
  consecutive failed deliveries) or `paused` is set `active` again (`PUT /webhooks/{id}` with
  `{"status": "active"}`); a missing topic is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from commerce_sync.platforms.http import get_json
from commerce_sync.platforms.secret_push import MAX_PAGES, PAGE_SIZE, send_json
from commerce_sync.platforms.webhook_health import HookState, ObservedHook, WebhookHealth, assess

WOOCOMMERCE_DELIVERY_PATH = "/webhooks/woocommerce"
# docs/woocommerce.md, "Create the webhooks": one webhook per topic.
EXPECTED_TOPICS = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "coupon.created",
    "coupon.updated",
    "coupon.deleted",
    "coupon.restored",
)
STATES = {"active": HookState.ACTIVE, "paused": HookState.PAUSED, "disabled": HookState.DISABLED}


class WooCommerceWebhooks:
    platform = "woocommerce"

    def __init__(self, api_root: str, consumer_key: str, consumer_secret: str, session: requests.Session) -> None:
        self._root = api_root.rstrip("/")
        self._session = session
        self._session.auth = (consumer_key, consumer_secret)

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        for page in range(1, MAX_PAGES + 1):
            batch = get_json(self._session, f"{self._root}/webhooks", params={"per_page": PAGE_SIZE, "page": page})
            items = [item for item in batch or [] if isinstance(item, dict)] if isinstance(batch, list) else []
            yield items
            if len(items) < PAGE_SIZE:
                return

    def ours(self, current: str | None, new: str) -> tuple[list[dict[str, Any]], int]:
        return self._ours()

    def _ours(self) -> tuple[list[dict[str, Any]], int]:
        hooks, skipped = [], 0
        for items in self._pages():
            for hook in items:
                delivery = urlsplit(str(hook.get("delivery_url") or "")).path.rstrip("/")
                if delivery.endswith(WOOCOMMERCE_DELIVERY_PATH):
                    hooks.append(hook)
                else:
                    skipped += 1
        return hooks, skipped

    def check_and_repair(self, store_id: str, repair: bool = True) -> WebhookHealth:
        """Each expected topic's state; `repair` sets a disabled or paused webhook of ours active again. Raises
        PlatformApiError when the webhooks cannot be listed."""
        hooks, _ = self._ours()
        observed = [
            ObservedHook(str(hook.get("id")), str(hook.get("topic") or ""), STATES[str(hook.get("status"))])
            for hook in hooks
            if str(hook.get("status")) in STATES
        ]

        def reactivate(hook: ObservedHook) -> None:
            send_json(self._session, "PUT", f"{self._root}/webhooks/{int(hook.id)}", {"status": "active"}, {})

        return assess(
            self.platform,
            store_id,
            EXPECTED_TOPICS,
            observed,
            lambda hook_topic, topic: hook_topic == topic,
            reactivate if repair else None,
        )

    def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        send_json(self._session, "PUT", f"{self._root}/webhooks/{int(hook['id'])}", {"secret": secret}, {})

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        return None  # WooCommerce never returns a webhook's secret
