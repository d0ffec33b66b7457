"""Pushing a store's new webhook secret to the platform, for the platforms whose API allows it.

- WooCommerce: every webhook of the site that delivers to commerce-sync (`delivery_url` ending in
  `/webhooks/woocommerce`) gets the new `secret` (`PUT /wp-json/wc/v3/webhooks/{id}`, REST API key as
  HTTP Basic). WooCommerce never returns a webhook's secret, so the push cannot be read back.
- BigCommerce: every hook carrying our `X-Commerce-Sync-Token` header gets the new token, its other
  headers kept (`PUT /v3/hooks/{id}` with `headers`, `X-Auth-Token`). Hooks whose token is neither the
  current nor the new secret belong to something else (another deployment) and are left alone.

A push is "set to X", so repeating it (Secrets Manager may run setSecret again) changes nothing. When
one hook fails, the hooks already changed are set back to the current secret before the error is
raised, so a failed rotation leaves the platform signing with the secret that is still AWSCURRENT.
Nothing here logs or raises a secret value, nor a request body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import HttpPolicy, PlatformApiError, get_json, platform_session

BIGCOMMERCE_TOKEN_HEADER = "X-Commerce-Sync-Token"
BIGCOMMERCE_API_ROOT = "https://api.bigcommerce.com/stores"
WOOCOMMERCE_API_PATH = "/wp-json/wc/v3"
WOOCOMMERCE_DELIVERY_PATH = "/webhooks/woocommerce"
PUSHABLE_PLATFORMS = frozenset({"woocommerce", "bigcommerce"})
PAGE_SIZE = 100
MAX_PAGES = 50
# The rotation function has a minute; a platform that hangs must fail the step, not time it out.
ROTATION_HTTP_POLICY = HttpPolicy(connect_timeout=3.05, read_timeout=10.0, retries=2, max_wait=5.0)


class HookPushError(Exception):
    """The platform did not take the new secret (the message names hooks and statuses, never a secret)."""


@dataclass(frozen=True)
class PushResult:
    platform: str
    updated: int
    skipped: int = 0


def _same(left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return False
    return hmac.compare_digest(hashlib.sha256(left.encode()).digest(), hashlib.sha256(right.encode()).digest())


def _send_json(session: requests.Session, method: str, url: str, body: Any, headers: Mapping[str, str]) -> Any:
    """A write to the platform (not retried: platform_http retries GETs only). Errors name the method,
    the path and the platform's own message."""
    where = f"{method} {urlsplit(url).path}"
    try:
        response = session.request(method, url, json=body, headers=dict(headers))
    except requests.exceptions.RequestException as error:
        raise PlatformApiError(0, f"{where}: no answer ({type(error).__name__})") from error
    if response.status_code >= 400:
        message = response.reason or "HTTP error"
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            message = str(problem.get("message") or problem.get("title") or message)[:200]
        raise PlatformApiError(response.status_code, f"{where}: {message}")
    return response.json() if response.content else None


class PlatformWebhooks(Protocol):
    platform: str

    def ours(self, current: str | None, new: str) -> tuple[list[dict[str, Any]], int]: ...

    def set_secret(self, hook: dict[str, Any], secret: str) -> None: ...

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None: ...


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
        _send_json(self._session, "PUT", f"{self._root}/webhooks/{int(hook['id'])}", {"secret": secret}, {})

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        return None  # WooCommerce never returns a webhook's secret


