"""`commerce-sync stores list|show|disable|enable|remove`: looking at registered stores, pausing one, removing one
(docs/operator.md).

- A disabled store (`active: false` in the registry) stops syncing: the webhook receiver answers its verified
  deliveries 200 `ignored` (kind `store_disabled`) and publishes nothing, and the nightly catalog sync, the
  reconciliation and the backfill pass it by. Its webhooks stay subscribed, so enabling it resumes syncing
  without touching the platform; what changed meanwhile comes back with the next reconciliation.
- Removing a store deletes its registry item and its own secret (webhook secret, platform API credentials).
  Mailchimp keeps the store's data unless asked to delete it too. The secret of its Mailchimp account is never
  deleted: other stores of that account write with it.

Nothing here prints a secret's value or an e-mail address: a secret is shown by its id and the names of its keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from commerce_sync.aws.secret_store import SecretFormatError, SecretReader
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import DEFAULT_MAILCHIMP_ACCOUNT, Store, StoreRegistry
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.credentials import CredentialsError, MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.mailchimp.ids import store_path
from rich.table import Table

from operator_cli.checks import CHECK_READ_TIMEOUT, CHECK_RETRY
from operator_cli.help_texts import example_options
from operator_cli.mailchimp_accounts import store_client
from operator_cli.stores import list_stores
from operator_cli.terminal import columns, print_table

# What `stores show` counts in the Mailchimp store: one `count=1&fields=total_items` read each.
MAILCHIMP_COUNTED = ("customers", "orders", "products", "carts")


class StoreAdminError(Exception):
    """What the operator must give or do differently (exit code 2); the message says how."""


class MailchimpRefused(Exception):
    """Mailchimp could not be asked, or did not do what was asked; nothing else was changed."""


@dataclass(frozen=True)
class SecretView:
    """The store's secret without its values: whether it exists, its keys, and the names of the platform API
    credentials it holds."""

    secret_id: str
    exists: bool
    keys: list[str] = field(default_factory=list)
    credential_fields: list[str] = field(default_factory=list)
    # Why it could not be read (e.g. access denied); `exists` is then unknown and False.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": self.secret_id,
            "exists": self.exists,
            "keys": self.keys,
            "platform_api_credentials": self.credential_fields,
        }
        if self.error:
            answer["error"] = self.error
        return answer

    def describe(self) -> str:
        if self.error:
            return f"could not be read: {self.error}"
        if not self.exists:
            return "missing (register the store again with add-store --replace to make it)"
        return ", ".join(
            f"{key} ({', '.join(self.credential_fields) or 'none'})" if key == "platform_api_credentials" else key
            for key in self.keys
        )


@dataclass(frozen=True)
class MailchimpView:
    """The Mailchimp store as Mailchimp holds it (`present` None: it could not be asked, `error` says why)."""

    present: bool | None
    name: str | None = None
    list_id: str | None = None
    is_syncing: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.present is None:
            return {"present": None, "error": self.error}
        if not self.present:
            return {"present": False}
        return {
            "present": True,
            "name": self.name,
            "list_id": self.list_id,
            "is_syncing": self.is_syncing,
            "counts": self.counts,
        }

    def describe(self, store_id: str) -> str:
        if self.present is None:
            return f"could not be read: {self.error}"
        if not self.present:
            return f"no store {store_id} (add-store creates it)"
        counts = ", ".join(f"{self.counts[name]} {name}" for name in MAILCHIMP_COUNTED if name in self.counts)
        syncing = ", is_syncing on" if self.is_syncing else ""
        return f"store {store_id} in audience {self.list_id}{syncing}: {counts}"


@dataclass(frozen=True)
class Removal:
    store_id: str
    # "deleted", "already gone", or "kept: <why>"
    secret: str
    secret_id: str
    # "kept", "deleted", "already gone"
    mailchimp: str
    # The secret of the store's own Mailchimp account, kept (None: the deployment's default account).
    account_secret_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "registration": "deleted",
            "secret": {"id": self.secret_id, "outcome": self.secret},
            "mailchimp_store": self.mailchimp,
            "mailchimp_account_secret": {"id": self.account_secret_id, "outcome": "kept"}
            if self.account_secret_id
            else None,
        }


def registry(settings: Settings) -> StoreRegistry:
    return StoreRegistry(settings.stores_table)


def registered(settings: Settings, store_id: str) -> Store:
    store = registry(settings).get(store_id)
    if store is None:
        raise StoreAdminError(f"store {store_id} is not registered (`commerce-sync stores list` shows the stores)")
    return store


def listing_json(stores: list[Store]) -> str:
    # Without secret ids, as list-stores always printed it: a listing is pasted into tickets.
    return json.dumps([store.model_dump(mode="json", exclude={"secret_id"}) for store in stores], indent=2)


def listing_table(stores: list[Store]) -> Table | str:
    if not stores:
        return "no store is registered (register one with `commerce-sync add-store`)"
    rows = [
        (
            store.store_id,
            store.platform_identity,
            store.list_id,
            store.currency_code,
            "active" if store.active else "disabled",
            store.mailchimp_account,
        )
        for store in stores
    ]
    return columns(rows, "STORE", "PLATFORM:IDENTITY", "AUDIENCE", "CURRENCY", "STATE", "MAILCHIMP ACCOUNT")


def secret_view(secret_id: str) -> SecretView:
    client = boto3.client("secretsmanager")
    try:
        raw = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT").get("SecretString") or "null"
    except client.exceptions.ResourceNotFoundException:
        return SecretView(secret_id=secret_id, exists=False)
    except (ClientError, BotoCoreError) as error:
        return SecretView(secret_id=secret_id, exists=False, error=_plain(error))
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return SecretView(secret_id=secret_id, exists=True, keys=["(not a JSON object)"])
    credentials = value.get("platform_api_credentials")
    fields = sorted(name for name, given in credentials.items() if given) if isinstance(credentials, dict) else []
    return SecretView(secret_id=secret_id, exists=True, keys=sorted(value), credential_fields=fields)


def _quick_client(settings: Settings, store: Store) -> MailchimpClient:
    """The client of the store's account with one retry and short timeouts: `show` is a look, not a job."""
    secret_id = store.mailchimp_secret_id or settings.mailchimp_secret_arn
    value = SecretReader(max_age_seconds=0).current(secret_id, refresh=True)
    return MailchimpCredentials.from_secret(secret_id, value).client(
        settings.mailchimp_api_url, retry=CHECK_RETRY, read_timeout=CHECK_READ_TIMEOUT
    )


