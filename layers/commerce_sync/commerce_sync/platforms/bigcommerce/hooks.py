"""A store's BigCommerce hooks (`/v3/hooks`, `X-Auth-Token`).

- Secret push: every hook carrying our `X-Commerce-Sync-Token` header gets the new token, its other headers kept
  (`PUT /v3/hooks/{id}` with `headers`). Hooks whose token is neither the current nor the new secret belong to
  something else (another deployment) and are left alone.
- Health (`check_and_repair`, platforms.webhook_health): each scope the docs ask for (EXPECTED_SCOPES) is covered
  by a hook of ours (`destination` ending in `/webhooks/bigcommerce`; a wildcard such as `store/shipment/*`
  covers the scopes under it) with `is_active: true`; an inactive one (BigCommerce deactivates a hook whose
  deliveries keep failing) is reactivated (`PUT /v3/hooks/{id}` with `{"is_active": true}`); a missing scope is
  reported. Hooks are told ours by their destination, not their token: a hook the merchant's app registered
  without our header still delivers to us.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from commerce_sync.platforms.bigcommerce.api import auth_headers
from commerce_sync.platforms.bigcommerce.models import TOKEN_HEADER
from commerce_sync.platforms.http import get_json
from commerce_sync.platforms.secret_push import MAX_PAGES, PAGE_SIZE, same_secret, send_json
from commerce_sync.platforms.webhook_health import HookState, ObservedHook, WebhookHealth, assess

BIGCOMMERCE_DELIVERY_PATH = "/webhooks/bigcommerce"
# What the docs ask a store to register: carts and customers (docs/carts-and-customers.md; `store/cart/updated`
# fires on creation and on every line change), orders and shipments (docs/order-status.md), products
# (docs/product-sync.md).
EXPECTED_SCOPES = (
    "store/cart/updated",
    "store/cart/deleted",
    "store/cart/converted",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/refund/created",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/product/inventory/updated",
    "store/product/inventory/order/updated",
)


def covers(hook_scope: str, scope: str) -> bool:
    """A hook's scope covers a scope when it is that scope or a wildcard above it (`store/order/*`)."""
    return hook_scope == scope or (hook_scope.endswith("/*") and scope.startswith(hook_scope[:-1]))


class BigCommerceWebhooks:
    platform = "bigcommerce"

    def __init__(self, api_root: str, access_token: str, session: requests.Session) -> None:
        self._root = api_root.rstrip("/")
        self._session = session
        self._headers = auth_headers(access_token)

    @staticmethod
    def _token(hook: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(the header's name as the hook spells it, its value)."""
        headers = hook.get("headers") or {}
        for name, value in headers.items() if isinstance(headers, Mapping) else ():
            if str(name).lower() == TOKEN_HEADER.lower():
                return str(name), None if value is None else str(value)
        return None, None

    def _all(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = get_json(
                self._session,
                f"{self._root}/v3/hooks",
                params={"page": page, "limit": PAGE_SIZE},
                headers=self._headers,
            )
            data = answer.get("data") if isinstance(answer, dict) else answer
            items = [item for item in data or [] if isinstance(item, dict)] if isinstance(data, list) else []
            hooks.extend(items)
            pagination = (answer.get("meta") or {}).get("pagination") if isinstance(answer, dict) else None
            total_pages = int(pagination.get("total_pages") or 0) if isinstance(pagination, dict) else 0
            if page >= total_pages or not items:
                return hooks
        return hooks

    def ours(self, current: str | None, new: str) -> tuple[list[dict[str, Any]], int]:
        hooks, skipped = [], 0
        for hook in self._all():
            name, value = self._token(hook)
            if name is not None and (same_secret(value, current) or same_secret(value, new)):
                hooks.append(hook)
            else:
                skipped += 1
        return hooks, skipped

    def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        name, _ = self._token(hook)
        headers = {str(key): str(value) for key, value in (hook.get("headers") or {}).items() if key != name}
        headers[TOKEN_HEADER] = secret
        url = f"{self._root}/v3/hooks/{quote(str(hook['id']), safe='')}"
        send_json(self._session, "PUT", url, {"headers": headers}, self._headers)

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        url = f"{self._root}/v3/hooks/{quote(str(hook['id']), safe='')}"
        answer = get_json(self._session, url, headers=self._headers)
        fresh = answer.get("data") if isinstance(answer, dict) and "data" in answer else answer
        _, value = self._token(fresh if isinstance(fresh, dict) else {})
        return same_secret(value, secret)

    def check_and_repair(self, store_id: str, repair: bool = True) -> WebhookHealth:
        """Each expected scope's state; `repair` reactivates an inactive hook of ours. Raises PlatformApiError
        when the hooks cannot be listed."""
        observed = [
            ObservedHook(
                str(hook.get("id")),
                str(hook.get("scope") or ""),
                HookState.ACTIVE if hook.get("is_active") is True else HookState.INACTIVE,
            )
            for hook in self._all()
            if urlsplit(str(hook.get("destination") or "")).path.rstrip("/").endswith(BIGCOMMERCE_DELIVERY_PATH)
        ]

        def reactivate(hook: ObservedHook) -> None:
            url = f"{self._root}/v3/hooks/{quote(hook.id, safe='')}"
            send_json(self._session, "PUT", url, {"is_active": True}, self._headers)

        return assess(self.platform, store_id, EXPECTED_SCOPES, observed, covers, reactivate if repair else None)
