"""Registering stores: the store's secret in Secrets Manager, its registry item, and its Mailchimp store
(created when Mailchimp lacks it). Used by the `commerce-sync` CLI and by the local demo.

Registering a store id that is already registered updates it: what the caller gives changes, everything
else stays as it is — in the secret the platform API credentials, the webhook secret and any other key
(the rotation's `origin`), in the registry every field (options, `active`, `created_at`). The secret gets
a new version only when its JSON changes, through a plain PutSecretValue (AWSCURRENT moves to it, the
version it leaves becomes AWSPREVIOUS), and not while a rotation has a pending value that would be
promoted over it. `replace=True` registers the store anew: options not given go back to their defaults
and the secret holds only what is given.

The platform API URL and version are kept in the registry's form, which the platform's API module gives
(`connection_for(platform).parse_url`): e.g. a Shopify Admin API root `https://x.myshopify.com/admin/api/
2025-01` becomes the shop's address and `platform_api_version` 2025-01. Unless `check=False`, platform API
credentials given are proved with one call to the store's API, and a new store's Mailchimp key and audience
with one call to Mailchimp, before anything is written (`checks`).
"""

from __future__ import annotations

import json
import secrets as random_secrets
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from commerce_sync.accounts.connections import AccountCheckFailed, mailchimp_store_of
from commerce_sync.aws.secret_store import AWSCURRENT, AWSPENDING, CLIENT_SECRET, version_holding
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, Store, StoreRegistry
from commerce_sync.mailchimp.credentials import MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.mailchimp.models import McStoreUpdate
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.hooks import CLIENT_SECRET_PLATFORMS
from commerce_sync.platforms.registry import connection_for
from commerce_sync.platforms.shopify.hooks import WebhookAddressError, parse_webhook_address
from commerce_sync.rotation.key_rotation import KIND_STORE
from pydantic import ValidationError

from operator_cli.checks import CheckFailed, check_mailchimp_audience, check_platform_credentials
from operator_cli.mailchimp_accounts import choose_account, keep_credentials, store_client

# What a store cannot be registered without (for an update, all of them are optional).
REQUIRED_FOR_NEW = ("platform", "identity", "name", "list_id", "currency_code", "webhook_secret")
REGISTRY_FIELDS = (
    "platform",
    "identity",
    "name",
    "list_id",
    "currency_code",
    "platform_api_url",
    "platform_api_version",
    "domain",
    "double_opt_in",
    "consent_from_mailchimp",
    "pending_then_paid",
    "erase_on_customer_delete",
    "erasure_member",
    "webhook_subscriptions",
    "webhook_address",
)
CLEARABLE_FIELDS = ("platform_api_url", "platform_api_version", "domain", "webhook_subscriptions", "webhook_address")
# Registry fields only a Shopify store has: how its webhook subscriptions are made, and where they point.
SHOPIFY_WEBHOOK_FIELDS = ("webhook_subscriptions", "webhook_address")
# Registry fields the Mailchimp store shows too; a change is sent there as well.
MAILCHIMP_FIELDS = ("name", "currency_code", "platform", "domain")
# Bookkeeping, not settings: never reported as a change.
UNREPORTED_FIELDS = ("store_id", "created_at")


def generate_webhook_secret() -> str:
    return random_secrets.token_urlsafe(32)


class StoreError(Exception):
    """What the operator must give or do differently. Never holds a secret value."""


class CheckRefused(StoreError):
    """A check before saving refused what was given, or could not be made (`transient`); nothing was saved."""

    def __init__(self, failure: CheckFailed) -> None:
        super().__init__(str(failure))
        self.transient = failure.transient


class MissingFields(StoreError):
    def __init__(self, fields: list[str], reason: str) -> None:
        self.fields = fields
        self.reason = reason
        super().__init__(f"{reason}; it needs {', '.join(fields)}")