def mailchimp_view(settings: Settings, store: Store) -> MailchimpView:
    try:
        client = _quick_client(settings, store)
        remote = client.get_store(store.store_id)
        if remote is None:
            return MailchimpView(present=False)
        counts = {
            name: int(client.get(store_path(store.store_id, name), count=1, fields="total_items")["total_items"])
            for name in MAILCHIMP_COUNTED
        }
    except (MailchimpError, SecretFormatError, CredentialsError, ClientError, BotoCoreError, ValueError) as error:
        return MailchimpView(present=None, error=_plain(error))
    return MailchimpView(
        present=True,
        name=remote.get("name"),
        list_id=remote.get("list_id"),
        is_syncing=bool(remote.get("is_syncing")),
        counts=counts,
    )


def show_json(store: Store, secret: SecretView, mailchimp: MailchimpView | None) -> str:
    return json.dumps(
        {
            "store": store.model_dump(mode="json"),
            "state": "active" if store.active else "disabled",
            "mailchimp_account": store.mailchimp_account,
            "secret": secret.to_json(),
            "mailchimp": mailchimp.to_json() if mailchimp else None,
        },
        indent=2,
    )


def show_table(store: Store, secret: SecretView, mailchimp: MailchimpView | None) -> str:
    values = store.model_dump(mode="json")
    lines = [("state", "active" if store.active else "disabled (`commerce-sync stores enable` resumes it)")]
    lines += [(name, _shown(value)) for name, value in values.items() if name != "active"]
    account = store.mailchimp_account
    lines.append(("mailchimp account", "the deployment's default" if account == DEFAULT_MAILCHIMP_ACCOUNT else account))
    lines.append(("secret keys", secret.describe()))
    lines.append(("mailchimp", mailchimp.describe(store.store_id) if mailchimp else "not asked (--skip-mailchimp)"))
    width = max(len(label) for label, _ in lines) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in lines)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def set_active(settings: Settings, store_id: str, active: bool) -> tuple[Store, bool]:
    """The store with `active` set, and whether that changed anything."""
    store = registered(settings, store_id)
    if store.active == active:
        return store, False
    changed = store.model_copy(update={"active": active})
    registry(settings).update(changed, ["active"])
    return changed, True


