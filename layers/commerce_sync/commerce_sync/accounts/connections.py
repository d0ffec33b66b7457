"""Connecting a store to a Mailchimp account, by API key (the operator CLI) or OAuth token (the connect
route): the credentials are proved against the account first, then kept in the account's secret, the store
is pointed at it, and a paused account's parked events are put back on the bus (docs/mailchimp-accounts.md).

One secret per account (`<MAILCHIMP_ACCOUNT_SECRET_PREFIX><account id>`), shared by the stores of that
account: a new key or token for the account replaces the old one for all of them at once, and the account's
connection budget and health are keyed by the same account id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from commerce_sync.accounts.health import AccountHealthBook
from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.credentials import MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError, MailchimpNotFound
from commerce_sync.mailchimp.models import McStore

if TYPE_CHECKING:
    from commerce_sync.aws.bus_entries import BusMessagePublisher

ACCOUNT_SECRET_TAG = "mailchimp_account"
REPUBLISH_BATCH = 10


class AccountCheckFailed(Exception):
    """The credentials or the account cannot serve the store (the message names why; never a credential).
    `transient`: Mailchimp could not be asked now, asking again later may do."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class IdentifiedAccount:
    account_id: str
    account_name: str


def identify_account(client: MailchimpClient, list_id: str | None = None) -> IdentifiedAccount:
    """`GET /ping` and `GET /` with the credentials (whose account they are), and, given a `list_id`, that the
    audience is in that account: a key or token of another account than the store's audience is refused."""
    try:
        client.ping()
        root = client.account()
    except MailchimpAuthError as error:
        raise AccountCheckFailed(f"Mailchimp refused the credentials ({error.status} {error.title})") from error
    except MailchimpError as error:
        raise AccountCheckFailed(
            f"Mailchimp could not be asked whose account this is ({error.status} {error.title})",
            transient=error.status == 0 or error.retryable,
        ) from error
    account_id = str(root.get("account_id") or "")
    if not account_id:
        raise AccountCheckFailed("Mailchimp named no account for these credentials (GET / without account_id)")
    account = IdentifiedAccount(account_id, str(root.get("account_name") or account_id))
    if list_id:
        try:
            client.get_list(list_id)
        except MailchimpNotFound as error:
            raise AccountCheckFailed(
                f"audience {list_id} is not in Mailchimp account {account.account_name} ({account_id}), the account "
                "these credentials belong to: give the credentials of the account that holds the audience"
            ) from error
        except MailchimpError as error:
            raise AccountCheckFailed(
                f"the audience could not be checked ({error.status} {error.title})", transient=error.retryable
            ) from error
    return account


def account_secret_name(prefix: str, account_id: str) -> str:
    return f"{prefix}{account_id}"


def save_account_secret(secretsmanager: Any, prefix: str, account_id: str, credentials: MailchimpCredentials) -> str:
    """Creates or updates the account's secret; returns its ARN."""
    name = account_secret_name(prefix, account_id)
    body = json.dumps(credentials.secret_value(account_id))
    try:
        return str(
            secretsmanager.create_secret(
                Name=name,
                SecretString=body,
                Description=f"commerce-sync: Mailchimp credentials of account {account_id}",
                Tags=[{"Key": "kind", "Value": ACCOUNT_SECRET_TAG}],
            )["ARN"]
        )
    except secretsmanager.exceptions.ResourceExistsException:
        return str(secretsmanager.put_secret_value(SecretId=name, SecretString=body)["ARN"])


def refuse_other_account(store: Store, account: IdentifiedAccount) -> None:
    """A store that writes to one account is not silently moved to another: its carts, orders and customers
    are there. Moving is registering the store anew (`add-store --replace`)."""
    if store.mailchimp_secret_id and store.mailchimp_account_id and store.mailchimp_account_id != account.account_id:
        raise AccountCheckFailed(
            f"store {store.store_id} writes to Mailchimp account {store.mailchimp_account_id}; these credentials are "
            f"for account {account.account_id} ({account.account_name}). To move the store to another account, "
            "register it anew with add-store --replace"
        )


def point_store(registry: StoreRegistry, store: Store, secret_id: str | None, account_id: str | None) -> Store:
    """The store with its account fields set (None, None: the deployment's default account), saved."""
    updated = store.model_copy(update={"mailchimp_secret_id": secret_id, "mailchimp_account_id": account_id})
    if (store.mailchimp_secret_id, store.mailchimp_account_id) != (secret_id, account_id):
        registry.update(updated, ["mailchimp_secret_id", "mailchimp_account_id"])
    return updated


def mailchimp_store_of(store: Store) -> McStore:
    """The Mailchimp store a registered store is (created where its account lacks it)."""
    return McStore(
        id=store.store_id,
        list_id=store.list_id,
        name=store.name,
        currency_code=store.currency_code,
        platform=store.platform,
        domain=store.domain,
    )


def ensure_mailchimp_store(client: MailchimpClient, store: Store) -> dict[str, Any]:
    """Creates the store in the account when it lacks it; a store bound to another audience there is refused."""
    try:
        return client.ensure_store(mailchimp_store_of(store))
    except ValueError as error:
        raise AccountCheckFailed(str(error)) from error
    except MailchimpError as error:
        raise AccountCheckFailed(
            f"Mailchimp did not take the store ({error.status} {error.title})", transient=error.retryable
        ) from error


def resume_account(health: AccountHealthBook, publisher: BusMessagePublisher, account: str) -> int:
    """Clears the account's pause, then puts its parked events back on the bus, oldest first; returns how
    many. The pause is cleared first, so an event parked meanwhile sees it gone and retries by itself."""
    health.clear(account)
    resumed = 0
    batch = []
    for parked in health.parked(account):
        batch.append(parked)
        if len(batch) == REPUBLISH_BATCH:
            resumed += _republish(health, publisher, account, batch)
            batch = []
    if batch:
        resumed += _republish(health, publisher, account, batch)
    if resumed:
        logger.info("parked events put back on the bus", mailchimp_account=account, events=resumed)
    return resumed


def _republish(health: AccountHealthBook, publisher: BusMessagePublisher, account: str, batch: list[Any]) -> int:
    publisher.republish([parked.message for parked in batch])
    for parked in batch:
        health.unpark(account, parked.sort_key)
    return len(batch)
