"""`commerce-sync audience-webhook STORE [--create | --delete] [--api-url URL] [--json]`: the store's Mailchimp
audience webhook (two-way consent, docs/consent.md), in the store's audience, in the Mailchimp account the store
writes to. Without an option it shows whether the webhook is registered at the current key; `--create` registers
it (Mailchimp checks the URL with a GET first) and deletes the store's stale ones (a rotated key, another address);
`--delete` removes them all. The key is never printed: the address is shown with `key=…`.

Exit codes: 0 when the webhook is registered (or, with --delete, gone), 1 when it is missing or stale, or Mailchimp
refused, 2 when refused before Mailchimp was asked (unknown store, no API URL)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

import requests
from commerce_sync.aws.secret_store import WEBHOOK_SECRET
from commerce_sync.aws.store_registry import Store
from commerce_sync.consent.keys import without_key
from commerce_sync.consent.registration import AudienceWebhooks, AudienceWebhookState
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.processing.services import Services

from operator_cli.help_texts import example_options

COMMAND = "audience-webhook"
VALIDATION_TIMEOUT = 30.0


class AudienceWebhookRefused(Exception):
    """What the operator must give or do differently (exit code 2); nothing was asked of Mailchimp."""


def add_commands(commands: Any) -> None:
    hook = commands.add_parser(
        COMMAND,
        help="the store's Mailchimp audience webhook (two-way consent); --create registers it",
        description="Shows whether the store's audience webhook is registered in Mailchimp at the current key of the "
        "store's signing secret (docs/consent.md). --create registers it at ApiUrl/webhooks/mailchimp/STORE (Mailchimp "
        "checks the URL with a GET) and deletes the store's stale ones; --delete removes them. Exit code 0 when it is "
        "registered (with --delete: gone), 1 when missing or stale or Mailchimp refused, 2 when refused before "
        "asking Mailchimp.",
        **example_options(
            f"{COMMAND} my-shop --create",
            f"{COMMAND} my-shop --json",
            f"{COMMAND} my-shop --delete",
        ),
    )
    hook.add_argument("store_id", metavar="STORE")
    action = hook.add_mutually_exclusive_group()
    action.add_argument("--create", action="store_true", help="register it (and delete the stale ones)")
    action.add_argument("--delete", action="store_true", help="delete the store's audience webhooks")
    hook.add_argument(
        "--api-url", help="the HTTP API's base URL (default: the stack output ApiUrl, or the local runner's)"
    )
    hook.add_argument("--json", action="store_true")
    hook.set_defaults(run=_run)


def _run(arguments: argparse.Namespace) -> int:
    action = "create" if arguments.create else "delete" if arguments.delete else "show"
    return run(arguments.store_id, action, arguments.api_url, arguments.json)


class ApiUnreachable(Exception):
    """The API does not answer the GET Mailchimp checks a new webhook with (exit code 1)."""


def _check_reachable(url: str) -> None:
    """The GET Mailchimp will send, sent first: a wrong --api-url is named as such (not as Mailchimp's refusal), and
    a function that starts cold has started before Mailchimp's check, which waits only a few seconds."""
    try:
        answer = requests.get(url, timeout=VALIDATION_TIMEOUT)
    except requests.RequestException as error:
        raise ApiUnreachable(f"the API at {without_key(url)} does not answer ({type(error).__name__})") from error
    if answer.status_code != 200:
        raise ApiUnreachable(f"the API at {without_key(url)} answers {answer.status_code}, not 200, to a GET")


def audience_webhooks(services: Services, store: Store, api_url: str | None) -> AudienceWebhooks:
    base = api_url or os.environ.get("COMMERCE_SYNC_API_URL")
    if not base:
        raise AudienceWebhookRefused("the API's URL is unknown: give --api-url (the stack output ApiUrl)")
    return AudienceWebhooks(services.mailchimp(store), base)


def current_webhook_secret(services: Services, store: Store) -> str:
    secret = services.secrets.current(store.secret_id, refresh=True).get(WEBHOOK_SECRET)
    if not secret:
        raise AudienceWebhookRefused(f"store {store.store_id}'s secret holds no webhook secret")
    return str(secret)


def run(store_id: str, action: str, api_url: str | None, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    services = Services.from_environment()
    try:
        store = services.registry.get(store_id)
        if store is None:
            raise AudienceWebhookRefused(f"store {store_id} is not registered (register it with add-store)")
        hooks = audience_webhooks(services, store, api_url)
        secret = current_webhook_secret(services, store)
    except AudienceWebhookRefused as error:
        print(f"commerce-sync {COMMAND}: error: {error}", file=sys.stderr)
        return 2
    try:
        if action == "create":
            _check_reachable(hooks.url(store, secret))
            state = hooks.ensure(store, secret)
        elif action == "delete":
            state = hooks.remove(store, secret)
        else:
            state = hooks.state(store, secret)
    except MailchimpError as error:
        print(f"commerce-sync {COMMAND}: error: Mailchimp refused: {error}", file=sys.stderr)
        return 1
    except ApiUnreachable as error:
        print(f"commerce-sync {COMMAND}: error: {error}", file=sys.stderr)
        return 1
    _print(state, action, as_json, out)
    if action == "delete":
        return 0
    return 0 if state.status == "registered" else 1


def follow_rotation(store_id: str, out: TextIO | None = None) -> int:
    """After the store's signing secret was rotated: a registered audience webhook (now at the old key) is registered
    again at the new key and the old one deleted (the receiver takes the old key only for the grace period). One that
    was never registered is left so. 0 when nothing more is needed, 1 when the operator must re-register by hand."""
    out = out or sys.stdout
    services = Services.from_environment()
    store = services.registry.get(store_id)
    if store is None:
        return 0
    try:
        hooks = audience_webhooks(services, store, None)
        secret = current_webhook_secret(services, store)
        state = hooks.state(store, secret)
        if state.status == "missing":
            return 0
        # The rotation function registers it again itself (a scheduled rotation has no operator); this makes sure.
        state = hooks.ensure(store, secret)
    except (AudienceWebhookRefused, MailchimpError) as error:
        print(
            f"the audience webhook was not re-registered ({error}): run `commerce-sync {COMMAND} {store_id} --create`",
            file=sys.stderr,
        )
        return 1
    print("audience webhook re-registered at the new key", file=out)
    return 0


def status_view(services: Services, store: Store) -> dict[str, Any]:
    """What `commerce-sync status` shows of the store's audience webhook: its status and masked address, or why it
    could not be read."""
    try:
        state = audience_webhooks(services, store, None).state(store, current_webhook_secret(services, store))
    except AudienceWebhookRefused as error:
        return {"status": "unknown", "error": str(error)}
    except Exception as error:
        return {"status": "unknown", "error": f"{type(error).__name__}: {str(error)[:200]}"}
    return {"status": state.status, "address": state.address, "webhook_id": state.webhook_id}


def _print(state: AudienceWebhookState, action: str, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(state.to_json(), indent=2), file=out)
        return
    print(f"store {state.store_id}: audience {state.list_id}", file=out)
    if action == "delete":
        print(f"  deleted {state.deleted} audience webhook(s)", file=out)
        return
    made = " (created now)" if state.created else ""
    print(f"  audience webhook: {state.status}{made}  {state.address}", file=out)
    if state.deleted:
        print(f"  deleted {state.deleted} stale webhook(s)", file=out)
    if state.status == "stale":
        print(
            f"  registered at an old key or address: run `commerce-sync {COMMAND} {state.store_id} --create`", file=out
        )
    elif state.status == "missing":
        print(f"  not registered: run `commerce-sync {COMMAND} {state.store_id} --create`", file=out)
