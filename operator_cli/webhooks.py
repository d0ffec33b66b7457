"""`commerce-sync webhooks STORE [--create] [--address URL]`: a store's webhook subscriptions per topic commerce-sync
needs, for the platforms where commerce-sync makes them.

- Shopify (docs/shopify.md): the subscriptions made through the Admin API. `--create` subscribes the missing topics
  at the address and records in the store's registration that its subscriptions are made that way and where, so the
  nightly reconciliation checks them and makes one Shopify removed again. It is also how a merchant's existing
  Shopify store gets its subscriptions.
- API2Cart (docs/api2cart.md): the webhooks made with webhook.create, per entity and action the store's cart supports.
  `--create` makes the missing ones with the store's callback URL (the address with `?store=…&token=…`); nothing is
  recorded: the nightly reconciliation tells them by their callback.

Addresses and topics only are printed: never an access token, an API key or a callback's token."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from commerce_sync.aws.secret_store import SecretFormatError, SecretReader
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, WebhookSubscriptions
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.http import PlatformApiError
from commerce_sync.platforms.secret_push import HookPushError
from commerce_sync.platforms.shopify.hooks import WebhookAddressError, parse_webhook_address
from commerce_sync.platforms.webhook_health import HealthAction, HookState, WebhookHealth, WebhookHealthUnavailable

from operator_cli.stores import NewStore, StoreError, add_store, find_store
from operator_cli.terminal import columns, print_table

COMMAND = "webhooks"
SHOPIFY_WEBHOOK_PATH = "/webhooks/shopify"
# Platforms whose subscriptions this command makes: Shopify (the Admin API) and API2Cart (webhook.create).
WEBHOOK_PATHS = {"shopify": SHOPIFY_WEBHOOK_PATH, "api2cart": "/webhooks/api2cart"}
# How each topic's line reads: what Shopify listed, and what this run did.
OUTCOMES = {
    HealthAction.NONE: "subscribed",
    HealthAction.RECREATED: "created",
    HealthAction.RECREATION_FAILED: "not created",
    HealthAction.REPORTED: "missing",
}


class WebhooksRefused(Exception):
    """What the operator must give or do differently (exit code 2); nothing was changed."""


def default_address(platform: str = "shopify") -> str | None:
    """The deployment's webhook address for the platform: the HTTP API's base URL (the stack output ApiUrl, or the
    local runner's) with `/webhooks/shopify` (or `/webhooks/api2cart`)."""
    base = os.environ.get("COMMERCE_SYNC_API_URL")
    return f"{base.rstrip('/')}{WEBHOOK_PATHS[platform]}" if base else None


def run(store_id: str, create: bool, address: str | None, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = Settings.from_environment()
    try:
        store, chosen = _store_and_address(settings, store_id, address, create)
        health = _check(store, chosen, create)
    except WebhooksRefused as error:
        print(f"commerce-sync {COMMAND}: error: {error}", file=sys.stderr)
        return 2
    except PlatformApiError as error:
        print(
            f"commerce-sync {COMMAND}: error: could not list the subscriptions of {store_id}: {error}", file=sys.stderr
        )
        return 1
    try:
        # An API2Cart store's webhooks are told ours by their callback; nothing to record.
        recorded = _record(settings, store, chosen) if create and store.platform == "shopify" else None
    except StoreError as error:
        # Shopify has the subscriptions; the registration does not say so, so they are not checked nightly yet.
        print(f"commerce-sync {COMMAND}: error: subscribed, but not recorded: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(_as_json(store, chosen, health, recorded), indent=2), file=out)
    else:
        _print(store, chosen, health, recorded, create, out)
    settled = all(topic.action in (HealthAction.NONE, HealthAction.RECREATED) for topic in health.topics)
    return 0 if settled else 1


def _store_and_address(
    settings: Settings, store_id: str, address: str | None, create: bool
) -> tuple[Store, str | None]:
    store = find_store(settings, store_id)
    if store is None:
        raise WebhooksRefused(f"store {store_id} is not registered (register it with add-store)")
    if store.platform not in WEBHOOK_PATHS:
        raise WebhooksRefused(
            f"store {store_id} is a {store.platform} store: this command makes Shopify and API2Cart subscriptions; "
            f"the nightly reconciliation checks its webhooks (`commerce-sync reconcile --store {store_id}`)"
        )
    chosen = address or store.webhook_address or default_address(store.platform)
    if chosen is None and create:
        raise WebhooksRefused(f"no webhook address: give --address (the stack's WebhookUrl for {store.platform})")
    try:
        return store, parse_webhook_address(chosen) if chosen else None
    except WebhookAddressError as error:
        raise WebhooksRefused(str(error)) from error


def _check(store: Store, address: str | None, create: bool) -> WebhookHealth:
    try:
        secret = SecretReader(max_age_seconds=0).current(store.secret_id, refresh=True)
    except SecretFormatError as error:
        raise WebhooksRefused(str(error)) from error
    credentials = dict(secret.get("platform_api_credentials") or {})
    if store.platform == "api2cart":
        return _check_api2cart(store, credentials, address, str(secret.get("webhook_secret") or ""), create)
    try:
        api = PlatformHooks().shopify(store, credentials, address)
    except WebhookHealthUnavailable as error:
        raise WebhooksRefused(
            f"{error} (set them with `commerce-sync stores set-credentials {store.store_id}`)"
        ) from error
    return api.check_and_repair(store.store_id, repair=create)


def _check_api2cart(
    store: Store, credentials: dict[str, Any], address: str | None, token: str, create: bool
) -> WebhookHealth:
    try:
        api = PlatformHooks().api2cart(store, credentials, address, token or None)
    except HookPushError as error:
        raise WebhooksRefused(
            f"{error} (set them with `commerce-sync stores set-credentials {store.store_id}`)"
        ) from error
    except PlatformApiUrlError as error:
        raise WebhooksRefused(str(error)) from error
    return api.check_and_repair(store.store_id, repair=create)


def _record(settings: Settings, store: Store, address: str | None) -> tuple[str, ...]:
    """Records that the store's subscriptions are made through the Admin API at `address`; the fields changed."""
    given = NewStore(
        store_id=store.store_id, webhook_subscriptions=WebhookSubscriptions.ADMIN_API.value, webhook_address=address
    )
    return add_store(settings, given, create_in_mailchimp=False, check=False).changed


def _print(
    store: Store,
    address: str | None,
    health: WebhookHealth,
    recorded: tuple[str, ...] | None,
    create: bool,
    out: TextIO,
) -> None:
    where = f"at {address}" if address else "at any address (no webhook address is registered or given)"
    kind = "API2Cart webhooks" if store.platform == "api2cart" else "Shopify webhook subscriptions of the app"
    print(f"store {store.store_id}: {kind} {where}", file=out)
    rows = [
        (
            topic.topic,
            OUTCOMES[topic.action],
            str(topic.hook_id) if topic.hook_id else "",
            topic.detail or "",
        )
        for topic in health.topics
    ]
    print_table(columns(rows, "TOPIC", "STATE", "ID", "DETAIL"), out)
    counts = health.summary()
    missing = sum(1 for topic in health.topics if topic.state_before is HookState.MISSING)
    summary = f"{counts['topics']} topics: {counts['none']} subscribed, {missing} missing"
    if create:
        summary += f", {counts['recreated']} created, {counts['recreation_failed']} not created"
    elif missing:
        summary += f" (`commerce-sync webhooks {store.store_id} --create` subscribes them)"
    print(summary, file=out)
    if recorded is not None:
        state = "recorded" if recorded else "already recorded"
        print(
            f"{state}: store {store.store_id}'s subscriptions are made through the Admin API; the nightly "
            "reconciliation checks them and subscribes a topic Shopify removed again",
            file=out,
        )
    elif store.platform == "shopify" and store.webhook_subscriptions != WebhookSubscriptions.ADMIN_API:
        print(
            "not checked nightly: the registration does not say its subscriptions are made through the Admin API "
            "(`--create` records it)",
            file=out,
        )


def _as_json(
    store: Store, address: str | None, health: WebhookHealth, recorded: tuple[str, ...] | None
) -> dict[str, Any]:
    return {
        "store_id": store.store_id,
        "address": address,
        "counts": health.summary(),
        "recorded": recorded is not None,
        "topics": [
            {
                "topic": topic.topic,
                "state_before": topic.state_before.value,
                "action": topic.action.value,
                **({"id": topic.hook_id} if topic.hook_id else {}),
                **({"detail": topic.detail} if topic.detail else {}),
            }
            for topic in health.topics
        ],
    }