@dataclass
class NewStore:
    """What the caller gives for a store. A store that is not registered yet (or one registered anew with
    `replace`) needs every field of REQUIRED_FOR_NEW. For a registered store None means "keep what it
    has, and "" removes one of CLEARABLE_FIELDS. `platform_api_credentials` replace the secret's whole
    `platform_api_credentials` ({} removes them)."""

    store_id: str
    platform: str | None = None
    identity: str | None = None
    name: str | None = None
    list_id: str | None = None
    currency_code: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    # BigCommerce only: the app's client secret, which BigCommerce keys Standard Webhooks signatures with.
    client_secret: str | None = field(default=None, repr=False)
    platform_api_url: str | None = None
    platform_api_version: str | None = None
    platform_api_credentials: dict[str, Any] | None = field(default=None, repr=False)
    domain: str | None = None
    double_opt_in: bool | None = None
    # Two-way consent (docs/consent.md): a subscribe in Mailchimp grants consent on the platform too.
    consent_from_mailchimp: bool | None = None
    pending_then_paid: bool | None = None
    # Privacy (docs/privacy.md): a platform's customer deletion taken as an erasure; the member's fate in one.
    erase_on_customer_delete: bool | None = None
    erasure_member: str | None = None
    # Shopify: how its webhook subscriptions are made (a WebhookSubscriptions value) and the address they point at.
    webhook_subscriptions: str | None = None
    webhook_address: str | None = None
    # Customer segments as member tags (docs/segments.md): True turns them on (a store that has them keeps its
    # rules; else the default rules), False off (its rules are dropped); None keeps what the store has.
    segments: bool | None = None
    # The store's own Mailchimp account (docs/mailchimp-accounts.md); None: keep its account (a new store: the
    # deployment's default one).
    mailchimp_credentials: MailchimpCredentials | None = field(default=None, repr=False)

    def missing_for_new(self) -> list[str]:
        return [name for name in REQUIRED_FOR_NEW if not getattr(self, name)]

    def registry_values(self) -> dict[str, Any]:
        """The registry fields given (None for one given as "" to remove it)."""
        values = {name: getattr(self, name) for name in REGISTRY_FIELDS if getattr(self, name) is not None}
        for name in CLEARABLE_FIELDS:
            if values.get(name) == "":
                values[name] = None
        if "currency_code" in values:
            values["currency_code"] = values["currency_code"].upper()
        return values

    def secret_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if self.webhook_secret:
            values["webhook_secret"] = self.webhook_secret
        if self.client_secret:
            values[CLIENT_SECRET] = self.client_secret
        if self.platform_api_credentials is not None:
            values["platform_api_credentials"] = self.platform_api_credentials
        return values


@dataclass(frozen=True)
class Registration:
    store: Store
    created: bool  # the store id was not registered before
    # For a registered store: names of the registry fields and secret keys that changed (never values).
    changed: tuple[str, ...]
    secret_written: bool


def find_store(settings: Settings, store_id: str) -> Store | None:
    return StoreRegistry(settings.stores_table).get(store_id)


