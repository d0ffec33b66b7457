"""HTTP sessions for the platforms' own APIs: webhook reads (BigCommerce fetches by id), catalog pages,
webhook-secret pushes.

- Explicit connect and read timeouts on every request (requests has no default: a hung platform
  would otherwise hold a Lambda until it times out).
- urllib3 Retry, for GET only: exponential backoff with jitter on 429, 500, 502, 503, 504 and on
  connect and read errors. Reads are safe to repeat; writes to a platform are not retried here.
- The wait the server asks for is honoured: `Retry-After` (seconds or an HTTP date) and, on a 429,
  BigCommerce's `X-Rate-Limit-Time-Reset-Ms` (see `PlatformRetry`).
- Errors become `PlatformApiError(status, message)` (`PlatformNotFound` for 404); status 0 means no
  answer arrived. Messages name the method and the path only: never a header (credentials) and never
  the query string (it can hold an e-mail address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from commerce_sync.http.sessions import api_session, backoff_retry

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 10.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_RESET_HEADER = "X-Rate-Limit-Time-Reset-Ms"


class PlatformApiError(Exception):
    """An error answer from a platform API, or none at all (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status} {message}" if status else message)

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later: throttling, server faults, no answer."""
        return self.status == 0 or self.status in RETRYABLE_STATUSES


class PlatformNotFound(PlatformApiError):
    """404: the resource does not exist (any more)."""


class PlatformAuthError(PlatformApiError):
    """401 or 403: the platform refused the store's credentials."""


class StoreApiUnavailable(Exception):
    """The store's own API could not give us what a webhook needs right now (throttled, failing, not
    answering, or refusing our credentials). The webhooks handler answers 503, so the platform
    delivers the webhook again later; the message never holds a credential."""


class PlatformRetry(Retry):
    """urllib3 Retry that also understands BigCommerce's rate-limit header and will not wait too long.

    Custom because:
    - BigCommerce answers a 429 with `X-Rate-Limit-Time-Reset-Ms` (milliseconds until its quota window
      resets) rather than `Retry-After`, which is all urllib3 reads. Only a 429's header counts: the
      header is on every BigCommerce answer, and on a 500 it says nothing about when to try again.
    - A caller with a deadline (a webhook Lambda has 10 s) must not sleep through it: when the server
      asks for a longer wait than `max_wait`, this gives up at once and the caller gets the 429 (with
      `raise_on_status=False`), so the platform can deliver again later instead.
    """

    def __init__(self, *args: Any, max_wait: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kw: Any) -> PlatformRetry:
        kw.setdefault("max_wait", self.max_wait)
        return super().new(**kw)

    def parse_retry_after(self, retry_after: str) -> float:
        # Shopify sends fractional seconds ("2.0"), which urllib3 only accepts as whole seconds or a date.
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            return super().parse_retry_after(retry_after)

    def get_retry_after(self, response: Any) -> float | None:
        retry_after = super().get_retry_after(response)
        if retry_after is not None:
            return retry_after
        reset_ms = response.headers.get(RATE_LIMIT_RESET_HEADER) if response.status == 429 else None
        if reset_ms is None:
            return None
        try:
            return max(float(reset_ms), 0.0) / 1000.0
        except ValueError:
            return None

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[no-untyped-def]
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_wait:
                reason = ResponseError(f"the server asked to wait {wait:.1f}s, longer than {self.max_wait:.1f}s")
                raise MaxRetryError(_pool, url, reason)
        return super().increment(method, url, response, error, _pool, _stacktrace)


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retries for one platform API caller (the defaults suit background work; the
    webhook receiver, which must answer within seconds, passes tighter ones)."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retries: int = 3
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.25
    backoff_max: float = 8.0
    max_wait: float = 10.0

    def retry(self) -> PlatformRetry:
        return backoff_retry(
            PlatformRetry,
            self.retries,
            RETRYABLE_STATUSES,
            self.backoff_factor,
            self.backoff_jitter,
            self.backoff_max,
            methods={"GET"},
            max_wait=self.max_wait,
        )


# Background work (the catalog sync): generous timeouts, more retries, a wait of up to a minute if asked.
CATALOG_HTTP_POLICY = HttpPolicy(
    connect_timeout=3.05, read_timeout=30.0, retries=6, backoff_factor=0.5, backoff_max=30.0, max_wait=60.0
)
# A webhook Lambda has 10 s for up to three calls: short timeouts, two retries, and no waiting out a
# throttle longer than 3 s (the platform delivers again later anyway).
WEBHOOK_HTTP_POLICY = HttpPolicy(
    connect_timeout=3.05, read_timeout=4.0, retries=2, backoff_factor=0.25, backoff_max=2.0, max_wait=3.0
)


class PlatformSession(requests.Session):
    """A requests Session whose requests always carry the policy's (connect, read) timeout."""

    def __init__(self, policy: HttpPolicy) -> None:
        super().__init__()
        self.policy = policy

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", (self.policy.connect_timeout, self.policy.read_timeout))
        return super().request(method, url, *args, **kwargs)


def platform_session(
    policy: HttpPolicy | None = None,
    headers: Mapping[str, str] | None = None,
    max_connections: int = 4,
) -> PlatformSession:
    """A session for one platform API: timeouts, GET retries and the given default headers."""
    policy = policy or HttpPolicy()
    session = api_session(PlatformSession(policy), policy.retry(), max_connections)
    session.headers.update(headers or {})
    return session


def _error_message(response: requests.Response) -> str:
    """The platform's own words when the body is JSON (BigCommerce: `title`/`detail`; WooCommerce:
    `message`; Shopify: `errors`), else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("title", "message", "detail") if body.get(key)]
        if not parts and body.get("errors"):
            parts.append(str(body["errors"])[:200])
        if parts:
            return ": ".join(parts)
    return response.reason or "HTTP error"


def fetch_json(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[Any, Mapping[str, str]]:
    """GET a JSON document and the answer's headers (Shopify and WooCommerce page through headers); None for
    an empty answer. Raises PlatformNotFound, PlatformAuthError or PlatformApiError (0 = no answer, 429 =
    still throttled after the retries). Messages carry the method and the path only, never a header or the
    query string; credentials go per request (`headers`, `auth`), so one pooled session serves every store.
    """
    where = f"GET {urlsplit(url).path}"
    try:
        response = session.get(url, params=params, headers=headers, auth=auth)
    except requests.exceptions.RetryError as error:
        raise PlatformApiError(429, f"{where}: still throttled after retries") from error
    except requests.exceptions.Timeout as error:
        raise PlatformApiError(0, f"{where} timed out after retries") from error
    except requests.exceptions.ConnectionError as error:
        # Read timeouts that outlast the retries arrive as a ConnectionError around urllib3's MaxRetryError.
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, (ReadTimeoutError, ConnectTimeoutError)):
            raise PlatformApiError(0, f"{where} timed out after retries") from error
        raise PlatformApiError(0, f"{where}: connection failed ({type(reason or error).__name__})") from error
    status = response.status_code
    if status >= 400:
        message = f"{where}: {_error_message(response)}"
        if status == 404:
            raise PlatformNotFound(status, message)
        if status in (401, 403):
            raise PlatformAuthError(status, message)
        raise PlatformApiError(status, message)
    if status == 204 or not response.content:
        return None, response.headers
    try:
        return response.json(), response.headers
    except ValueError as error:
        raise PlatformApiError(status, f"{where}: the answer is not JSON") from error


def get_json(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET a JSON document (as `fetch_json`, without the answer's headers)."""
    body, _ = fetch_json(session, url, params, headers)
    return body
