"""Pushing a store's new webhook secret to WooCommerce: every webhook of the site that delivers to
commerce-sync (`delivery_url` ending in `/webhooks/woocommerce`) gets the new `secret`
(`PUT /wp-json/wc/v3/webhooks/{id}`, REST API key as HTTP Basic). WooCommerce never returns a webhook's
secret, so the push cannot be read back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from commerce_sync.platforms.http import get_json
from commerce_sync.platforms.secret_push import MAX_PAGES, PAGE_SIZE, send_json

WOOCOMMERCE_DELIVERY_PATH = "/webhooks/woocommerce"


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
        hooks, skipped = [], 0
        for items in self._pages():
            for hook in items:
                delivery = urlsplit(str(hook.get("delivery_url") or "")).path.rstrip("/")
                if delivery.endswith(WOOCOMMERCE_DELIVERY_PATH):
                    hooks.append(hook)
                else:
                    skipped += 1
        return hooks, skipped

    def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        send_json(self._session, "PUT", f"{self._root}/webhooks/{int(hook['id'])}", {"secret": secret}, {})

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        return None  # WooCommerce never returns a webhook's secret