def add_store(
    settings: Settings, new: NewStore, create_in_mailchimp: bool = True, replace: bool = False, check: bool = True
) -> Registration:
    """Registers a new store, or updates a registered one with what `new` gives (module docstring);
    `replace` registers a registered store anew; `check=False` saves credentials and audiences unchecked.
    Raises StoreError (MissingFields, CheckRefused) before writing anything when the store cannot be
    registered or changed as asked."""
    registry = StoreRegistry(settings.stores_table)
    secretsmanager = boto3.client("secretsmanager")
    existing = registry.get(new.store_id)
    anew = existing is None or replace
    if anew and new.missing_for_new():
        reason = f"store {new.store_id} is not registered" if existing is None else "--replace registers it anew"
        raise MissingFields(new.missing_for_new(), reason)

    secret_name = f"{settings.store_secret_prefix}{new.store_id}"
    secret_id, current_secret = _read_secret(secretsmanager, existing.secret_id if existing else secret_name)
    if current_secret is None and existing is not None:
        # The registered secret is gone; one under the store's own name may still be there.
        secret_id, current_secret = _read_secret(secretsmanager, secret_name)
    wanted_secret = _wanted_secret(new, None if anew else current_secret, secret_name)
    secret_changes = _changed_keys(current_secret or {}, wanted_secret)
    store = _segment_settings(
        _webhook_settings(_platform_api_settings(_merged_store(existing, new, secret_id, replace), new, existing), new),
        new,
        None if replace else existing,
    )
    _check_credential_fields(store, new.platform_api_credentials)
    registry_changes = _changed_fields(existing, store)
    if new.client_secret and store.platform not in CLIENT_SECRET_PLATFORMS:
        raise StoreError(
            f"a client secret is kept for BigCommerce stores only; store {store.store_id} is {store.platform}"
        )

    if existing is None or {"platform", "identity"} & set(registry_changes):
        owner = registry.find(store.platform, store.identity)
        if owner is not None and owner.store_id != store.store_id:
            raise StoreError(f"{store.platform_identity} is already registered as store {owner.store_id}")
    if existing is not None and "list_id" in registry_changes and not create_in_mailchimp:
        raise StoreError("a store's audience can only change after Mailchimp confirms it; drop --skip-mailchimp")
    if secret_changes and current_secret is not None:
        _refuse_during_rotation(secretsmanager, secret_id)
    choice = None
    if new.mailchimp_credentials is not None:
        try:
            choice = choose_account(settings, new.mailchimp_credentials, store.list_id, None if anew else existing)
        except AccountCheckFailed as failure:
            raise CheckRefused(CheckFailed(str(failure), failure.transient)) from failure
    elif existing is not None and not replace:
        store = store.model_copy(
            update={
                "mailchimp_secret_id": existing.mailchimp_secret_id,
                "mailchimp_account_id": existing.mailchimp_account_id,
            }
        )
    if check:
        # The credentials given were proved with the audience already (choose_account).
        audience = choice is None and create_in_mailchimp and (anew or "list_id" in registry_changes)
        _check(settings, store, new, audience=audience)

    if choice is not None and new.mailchimp_credentials is not None:
        secret_arn = keep_credentials(settings, new.mailchimp_credentials, choice)
        account_id = None if choice.uses_default else choice.account.account_id
        store = store.model_copy(update={"mailchimp_secret_id": secret_arn, "mailchimp_account_id": account_id})
        registry_changes = [name for name in registry_changes if not name.startswith("mailchimp_")]
        registry_changes += [
            name
            for name in ("mailchimp_secret_id", "mailchimp_account_id")
            if existing is None or getattr(existing, name) != getattr(store, name)
        ]
    if create_in_mailchimp:
        _sync_mailchimp(settings, store, registry_changes)
    if secret_changes:
        written = _write_secret(secretsmanager, secret_name, secret_id, current_secret, wanted_secret)
        store = store.model_copy(update={"secret_id": written})
        if existing is not None and written != existing.secret_id and "secret_id" not in registry_changes:
            registry_changes.append("secret_id")
    if anew:
        registry.put(store)
    elif registry_changes:
        registry.update(store, registry_changes)
    return Registration(
        store=store,
        created=existing is None,
        changed=() if existing is None else tuple(registry_changes + secret_changes),
        secret_written=bool(secret_changes),
    )


def set_credentials(settings: Settings, store_id: str, credentials: dict[str, str], check: bool = True) -> Registration:
    """Replaces a registered store's platform API credentials (checked first unless `check=False`)."""
    if find_store(settings, store_id) is None:
        raise StoreError(f"store {store_id} is not registered (register it with add-store)")
    return add_store(
        settings,
        NewStore(store_id=store_id, platform_api_credentials=credentials),
        create_in_mailchimp=False,
        check=check,
    )


def list_stores(settings: Settings) -> list[Store]:
    return StoreRegistry(settings.stores_table).list()


