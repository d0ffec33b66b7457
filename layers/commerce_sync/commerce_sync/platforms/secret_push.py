"""What a platform's webhook-secret push implements (list our webhooks, set their secret, tell whether they
hold one), the write helper and the errors. Each platform whose API allows it implements it in its own
`hooks` module; `platforms.hooks.PlatformHooks` picks one for a store. Nothing here logs or raises a secret
value, nor a request body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from commerce_sync.platforms.http import HttpPolicy, PlatformApiError

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


def same_secret(left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return False
    return hmac.compare_digest(hashlib.sha256(left.encode()).digest(), hashlib.sha256(right.encode()).digest())


def send_json(session: requests.Session, method: str, url: str, body: Any, headers: Mapping[str, str]) -> Any:
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
            message = str(problem.get("message") or problem.get("title") or _errors(problem.get("errors")) or message)
        raise PlatformApiError(response.status_code, f"{where}: {message[:200]}")
    return response.json() if response.content else None


def _errors(errors: Any) -> str:
    """Shopify's refusals: `{"errors": {"address": ["for this topic has already been taken"]}}` or a string."""
    if isinstance(errors, dict):
        return "; ".join(
            f"{field}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
            for field, value in errors.items()
        )
    return str(errors) if errors else ""


class PlatformWebhooks(Protocol):
    platform: str

    def ours(self, current: str | None, new: str) -> tuple[list[dict[str, Any]], int]: ...

    def set_secret(self, hook: dict[str, Any], secret: str) -> None: ...

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None: ...