def remove_store(settings: Settings, store: Store, delete_mailchimp_data: bool) -> Removal:
    """Deletes the Mailchimp store first when asked (it needs the registration to know the store's account, so a
    failure there leaves everything for a second try), then the store's secret, then its registry item."""
    mailchimp = "kept"
    if delete_mailchimp_data:
        try:
            deleted = store_client(settings, store).delete_store(store.store_id)
        except (MailchimpError, SecretFormatError, CredentialsError, ClientError, BotoCoreError, ValueError) as error:
            raise MailchimpRefused(
                f"Mailchimp did not delete store {store.store_id}: {_plain(error)}. Nothing was removed; run the "
                "command again once Mailchimp answers, or without --delete-mailchimp-data to keep its data there"
            ) from error
        mailchimp = "deleted" if deleted else "already gone"
    secret = _delete_own_secret(settings, store)
    registry(settings).delete(store.store_id)
    return Removal(
        store_id=store.store_id,
        secret=secret,
        secret_id=store.secret_id,
        mailchimp=mailchimp,
        account_secret_id=store.mailchimp_secret_id,
    )


def _delete_own_secret(settings: Settings, store: Store) -> str:
    client = boto3.client("secretsmanager")
    try:
        description = client.describe_secret(SecretId=store.secret_id)
    except client.exceptions.ResourceNotFoundException:
        return "already gone"
    names = {store.secret_id, description["ARN"], description["Name"]}
    sharing = sorted(
        other.store_id
        for other in registry(settings).list()
        if other.store_id != store.store_id and names & {other.secret_id, other.mailchimp_secret_id}
    )
    if sharing or description["ARN"] == settings.mailchimp_secret_arn:
        whose = f"store {', '.join(sharing)} uses it too" if sharing else "it is the deployment's Mailchimp secret"
        return f"kept: {whose}"
    # At once rather than after a recovery window: the secret's name is the store's, and a secret waiting to be
    # deleted keeps add-store from registering that store id again until the window ends.
    client.delete_secret(SecretId=description["ARN"], ForceDeleteWithoutRecovery=True)
    return "deleted"


def _plain(error: Exception) -> str:
    if isinstance(error, ClientError):
        problem = error.response.get("Error", {})
        return f"{problem.get('Code', 'error')}: {problem.get('Message', '')}".strip()
    return str(error) or type(error).__name__


# ---- the commands ------------------------------------------------------------------------------------------


def add_commands(store_commands: Any) -> None:
    """`stores list|show|disable|enable|remove`, into the `stores` group's subcommands."""
    listing = store_commands.add_parser(
        "list",
        help="list registered stores (also `list-stores`)",
        description="One line per registered store: its id, platform and identity, audience, currency, state "
        "(active or disabled) and the Mailchimp account it writes to.",
        **example_options("stores list", "stores list --json"),
    )
    listing.add_argument("--json", action="store_true", help="the registrations as JSON (without secret ids)")
    listing.set_defaults(run=run_list)

    show = store_commands.add_parser(
        "show",
        help="a store's registration, its secret's keys (never their values) and what Mailchimp holds for it",
        description="Every registry field of the store, the id of its secret and the names of the keys it holds "
        "(for platform API credentials, the names of the fields), and the Mailchimp store: whether it exists, its "
        "audience and its counts of customers, orders, products and carts (five reads of Mailchimp).",
        **example_options("stores show my-shop", "stores show my-shop --json"),
    )
    show.add_argument("store_id", metavar="STORE")
    show.add_argument("--skip-mailchimp", action="store_true", help="do not ask Mailchimp")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=run_show)

    disable = store_commands.add_parser(
        "disable",
        help="stop syncing a store: its deliveries are acknowledged and ignored, the nightly runs pass it by",
        description="Sets the store inactive. Its webhook deliveries are still verified, then answered 200 "
        '{"status": "ignored"} without publishing anything, so the platform keeps its webhooks (WooCommerce '
        "disables a webhook after 5 failed deliveries, Shopify removes one). The nightly catalog sync, the "
        "reconciliation and the backfill pass it by. What is already queued is still applied.",
        **example_options("stores disable my-shop"),
    )
    enable = store_commands.add_parser(
        "enable",
        help="sync a disabled store again",
        description="Sets the store active: its deliveries are published again. Changes made while it was disabled "
        "are not sent again by the platform; `commerce-sync reconcile --store STORE` brings them.",
        **example_options("stores enable my-shop", "stores enable my-shop --json"),
    )
    for command, active in ((disable, False), (enable, True)):
        command.add_argument("store_id", metavar="STORE")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run_set_active, active=active)

    remove = store_commands.add_parser(
        "remove",
        help="remove a store: its registration and its secret; Mailchimp keeps its data unless --delete-mailchimp-data",
        description="Deletes the store's registry item and its own secret (webhook secret, platform API "
        "credentials). Mailchimp keeps the store and its customers, orders, carts and products, unless "
        "--delete-mailchimp-data, which deletes the Mailchimp store too after you type the store id (or with --yes). "
        "Other stores are not touched, nor is the secret of the store's Mailchimp account, which other stores of that "
        "account share. Its webhooks on the platform are answered 404 from then on: remove them there.",
        **example_options("stores remove my-shop", "stores remove my-shop --delete-mailchimp-data"),
    )
    remove.add_argument("store_id", metavar="STORE")
    remove.add_argument(
        "--delete-mailchimp-data",
        action="store_true",
        help="delete the Mailchimp store too, with all of its e-commerce data (the audience's contacts stay); asks "
        "you to type the store id",
    )
    remove.add_argument("--yes", action="store_true", help="confirm --delete-mailchimp-data without asking (scripts)")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(run=run_remove)


