"""Pushing a store's new webhook secret to BigCommerce: every hook carrying our `X-Commerce-Sync-Token`
header gets the new token, its other headers kept (`PUT /v3/hooks/{id}` with `headers`, `X-Auth-Token`).
Hooks whose token is neither the current nor the new secret belong to something else (another
deployment) and are left alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from commerce_sync.platforms.bigcommerce.api import auth_headers
from commerce_sync.platforms.bigcommerce.models import TOKEN_HEADER
from commerce_sync.platforms.http import get_json
from commerce_sync.platforms.secret_push import MAX_PAGES, PAGE_SIZE, same_secret, send_json


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