class BigCommerceWebhooks:
    platform = "bigcommerce"

    def __init__(self, api_root: str, access_token: str, session: requests.Session) -> None:
        self._root = api_root.rstrip("/")
        self._session = session
        self._headers = {"X-Auth-Token": access_token}

    @staticmethod
    def _token(hook: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(the header's name as the hook spells it, its value)."""
        headers = hook.get("headers") or {}
        for name, value in headers.items() if isinstance(headers, Mapping) else ():
            if str(name).lower() == BIGCOMMERCE_TOKEN_HEADER.lower():
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
            if name is not None and (_same(value, current) or _same(value, new)):
                hooks.append(hook)
            else:
                skipped += 1
        return hooks, skipped

    def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        name, _ = self._token(hook)
        headers = {str(key): str(value) for key, value in (hook.get("headers") or {}).items() if key != name}
        headers[BIGCOMMERCE_TOKEN_HEADER] = secret
        url = f"{self._root}/v3/hooks/{quote(str(hook['id']), safe='')}"
        _send_json(self._session, "PUT", url, {"headers": headers}, self._headers)

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        url = f"{self._root}/v3/hooks/{quote(str(hook['id']), safe='')}"
        answer = get_json(self._session, url, headers=self._headers)
        fresh = answer.get("data") if isinstance(answer, dict) and "data" in answer else answer
        _, value = self._token(fresh if isinstance(fresh, dict) else {})
        return _same(value, secret)


def woocommerce_api_root(store: Store) -> str:
    """`platform_api_url` when it is the REST root (`…/wp-json/wc/v3`), else the site URL (the URL given,
    or the store's identity) plus `/wp-json/wc/v3`."""
    base = (store.platform_api_url or store.identity).rstrip("/")
    return base if "/wp-json/" in base + "/" else base + WOOCOMMERCE_API_PATH


def bigcommerce_api_root(store: Store) -> str:
    return (store.platform_api_url or f"{BIGCOMMERCE_API_ROOT}/{store.identity}").rstrip("/")


class PlatformHooks:
    """Finds a store's webhooks on its platform and sets their secret."""

    def __init__(self, policy: HttpPolicy = ROTATION_HTTP_POLICY) -> None:
        self._policy = policy

    def webhooks(self, store: Store, credentials: Mapping[str, Any]) -> PlatformWebhooks:
        session = platform_session(self._policy)
        if store.platform == "woocommerce":
            key, secret = credentials.get("consumer_key"), credentials.get("consumer_secret")
            if not (key and secret):
                raise HookPushError(
                    f"store {store.store_id} has no WooCommerce REST API key "
                    "(platform_api_credentials.consumer_key and consumer_secret), so its webhooks cannot be updated"
                )
            return WooCommerceWebhooks(woocommerce_api_root(store), str(key), str(secret), session)
        if store.platform == "bigcommerce":
            token = credentials.get("access_token")
            if not token:
                raise HookPushError(
                    f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token), "
                    "so its hooks cannot be updated"
                )
            return BigCommerceWebhooks(bigcommerce_api_root(store), str(token), session)
        raise HookPushError(f"{store.platform} offers no API to set a webhook secret")

    def push(self, store: Store, credentials: Mapping[str, Any], new: str, current: str | None) -> PushResult:
        """Sets `new` on every webhook of ours; on a failure, sets `current` back on those already changed."""
        api = self.webhooks(store, credentials)
        try:
            hooks, skipped = api.ours(current, new)
        except PlatformApiError as error:
            raise HookPushError(
                f"could not list the {api.platform} webhooks of store {store.store_id}: {error}"
            ) from error
        changed: list[dict[str, Any]] = []
        for hook in hooks:
            try:
                api.set_secret(hook, new)
            except PlatformApiError as error:
                restored = self._restore(api, changed, current)
                raise HookPushError(
                    f"{api.platform} webhook {hook.get('id')} of store {store.store_id} did not take the new secret "
                    f"({error}); {restored} of {len(changed)} already updated set back to the current secret"
                ) from error
            changed.append(hook)
        logger.info(
            "webhook secret pushed to the platform", platform=api.platform, hooks_updated=len(changed), skipped=skipped
        )
        return PushResult(platform=api.platform, updated=len(changed), skipped=skipped)

    def verify(self, store: Store, credentials: Mapping[str, Any], new: str, current: str | None) -> bool | None:
        """True when every webhook of ours holds `new`; None when the platform cannot tell."""
        api = self.webhooks(store, credentials)
        hooks, _ = api.ours(current, new)
        answers = [api.holds(hook, new) for hook in hooks]
        if not hooks or any(answer is None for answer in answers):
            return None
        return all(answers)

    @staticmethod
    def _restore(api: PlatformWebhooks, changed: list[dict[str, Any]], current: str | None) -> int:
        if not current:
            return 0
        restored = 0
        for hook in changed:
            try:
                api.set_secret(hook, current)
                restored += 1
            except PlatformApiError as error:
                logger.error(
                    "could not set a webhook back to the current secret", hook_id=hook.get("id"), error=str(error)
                )
        return restored