def _merged_store(existing: Store | None, new: NewStore, secret_id: str, replace: bool) -> Store:
    values = {**new.registry_values(), "store_id": new.store_id, "secret_id": secret_id}
    try:
        if existing is None:
            return Store.model_validate(values)
        if replace:
            return Store.model_validate({**values, "created_at": existing.created_at})
        return Store.model_validate({**existing.model_dump(), **values})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors(include_input=False)
        )
        raise StoreError(f"store {new.store_id} is not valid: {problems}") from error


def _segment_settings(store: Store, new: NewStore, kept_from: Store | None) -> Store:
    """The store with segments on or off as `new` asks (None: as merged, i.e. kept, or off for a new store)."""
    if new.segments is None:
        return store
    if not new.segments:
        return store.model_copy(update={"segments": None})
    kept = kept_from.segments if kept_from is not None else None
    return store.model_copy(update={"segments": kept or SegmentRules()})


def _platform_api_settings(store: Store, new: NewStore, existing: Store | None) -> Store:
    """The store with its platform API URL and version in the registry's form, when this call gives either or
    moves the store to another platform. A version the given URL names becomes `platform_api_version`; one
    given with --platform-api-version wins over a version in a URL registered before."""
    url_given, version_given = bool(new.platform_api_url), bool(new.platform_api_version)
    moved = existing is not None and existing.platform != store.platform
    if not (url_given or version_given or moved):
        return store
    connection = connection_for(store.platform)
    if connection is None:
        if url_given or version_given:
            raise StoreError(f"a {store.platform} store has no platform API: drop --platform-api-url/-version")
        return store
    url, version = store.platform_api_url, store.platform_api_version
    if connection.parse_version is None:
        if version_given:
            raise StoreError(
                f"{store.platform} stores take no --platform-api-version (only Shopify's API has versions)"
            )
        version = None  # one kept from another platform means nothing here
    try:
        if version and connection.parse_version is not None:
            version = connection.parse_version(version)
        if url:
            address = connection.parse_url(url)
            url = address.url
            if address.version and (url_given or not version):
                if version_given and version != address.version:
                    raise StoreError(
                        f"--platform-api-url names API version {address.version} but --platform-api-version says "
                        f"{version}; give one of them"
                    )
                version = address.version
    except PlatformApiUrlError as error:
        raise StoreError(str(error)) from error
    return store.model_copy(update={"platform_api_url": url, "platform_api_version": version})


def _webhook_settings(store: Store, new: NewStore) -> Store:
    """Only a Shopify store records how its webhook subscriptions are made (WooCommerce and BigCommerce webhooks are
    always checked); an address given must be one Shopify delivers to, and is kept as given."""
    given = [name for name in SHOPIFY_WEBHOOK_FIELDS if getattr(new, name)]
    if given and store.platform != "shopify":
        raise StoreError(
            f"only Shopify stores record how their webhooks are made ({', '.join(given)}); store {store.store_id} is "
            f"{store.platform}, whose webhooks the reconciliation always checks"
        )
    if not new.webhook_address:
        return store
    try:
        return store.model_copy(update={"webhook_address": parse_webhook_address(new.webhook_address)})
    except WebhookAddressError as error:
        raise StoreError(str(error)) from error


def _check_credential_fields(store: Store, credentials: dict[str, Any] | None) -> None:
    """Credentials given must be the platform's fields, all of them ({} removes them)."""
    if not credentials:
        return
    connection = connection_for(store.platform)
    if connection is None:
        raise StoreError(f"a {store.platform} store has no platform API, so it takes no credentials")
    if set(credentials) != set(connection.field_names) or not all(credentials.values()):
        raise StoreError(f"{store.platform} platform API credentials are {', '.join(connection.field_names)}")


def _check(settings: Settings, store: Store, new: NewStore, audience: bool) -> None:
    try:
        if new.platform_api_credentials:
            check_platform_credentials(store, new.platform_api_credentials)
        if audience:
            check_mailchimp_audience(settings, store.list_id, store.mailchimp_secret_id)
    except CheckFailed as failure:
        raise CheckRefused(failure) from failure


