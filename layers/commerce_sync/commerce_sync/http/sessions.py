"""One way to set up a requests session for an API, shared by the Mailchimp client and the platforms' clients.

- Proxy and CA settings are read from the environment once, here: requests re-reads them from os.environ
  on every call otherwise, which was most of a warm Mailchimp call's cost (bench/bench_cart_events.py).
- Retries are urllib3 Retry (exponential backoff with jitter, the server's Retry-After honoured); each
  caller brings its own Retry class for what only it knows (Mailchimp's JSON 403 is final, BigCommerce's
  rate-limit header, a cap on how long a webhook may wait).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "commerce-sync/0.1"
SessionT = TypeVar("SessionT", bound=requests.Session)
RetryT = TypeVar("RetryT", bound=Retry)


def backoff_retry(
    retry_class: type[RetryT],
    attempts: int,
    statuses: Collection[int],
    backoff_factor: float,
    backoff_jitter: float,
    backoff_max: float,
    methods: Collection[str] | None = None,
    **extra: Any,
) -> RetryT:
    """Up to `attempts` retries on connection and read errors and on `statuses`, for `methods` (None: every
    method), waiting exponentially with jitter or as long as the server asks; the last answer is returned
    rather than raised, so the caller turns it into its own error."""
    return retry_class(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=frozenset(methods) if methods is not None else None,
        status_forcelist=frozenset(statuses),
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        **extra,
    )


def api_session(
    session: SessionT,
    retry: Retry,
    max_connections: int,
    *,
    block: bool = False,
    proxies_for: str | None = None,
) -> SessionT:
    """`session` set up for a JSON API: default headers, `retry` on a pool of `max_connections` (`block`:
    wait for a free connection rather than open more), proxies and CA bundle read once (`proxies_for`: a URL
    whose proxy settings apply; none means the environment's are read per request, as requests does)."""
    session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
    if proxies_for is not None:
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(proxies_for))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            session.verify = ca_bundle
    # A few hosts kept pooled (a shared platform session may serve several stores).
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=max_connections, pool_block=block)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
