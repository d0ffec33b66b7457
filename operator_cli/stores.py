"""Registering stores: the store's secret in Secrets Manager, its registry item, and its Mailchimp store
(created when Mailchimp lacks it). Used by the `commerce-sync` CLI and by the local demo."""

from __future__ import annotations

import json
import secrets as random_secrets
from dataclasses import dataclass
from typing import Any

import boto3
from commerce_sync.mailchimp_client import MailchimpClient
from commerce_sync.mailchimp_models import McStore
from commerce_sync.secret_store import SecretReader
from commerce_sync.settings import Settings
from commerce_sync.store_registry import Store, StoreRegistry


def generate_webhook_secret() -> str:
    return random_secrets.token_urlsafe(32)


@dataclass
class NewStore:
    store_id: str
    platform: str
    identity: str
    name: str
    list_id: str
    currency_code: str
    webhook_secret: str
    platform_api_url: str | None = None
    platform_api_credentials: dict[str, Any] | None = None
    domain: str | None = None
    double_opt_in: bool = False
    pending_then_paid: bool = False


def _put_store_secret(secretsmanager: Any, name: str, value: dict[str, Any]) -> str:
    body = json.dumps(value)
    try:
        return secretsmanager.create_secret(
            Name=name,
            SecretString=body,
            Description="commerce-sync store webhook secret and platform API credentials",
            Tags=[{"Key": "kind", "Value": "store_webhook_secret"}],
        )["ARN"]
    except secretsmanager.exceptions.ResourceExistsException:
        return secretsmanager.put_secret_value(SecretId=name, SecretString=body)["ARN"]


def mailchimp_client(settings: Settings) -> MailchimpClient:
    api_key = SecretReader(max_age_seconds=0).mailchimp_api_key(settings.mailchimp_secret_arn, refresh=True)
    return MailchimpClient(api_key=api_key, base_url=settings.mailchimp_api_url)


def add_store(settings: Settings, new: NewStore, create_in_mailchimp: bool = True) -> Store:
    """Idempotent: adding the same store again updates its secret and registry item."""
    secret_arn = _put_store_secret(
        boto3.client("secretsmanager"),
        f"{settings.store_secret_prefix}{new.store_id}",
        {
            "kind": "store_webhook_secret",
            "webhook_secret": new.webhook_secret,
            "platform_api_credentials": new.platform_api_credentials or {},
        },
    )
    store = Store(
        store_id=new.store_id,
        platform=new.platform,
        identity=new.identity,
        name=new.name,
        list_id=new.list_id,
        currency_code=new.currency_code.upper(),
        secret_id=secret_arn,
        platform_api_url=new.platform_api_url,
        domain=new.domain,
        double_opt_in=new.double_opt_in,
        pending_then_paid=new.pending_then_paid,
    )
    if create_in_mailchimp:
        mailchimp_client(settings).ensure_store(
            McStore(
                id=store.store_id,
                list_id=store.list_id,
                name=store.name,
                currency_code=store.currency_code,
                platform=new.platform,
                domain=new.domain,
            )
        )
    StoreRegistry(settings.stores_table).put(store)
    return store


def list_stores(settings: Settings) -> list[Store]:
    return StoreRegistry(settings.stores_table).list()