def add_list_alias(commands: Any) -> None:
    listing = commands.add_parser(
        "list-stores", help="list registered stores (the same as `stores list`)", **example_options("list-stores")
    )
    listing.add_argument("--json", action="store_true", help="the registrations as JSON (without secret ids)")
    listing.set_defaults(run=run_list)


def _error(command: str, message: str) -> int:
    print(f"commerce-sync {command}: error: {message}", file=sys.stderr)
    return 2


def run_list(arguments: argparse.Namespace) -> int:
    stores = list_stores(Settings.from_environment())
    if arguments.json:
        print(listing_json(stores))
    else:
        print_table(listing_table(stores))
    return 0


def run_show(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    try:
        store = registered(settings, arguments.store_id)
    except StoreAdminError as error:
        return _error("stores show", str(error))
    secret = secret_view(store.secret_id)
    mailchimp = None if arguments.skip_mailchimp else mailchimp_view(settings, store)
    print(show_json(store, secret, mailchimp) if arguments.json else show_table(store, secret, mailchimp))
    return 0


def run_set_active(arguments: argparse.Namespace) -> int:
    verb = "enable" if arguments.active else "disable"
    try:
        store, changed = set_active(Settings.from_environment(), arguments.store_id, arguments.active)
    except StoreAdminError as error:
        return _error(f"stores {verb}", str(error))
    if arguments.json:
        print(json.dumps({"store_id": store.store_id, "active": store.active, "changed": changed}))
    elif not changed:
        print(f"store {store.store_id} was already {verb}d")
    elif store.active:
        print(
            f"store {store.store_id} enabled: its deliveries are synced again; `commerce-sync reconcile --store "
            f"{store.store_id}` brings what changed while it was disabled"
        )
    else:
        print(
            f"store {store.store_id} disabled: its deliveries are answered 200 and ignored, and the nightly runs pass "
            f"it by (`commerce-sync stores enable {store.store_id}` resumes it)"
        )
    return 0


def _confirmed(store_id: str) -> bool:
    print(
        f"This deletes Mailchimp store {store_id} and everything in it (customers, orders, carts, products, "
        f"promotions); the audience's contacts stay. Type the store id ({store_id}) to confirm: ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    return sys.stdin.readline().strip() == store_id


def run_remove(arguments: argparse.Namespace) -> int:
    command = "stores remove"
    settings = Settings.from_environment()
    try:
        store = registered(settings, arguments.store_id)
    except StoreAdminError as error:
        return _error(command, str(error))
    if arguments.delete_mailchimp_data and not arguments.yes and not _confirmed(store.store_id):
        return _error(
            command,
            f"what was typed is not {store.store_id}, so nothing was removed (type the store id when asked, or give "
            "--yes)",
        )
    try:
        removal = remove_store(settings, store, arguments.delete_mailchimp_data)
    except MailchimpRefused as error:
        print(f"commerce-sync {command}: error: {error}", file=sys.stderr)
        return 1
    if arguments.json:
        print(json.dumps(removal.to_json(), indent=2))
        return 0
    print(f"store {removal.store_id} removed: registration deleted, secret {removal.secret_id} {removal.secret}")
    if removal.mailchimp == "kept":
        print(f"Mailchimp store {removal.store_id} kept with its customers, orders, carts and products")
    else:
        print(f"Mailchimp store {removal.store_id} {removal.mailchimp}, with its customers, orders, carts and products")
    if removal.account_secret_id:
        print(f"the Mailchimp account's secret {removal.account_secret_id} kept (the stores of that account share it)")
    print("its webhooks on the platform are now answered 404: remove them in the platform's settings")
    return 0
