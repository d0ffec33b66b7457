"""What registering a store needs from a platform's API module (`platforms/<name>/api.py`): which forms of
its address it understands, which credentials it takes, and the one cheap call that proves them. Each API
module describes itself with a `PlatformConnection`; `platforms.registry.connection_for` finds it.

Messages here name hosts, paths and statuses, never a credential, and never a URL's user name, password
or query string (a WooCommerce key can be written into one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import HttpPolicy, PlatformApiError, PlatformAuthError, PlatformNotFound, fetch_json

# An operator waits for the check: a short timeout, one retry, no long throttle waits.
CHECK_HTTP_POLICY = HttpPolicy(connect_timeout=3.05, read_timeout=10.0, retries=1, backoff_factor=0.2, max_wait=5.0)


class PlatformApiUrlError(ValueError):
    """A platform API URL that cannot be understood; the message says which forms are accepted."""


class CredentialsRefused(Exception):
    """The platform refused the credentials, or could not be asked (`transient`: no answer, throttled or
    failing, so asking again later may do). The message is plain words for the operator and never holds a
    credential."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ApiAddress:
    """A platform API URL as the registry keeps it (the platform's root, without API paths), and the API
    version the URL named, if any."""

    url: str
    version: str | None = None


@dataclass(frozen=True)
class CredentialField:
    name: str  # the key in the secret's `platform_api_credentials`
    label: str  # what a prompt asks for


@dataclass(frozen=True)
class PlatformConnection:
    platform: str
    fields: tuple[CredentialField, ...]
    # The registry's form of a platform API URL; PlatformApiUrlError when it cannot be understood.
    parse_url: Callable[[str], ApiAddress]
    # One cheap read with the credentials; CredentialsRefused when they do not work.
    check: Callable[[Store, Mapping[str, str], requests.Session], None]
    # A valid API version (the value itself); None when the platform's API takes no version setting.
    parse_version: Callable[[str], str] | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.fields)


def split_api_url(url: str, accepted: str) -> tuple[str, str]:
    """`(scheme://host[:port], path without trailing slashes)` of an http(s) URL. `accepted` names the forms
    the platform takes, for the message of a URL that is refused."""
    value = url.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- reading it is what checks the port
    except ValueError as error:
        raise PlatformApiUrlError(f"the platform API URL cannot be read ({error}); give {accepted}") from error
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        # Not echoed: what was typed where a URL belongs may be a credential.
        raise PlatformApiUrlError(f"the platform API URL is not an http(s) URL with a host; give {accepted}")
    if parts.username is not None or parts.password is not None:
        # Not echoed: the user part may be a credential.
        raise PlatformApiUrlError(
            "the platform API URL holds a user name or password; credentials belong in the store's secret"
        )
    if parts.query or parts.fragment:
        raise PlatformApiUrlError(
            "the platform API URL has a query string or fragment (not shown: it may hold a credential); "
            f"give {accepted}"
        )
    return f"{parts.scheme.lower()}://{parts.netloc}", parts.path.rstrip("/")


def credential(credentials: Mapping[str, Any], name: str) -> str | None:
    """One value of a store's `platform_api_credentials`, or None when it is missing or empty."""
    value = credentials.get(name)
    return str(value) if value else None


def check_read(
    refused: str,
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> None:
    """One GET of `url` with the credentials to check (`headers` or `auth`); a failure becomes
    CredentialsRefused in plain words. `refused` is the subject of the sentence, e.g. "the access token was"."""
    parts = urlsplit(url)
    host = parts.netloc
    try:
        fetch_json(session, url, params, headers, auth)
    except PlatformAuthError as error:
        raise CredentialsRefused(f"{refused} refused by {host}: {error.status}") from error
    except PlatformNotFound as error:
        raise CredentialsRefused(
            f"{host} answered 404 to GET {parts.path}: the platform API URL does not lead to the store's API"
        ) from error
    except PlatformApiError as error:
        if error.status == 0:
            raise CredentialsRefused(f"{host} could not be reached ({error.message})", transient=True) from error
        raise CredentialsRefused(
            f"{host} answered {error.status} to GET {parts.path}, so the credentials could not be checked",
            transient=error.retryable,
        ) from error