def _wanted_secret(new: NewStore, kept: dict[str, Any] | None, secret_name: str) -> dict[str, Any]:
    """The secret's JSON after this call: `kept` (the current value, unless the store is registered anew)
    with what `new` gives, else only what `new` gives."""
    if kept is not None:
        return {**kept, **new.secret_values()}
    if not new.webhook_secret:
        raise MissingFields(["webhook_secret"], f"store {new.store_id} has no secret {secret_name}")
    return {"kind": KIND_STORE, "platform_api_credentials": {}, **new.secret_values()}


def _changed_fields(existing: Store | None, store: Store) -> list[str]:
    return [
        name
        for name in Store.model_fields
        if name not in UNREPORTED_FIELDS and (existing is None or getattr(existing, name) != getattr(store, name))
    ]


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [key for key in (*before, *(key for key in after if key not in before)) if before.get(key) != after.get(key)]


def _read_secret(client: Any, secret_id: str) -> tuple[str, dict[str, Any] | None]:
    """The secret's ARN and AWSCURRENT value, or (secret_id, None) when there is no such secret. The stage
    is named because moto serves a half-made pending version to reads that name none."""
    try:
        answer = client.get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT)
    except client.exceptions.ResourceNotFoundException:
        return secret_id, None
    try:
        value = json.loads(answer.get("SecretString") or "null")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise StoreError(f"secret {secret_id} is not a JSON object; fix it or register the store with --replace")
    return str(answer["ARN"]), value


def _refuse_during_rotation(client: Any, secret_id: str) -> None:
    """finishSecret would promote the pending value, made from the current one before this change, and
    silently undo it. A pending version still without its value is made from the current one later, so
    it takes the change along."""
    description = client.describe_secret(SecretId=secret_id)
    stages = description.get("VersionIdsToStages") or {}
    pending = version_holding(stages, AWSPENDING)
    if not pending or pending == version_holding(stages, AWSCURRENT):
        return
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=pending, VersionStage=AWSPENDING)
    except ClientError:
        return
    raise StoreError(
        f"a rotation of {description['Name']} has a pending version ({pending}) that would undo this change of "
        "the secret. Let it finish (`commerce-sync rotation-status`), or abandon it with `commerce-sync rotate "
        "store-secret <store-id> --restart`, then run add-store again"
    )


def _write_secret(client: Any, name: str, secret_id: str, current: dict[str, Any] | None, value: dict[str, Any]) -> str:
    body = json.dumps(value)
    if current is not None:
        return str(client.put_secret_value(SecretId=secret_id, SecretString=body)["ARN"])
    try:
        return str(
            client.create_secret(
                Name=name,
                SecretString=body,
                Description="commerce-sync store webhook secret and platform API credentials",
                Tags=[{"Key": "kind", "Value": "store_webhook_secret"}],
            )["ARN"]
        )
    except client.exceptions.ResourceExistsException:
        return str(client.put_secret_value(SecretId=name, SecretString=body)["ARN"])


def _sync_mailchimp(settings: Settings, store: Store, registry_changes: list[str]) -> None:
    """Creates the Mailchimp store when Mailchimp lacks it, else sends it what changed here (but never
    undoes what someone changed in Mailchimp and this call did not touch)."""
    client = store_client(settings, store)
    try:
        remote = client.ensure_store(mailchimp_store_of(store))
    except ValueError as error:  # another audience: a Mailchimp store's list_id is fixed
        raise StoreError(str(error)) from error
    except MailchimpError as error:
        raise StoreError(f"Mailchimp did not take the store: {error}") from error
    update = {
        name: getattr(store, name)
        for name in MAILCHIMP_FIELDS
        if name in registry_changes and getattr(store, name) is not None and remote.get(name) != getattr(store, name)
    }
    if update:
        client.update_store(store.store_id, McStoreUpdate(**update))
