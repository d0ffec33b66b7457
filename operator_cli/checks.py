"""What registering a store checks before anything is saved, with one cheap call each: the platform API
credentials (through the platform's API module, `connection_for(platform).check`) and, for a store that
Mailchimp is to get, the Mailchimp key and audience (`GET /lists/{list_id}`).

A refusal is a `CheckFailed` in plain words ("the access token was refused by my-shop.myshopify.com: 401");
no message holds a credential, and nothing here logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from commerce_sync.aws.secret_store import SecretFormatError, SecretReader
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store
from commerce_sync.mailchimp.client import RetryPolicy
from commerce_sync.mailchimp.credentials import CredentialsError, MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpError, MailchimpNotFound
from commerce_sync.platforms.connection import CHECK_HTTP_POLICY, CredentialsRefused, PlatformApiUrlError
from commerce_sync.platforms.http import platform_session
from commerce_sync.platforms.registry import connection_for

# The operator waits: one retry, short timeouts.
CHECK_RETRY = RetryPolicy(total=1, backoff_factor=0.2, backoff_jitter=0.0, backoff_max=1.0)
CHECK_READ_TIMEOUT = 10.0


class CheckFailed(Exception):
    """A check refused what was given, or could not be made (`transient`: asking again later may do)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def check_platform_credentials(store: Store, credentials: Mapping[str, str]) -> None:
    """One read of the store's API with `credentials` (the store as it will be saved: platform, address,
    version)."""
    connection = connection_for(store.platform)
    if connection is None:
        raise CheckFailed(f"a {store.platform} store has no platform API to check credentials with")
    try:
        connection.check(store, credentials, platform_session(CHECK_HTTP_POLICY))
    except CredentialsRefused as refusal:
        raise CheckFailed(str(refusal), transient=refusal.transient) from refusal
    except PlatformApiUrlError as error:
        raise CheckFailed(str(error)) from error


def check_mailchimp_audience(settings: Settings, list_id: str, secret_id: str | None = None) -> None:
    """`GET /lists/{list_id}` with the Mailchimp credentials of `secret_id` (the store's account; the
    deployment's default key without one): proves them, their datacenter and the audience in one call."""
    secret = secret_id or settings.mailchimp_secret_arn
    try:
        value = SecretReader(max_age_seconds=0).current(secret, refresh=True)
        client = MailchimpCredentials.from_secret(secret, value).client(
            settings.mailchimp_api_url, retry=CHECK_RETRY, read_timeout=CHECK_READ_TIMEOUT
        )
    except (SecretFormatError, CredentialsError, ValueError) as error:
        raise CheckFailed(f"the Mailchimp API key cannot be used: {error}") from error
    host = urlsplit(client.base_url or "").netloc
    try:
        client.get_list(list_id)
    except MailchimpNotFound as error:
        raise CheckFailed(
            f"audience {list_id} was not found in the Mailchimp account: 404 (check --list-id)"
        ) from error
    except MailchimpError as error:
        if error.status in (401, 403):
            raise CheckFailed(
                f"the Mailchimp API key was refused by {host}: {error.status} "
                "(a wrong or revoked key, or a key of another datacenter than its -usN suffix says)"
            ) from error
        if error.status == 0:
            raise CheckFailed(
                f"Mailchimp could not be reached at {host} ({error.title}): check the key's datacenter suffix "
                "(-usN) and MAILCHIMP_API_URL",
                transient=True,
            ) from error
        raise CheckFailed(
            f"Mailchimp answered {error.status} at {host}, so the key and audience could not be checked",
            transient=error.retryable,
        ) from error
