"""The operator's side of Mailchimp accounts (docs/mailchimp-accounts.md): connecting a store's own account
with an API key (at add-store, or later with `stores set-mailchimp-key`), resuming a paused account's
parked events, and each account's health for `status`. The rules live in commerce_sync.accounts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import boto3
from commerce_sync.accounts.budget import AccountBudget
from commerce_sync.accounts.connections import (
    AccountCheckFailed,
    IdentifiedAccount,
    ensure_mailchimp_store,
    identify_account,
    point_store,
    refuse_other_account,
    resume_account,
    save_account_secret,
)
from commerce_sync.accounts.health import AccountHealthBook
from commerce_sync.accounts.oauth import KIND_OAUTH_APP, OAuthApp, OAuthRefused
from commerce_sync.aws.event_bus import EventPublisher
from commerce_sync.aws.secret_store import SecretFormatError, SecretReader
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import DEFAULT_MAILCHIMP_ACCOUNT, Store, StoreRegistry
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.credentials import CredentialsError, MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpError

from operator_cli.checks import CHECK_READ_TIMEOUT, CHECK_RETRY


@dataclass(frozen=True)
class AccountChoice:
    """Where a store's Mailchimp credentials go: its account's own secret, or (the same account as the
    deployment's default key) none, so the store uses the default."""

    account: IdentifiedAccount
    uses_default: bool


def checked_client(settings: Settings, credentials: MailchimpCredentials) -> MailchimpClient:
    return credentials.client(settings.mailchimp_api_url, retry=CHECK_RETRY, read_timeout=CHECK_READ_TIMEOUT)


def store_client(settings: Settings, store: Store | None) -> MailchimpClient:
    """The client of the store's account (the default account without a store), credentials read afresh."""
    secret_id = (store.mailchimp_secret_id if store else None) or settings.mailchimp_secret_arn
    value = SecretReader(max_age_seconds=0).current(secret_id, refresh=True)
    return MailchimpCredentials.from_secret(secret_id, value).client(settings.mailchimp_api_url)


def default_account_id(settings: Settings) -> str | None:
    """The account of the deployment's default key; None when it has none or it cannot be used."""
    try:
        root = store_client(settings, None).account()
    except (SecretFormatError, CredentialsError, ValueError, MailchimpError):
        return None
    return str(root.get("account_id") or "") or None


def choose_account(
    settings: Settings, credentials: MailchimpCredentials, list_id: str, registered: Store | None
) -> AccountChoice:
    """Proves the credentials and that the audience is in their account; refuses an account other than the
    one a registered store writes to (`registered`: None for a store registered anew)."""
    account = identify_account(checked_client(settings, credentials), list_id)
    if registered is not None:
        refuse_other_account(registered, account)
    return AccountChoice(account, uses_default=default_account_id(settings) == account.account_id)


def keep_credentials(settings: Settings, credentials: MailchimpCredentials, choice: AccountChoice) -> str | None:
    """Saves the credentials in the account's secret (nothing for the default account); returns its ARN."""
    if choice.uses_default:
        return None
    return save_account_secret(
        boto3.client("secretsmanager"),
        settings.mailchimp_account_secret_prefix,
        choice.account.account_id,
        credentials,
    )


def set_mailchimp_key(settings: Settings, store_id: str, credentials: MailchimpCredentials) -> tuple[Store, int]:
    """Connects a registered store's own account with an API key (a new key for its account, or its first; the
    Mailchimp store is made there when the account lacks it): returns the store and how many parked events went
    back on the bus."""
    registry = StoreRegistry(settings.stores_table)
    store = registry.get(store_id)
    if store is None:
        raise AccountCheckFailed(f"store {store_id} is not registered (register it with add-store)")
    choice = choose_account(settings, credentials, store.list_id, store)
    # A store moving from the default account to its own finds no Mailchimp store there yet; every write would
    # then be refused (404) until one is made. Made before anything is saved, as the OAuth connection does.
    ensure_mailchimp_store(checked_client(settings, credentials), store)
    secret_arn = keep_credentials(settings, credentials, choice)
    account_id = None if choice.uses_default else choice.account.account_id
    store = point_store(registry, store, secret_arn, account_id)
    return store, resume(settings, store.mailchimp_account)


def resume(settings: Settings, account: str) -> int:
    """Clears the account's pause and puts its parked events back on the bus; how many went back."""
    return resume_account(health_book(settings), EventPublisher(settings.event_bus_name), account)


def save_oauth_app(settings: Settings, app: OAuthApp) -> None:
    """Writes the OAuth app's client id and secret into the stack's app secret."""
    if not settings.mailchimp_oauth_secret_arn:
        raise OAuthRefused("MAILCHIMP_OAUTH_SECRET_ARN is unset (use --stack, or the local runner's --env-file)")
    value = {"kind": KIND_OAUTH_APP, "client_id": app.client_id, "client_secret": app.client_secret}
    boto3.client("secretsmanager").put_secret_value(
        SecretId=settings.mailchimp_oauth_secret_arn, SecretString=json.dumps(value)
    )


def connect_link(
    settings: Settings, store_id: str, valid_days: float, api_url: str | None, now: float | None = None
) -> str:
    """The link a merchant opens to connect their account to `store_id`: a signed invite for that store only, valid
    `valid_days` from `now` (default: this moment)."""
    if StoreRegistry(settings.stores_table).get(store_id) is None:
        raise AccountCheckFailed(f"store {store_id} is not registered (register it with add-store)")
    base = api_url or os.environ.get("COMMERCE_SYNC_API_URL")
    if not base:
        raise AccountCheckFailed("the API's URL is unknown: give --api-url (the stack output ApiUrl)")
    if not settings.mailchimp_oauth_secret_arn:
        raise OAuthRefused("MAILCHIMP_OAUTH_SECRET_ARN is unset (use --stack, or the local runner's --env-file)")
    app = OAuthApp.from_secret(SecretReader(max_age_seconds=0).current(settings.mailchimp_oauth_secret_arn, True))
    invite = app.sign("invite", store_id, valid_days * 86400, now=now)
    return f"{base.rstrip('/')}/connect/mailchimp/{quote(store_id, safe='')}?{urlencode({'invite': invite})}"


def health_book(settings: Settings) -> AccountHealthBook:
    return AccountHealthBook(boto3.resource("dynamodb").Table(settings.sync_state_table))


@dataclass(frozen=True)
class AccountStatus:
    account: str
    stores: list[str]
    status: str
    reason: str | None
    since: str | None
    parked: int
    connections_in_use: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "stores": self.stores,
            "status": self.status,
            "reason": self.reason,
            "since": self.since,
            "parked_events": self.parked,
            "connections_in_use": self.connections_in_use,
        }


def account_statuses(settings: Settings) -> list[AccountStatus]:
    """Every Mailchimp account the registered stores write to, with its health."""
    table = boto3.resource("dynamodb").Table(settings.sync_state_table)
    book = AccountHealthBook(table)
    budget = AccountBudget(table, settings.mailchimp_connections_per_account, settings.mailchimp_bulk_connections)
    stores_of: dict[str, list[str]] = {}
    for store in StoreRegistry(settings.stores_table).list():
        stores_of.setdefault(store.mailchimp_account, []).append(store.store_id)
    statuses = []
    for account in sorted(stores_of, key=lambda name: (name != DEFAULT_MAILCHIMP_ACCOUNT, name)):
        health = book.health(account)
        statuses.append(
            AccountStatus(
                account=account,
                stores=stores_of[account],
                status=health.status,
                reason=health.reason,
                since=health.since,
                parked=book.parked_count(account),
                connections_in_use=budget.in_use(account),
            )
        )
    return statuses
