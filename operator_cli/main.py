"""`commerce-sync`: the operator CLI.

Configuration comes from the environment the functions use (STORES_TABLE, MAILCHIMP_SECRET_ARN,
MAILCHIMP_API_URL, AWS_ENDPOINT_URL, ...), from `--stack NAME` (a deployed stack's outputs), or from
`--env-file` (the file the local runner writes). Secrets are read from standard input or a prompt,
never from arguments, so they stay out of shell history.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)
from commerce_sync.accounts.connections import AccountCheckFailed
from commerce_sync.accounts.oauth import DEFAULT_INVITE_DAYS, OAuthApp, OAuthRefused
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, WebhookSubscriptions
from commerce_sync.mailchimp.credentials import CredentialsError, MailchimpCredentials
from commerce_sync.platforms.hooks import CLIENT_SECRET_PLATFORMS
from commerce_sync.platforms.shopify.api import API_VERSION as SHOPIFY_API_VERSION

from operator_cli import audience_webhooks as audience_webhooks_cli
from operator_cli import catalog as catalog_cli
from operator_cli import dead_letters, store_admin
from operator_cli import history as history_cli
from operator_cli import privacy as privacy_cli
from operator_cli import replay as replay_cli
from operator_cli import rotation as rotation_cli
from operator_cli import segments as segments_cli
from operator_cli import status as status_cli
from operator_cli import webhooks as webhooks_cli
from operator_cli.credentials import CredentialsInputError, connection_of, parse_credentials, prompt_credentials
from operator_cli.help_texts import example_options
from operator_cli.mailchimp_accounts import connect_link, save_oauth_app, set_mailchimp_key
from operator_cli.stores import (
    CheckRefused,
    MissingFields,
    NewStore,
    Registration,
    StoreError,
    add_store,
    find_store,
    generate_webhook_secret,
    set_credentials,
)
from operator_cli.terminal import print_json, print_table

# Powertools' switch (aws_lambda_powertools.shared.constants.METRICS_DISABLED_ENV).
METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"

STACK_OUTPUTS_TO_ENV = {
    "StoresTableName": "STORES_TABLE",
    "MailchimpApiKeySecretArn": "MAILCHIMP_SECRET_ARN",
    "SyncStateTableName": "SYNC_STATE_TABLE",
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
    "EventBusName": "EVENT_BUS_NAME",
    "EventArchiveName": "EVENT_ARCHIVE_NAME",
    "MailchimpOAuthAppSecretArn": "MAILCHIMP_OAUTH_SECRET_ARN",
    "ApiUrl": "COMMERCE_SYNC_API_URL",
    # `privacy export --request` reads a data request's kept export there.
    "ClaimCheckBucketName": "CLAIM_CHECK_BUCKET",
    **{
        f"{name}Url": f"{variable_prefix}_URL"
        for name, variable_prefix in {
            "CartEventsQueue": "CART_EVENTS_QUEUE",
            "CartEventsDeadLetterQueue": "CART_EVENTS_DEAD_LETTER_QUEUE",
            "OrderStatusQueue": "ORDER_STATUS_QUEUE",
            "OrderStatusDeadLetterQueue": "ORDER_STATUS_DEAD_LETTER_QUEUE",
            "ProductSyncQueue": "PRODUCT_SYNC_QUEUE",
            "ProductSyncDeadLetterQueue": "PRODUCT_SYNC_DEAD_LETTER_QUEUE",
        }.items()
    },
}


def load_env_file(path: Path) -> None:
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(name.strip(), value.strip().strip("'\""))


def load_stack_outputs(stack: str) -> None:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        variable = STACK_OUTPUTS_TO_ENV.get(output["OutputKey"])
        if variable:
            os.environ.setdefault(variable, output["OutputValue"])


def _read_secret(prompt: str, from_stdin: bool) -> str:
    try:
        value = sys.stdin.readline().strip() if from_stdin else getpass.getpass(prompt)
    except EOFError:  # a prompt without a terminal, its input closed
        value = ""
    if not value:
        # A refusal like the others (exit code 2, README): nothing has been written yet.
        print("commerce-sync: error: an empty secret was given (nothing was saved)", file=sys.stderr)
        raise SystemExit(2)
    return value


# How add-store names what a new store lacks: by the option that gives it.
OPTION_OF_FIELD = {
    "platform": "--platform",
    "identity": "--identity",
    "name": "--name",
    "list_id": "--list-id",
    "currency_code": "--currency",
    "webhook_secret": "a webhook secret (--webhook-secret-stdin or --generate-webhook-secret)",
}


def _error(command: str, message: str) -> int:
    print(f"commerce-sync {command}: error: {message}", file=sys.stderr)
    return 2


def _add_store_error(message: str) -> int:
    return _error("add-store", message)


def _refusal(error: StoreError) -> str:
    """A StoreError for the operator; a refused check also says that nothing was saved, and how to go on."""
    if not isinstance(error, CheckRefused):
        return str(error)
    advice = "; try again later, or add --skip-check to save without checking" if error.transient else ""
    return f"{error} (nothing was saved{advice})"


def _credentials(platform: str, from_stdin: bool) -> dict[str, str]:
    """The platform API credentials from stdin, or else from one hidden prompt per field."""
    connection = connection_of(platform)
    if from_stdin:
        return parse_credentials(sys.stdin.read(), connection)
    return prompt_credentials(connection)


def _add_store(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    given = NewStore(
        store_id=arguments.store_id,
        platform=arguments.platform,
        identity=arguments.identity,
        name=arguments.name,
        list_id=arguments.list_id,
        currency_code=arguments.currency,
        platform_api_url=arguments.platform_api_url,
        platform_api_version=arguments.platform_api_version,
        domain=arguments.domain,
        double_opt_in=arguments.double_opt_in,
        consent_from_mailchimp=arguments.consent_from_mailchimp,
        pending_then_paid=arguments.pending_then_paid,
        erase_on_customer_delete=arguments.erase_on_customer_delete,
        erasure_member=arguments.erasure_member,
        segments=arguments.segments,
        webhook_subscriptions=arguments.webhook_subscriptions,
        webhook_address=arguments.webhook_address,
    )
    existing = find_store(settings, arguments.store_id)
    anew = arguments.replace or existing is None
    # Checked before any prompt, so a missing option is reported before a secret is typed.
    missing = [name for name in given.missing_for_new() if name != "webhook_secret"] if anew else []
    if missing:
        state = "registered anew (--replace)" if arguments.replace else "new"
        return _add_store_error(
            f"store {arguments.store_id} is {state}; it needs {', '.join(OPTION_OF_FIELD[name] for name in missing)}"
        )
    platform = arguments.platform or (existing.platform if existing else None)
    wants_client_secret = arguments.client_secret_stdin or arguments.client_secret_prompt
    if wants_client_secret and platform not in CLIENT_SECRET_PLATFORMS:
        return _add_store_error(f"a client secret is kept for BigCommerce stores only; this store is {platform}")
    other_stdin = [
        option
        for option, given_on_stdin in (
            ("--webhook-secret-stdin", arguments.webhook_secret_stdin),
            ("--client-secret-stdin", arguments.client_secret_stdin),
            ("--mailchimp-api-key-stdin", arguments.mailchimp_api_key_stdin),
        )
        if given_on_stdin
    ]
    if arguments.credentials_stdin and other_stdin:
        return _add_store_error(
            f"--credentials-stdin and {' and '.join(other_stdin)} cannot share stdin: use --generate-webhook-secret "
            "or the prompts, or set the credentials afterwards with `commerce-sync stores set-credentials`"
        )
    if arguments.generate_webhook_secret:
        given.webhook_secret = generate_webhook_secret()
    elif arguments.webhook_secret_stdin or anew:
        given.webhook_secret = _read_secret("Webhook signing secret: ", arguments.webhook_secret_stdin)
    if wants_client_secret:
        prompt = "Client secret of the BigCommerce app (not shown): "
        given.client_secret = _read_secret(prompt, arguments.client_secret_stdin)
    if arguments.mailchimp_api_key_stdin or arguments.mailchimp_api_key_prompt:
        prompt = "API key of the store's own Mailchimp account (not shown): "
        try:
            given.mailchimp_credentials = MailchimpCredentials.api_key(
                _read_secret(prompt, arguments.mailchimp_api_key_stdin)
            )
        except CredentialsError:
            return _add_store_error("the Mailchimp API key is not of the form <key>-<datacenter> (e.g. …-us21)")
    try:
        if arguments.credentials_stdin or arguments.prompt_credentials:
            given.platform_api_credentials = _credentials(platform or "", arguments.credentials_stdin)
        registration = add_store(
            settings,
            given,
            create_in_mailchimp=not arguments.skip_mailchimp,
            replace=arguments.replace,
            check=not arguments.skip_check,
        )
    except CredentialsInputError as error:
        return _add_store_error(str(error))
    except MissingFields as error:
        return _add_store_error(
            f"{error.reason}; it needs {', '.join(OPTION_OF_FIELD.get(name, name) for name in error.fields)}"
        )
    except StoreError as error:
        return _add_store_error(_refusal(error))
    store = registration.store
    lines: list[str] = []
    if registration.created:
        outcome = "registered"
        lines.append(f"store {store.store_id} registered for {store.platform_identity} (audience {store.list_id})")
    elif registration.changed:
        outcome = "replaced" if arguments.replace else "updated"
        lines.append(f"store {store.store_id} {outcome}: {', '.join(registration.changed)}")
    else:
        outcome = "unchanged"
        lines.append(f"store {store.store_id}: nothing to change")
    result: dict[str, Any] = {
        "store_id": store.store_id,
        "outcome": outcome,
        "changed": list(registration.changed),
        "platform": store.platform,
        "identity": store.identity,
        "list_id": store.list_id,
        "mailchimp_account": store.mailchimp_account,
    }
    if given.platform_api_credentials is not None:
        lines.append(_credentials_outcome(registration, checked=not arguments.skip_check))
        result["platform_api_credentials"] = _credentials_json(registration, checked=not arguments.skip_check)
    if given.mailchimp_credentials is not None:
        lines.append(_account_outcome(store))
    if arguments.generate_webhook_secret:
        # Shown once so it can be pasted into the platform's webhook settings; it is not logged.
        lines.append(f"webhook signing secret (configure it on the platform now): {given.webhook_secret}")
        result["webhook_secret"] = given.webhook_secret
    _print_result(arguments, result, lines)
    return 0


def _print_result(arguments: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> None:
    """A command's outcome: `result` as one JSON document with --json, else `lines` for the operator."""
    if arguments.json:
        print_json(result)
    else:
        print("\n".join(lines))


def _set_credentials(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    command = "stores set-credentials"
    store = find_store(settings, arguments.store_id)
    if store is None:
        return _error(command, f"store {arguments.store_id} is not registered (register it with add-store)")
    try:
        credentials = _credentials(store.platform, arguments.stdin)
        registration = set_credentials(settings, store.store_id, credentials, check=not arguments.skip_check)
    except CredentialsInputError as error:
        return _error(command, str(error))
    except StoreError as error:
        return _error(command, _refusal(error))
    checked = not arguments.skip_check
    result = {"store_id": store.store_id, "platform_api_credentials": _credentials_json(registration, checked)}
    _print_result(arguments, result, [_credentials_outcome(registration, checked)])
    return 0


def _account_outcome(store: Store) -> str:
    if store.mailchimp_secret_id:
        return f"store {store.store_id} writes to its own Mailchimp account {store.mailchimp_account_id}"
    return (
        f"store {store.store_id} writes to the deployment's default Mailchimp account (the key is of that account, so "
        "no secret of its own was made)"
    )


def _set_mailchimp_key(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    command = "stores set-mailchimp-key"
    if find_store(settings, arguments.store_id) is None:
        return _error(command, f"store {arguments.store_id} is not registered (register it with add-store)")
    prompt = f"API key of the Mailchimp account of {arguments.store_id} (not shown): "
    try:
        credentials = MailchimpCredentials.api_key(_read_secret(prompt, arguments.stdin))
    except CredentialsError:
        return _error(command, "the Mailchimp API key is not of the form <key>-<datacenter> (e.g. …-us21)")
    try:
        store, resumed = set_mailchimp_key(settings, arguments.store_id, credentials)
    except AccountCheckFailed as error:
        return _error(command, f"{error} (nothing was saved)")
    result = {
        "store_id": store.store_id,
        "mailchimp_account": store.mailchimp_account,
        "own_account": bool(store.mailchimp_secret_id),
        "parked_events_resumed": resumed,
    }
    _print_result(arguments, result, [_account_outcome(store), f"{resumed} parked event(s) put back on the bus"])
    return 0


def _mailchimp_app(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    secret = _read_secret("Client secret of the Mailchimp OAuth app (not shown): ", arguments.client_secret_stdin)
    try:
        save_oauth_app(settings, OAuthApp(arguments.client_id, secret))
    except OAuthRefused as error:
        return _error("mailchimp-app", str(error))
    line = f"Mailchimp OAuth app {arguments.client_id} saved; merchants connect with `commerce-sync connect-mailchimp`"
    _print_result(arguments, {"client_id": arguments.client_id, "saved": True}, [line])
    return 0


def _connect_mailchimp(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    try:
        now = time.time()
        link = connect_link(settings, arguments.store_id, arguments.valid_days, arguments.api_url, now=now)
    except (OAuthRefused, AccountCheckFailed) as error:
        return _error("connect-mailchimp", str(error))
    expires = datetime.fromtimestamp(int(now + arguments.valid_days * 86400), UTC)  # as the invite says
    result = {
        "store_id": arguments.store_id,
        "link": link,
        "valid_days": arguments.valid_days,
        "expires_at": expires.isoformat(timespec="seconds"),
    }
    lines = [f"Send this link to the merchant of {arguments.store_id} (valid {arguments.valid_days:g} days):", link]
    _print_result(arguments, result, lines)
    return 0


def _credentials_outcome(registration: Registration, checked: bool) -> str:
    store = registration.store
    saved = registration.created or "platform_api_credentials" in registration.changed
    state = "saved" if saved else "unchanged"
    how = f"accepted by the {store.platform} API" if checked else "not checked (--skip-check)"
    return f"store {store.store_id}: platform API credentials {state}, {how}"


def _credentials_json(registration: Registration, checked: bool) -> dict[str, Any]:
    saved = registration.created or "platform_api_credentials" in registration.changed
    return {"saved": saved, "checked": checked, "platform": registration.store.platform}


def _rotate(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    client = rotation_cli.secretsmanager()
    local = rotation_cli.is_local(arguments.local)
    store = None
    staged: str | None = None

    def notice(line: str) -> None:
        # With --json, stdout holds the one document; what happens on the way is for the operator.
        print(line, file=sys.stderr if arguments.json else sys.stdout)

    try:
        if arguments.target == "mailchimp-key":
            if not settings.mailchimp_secret_arn:
                raise rotation_cli.RotationCliError("MAILCHIMP_SECRET_ARN is not set (use --stack or --env-file)")
            secret_id = settings.mailchimp_secret_arn
            if arguments.store:
                secret_id = rotation_cli.account_key_secret(client, settings, arguments.store)
            key = _read_secret("New Mailchimp API key (made in Mailchimp, not shown): ", arguments.stdin)
            rotation_cli.stage_mailchimp_key(client, secret_id, key)
            staged = "mailchimp_key"
            notice("new Mailchimp key staged")
        else:
            store = rotation_cli.store_by_id(settings, arguments.store_id)
            secret_id = store.secret_id
            if arguments.target == "shopify-secret" and store.platform != "shopify":
                raise rotation_cli.RotationCliError(
                    f"store {store.store_id} is a {store.platform} store; shopify-secret is for Shopify stores (its "
                    f"webhook secret rotates with `commerce-sync rotate store-secret {store.store_id}`)"
                )
            supplied = arguments.target == "shopify-secret" or getattr(arguments, "supply", False) or arguments.stdin
            if arguments.target == "bigcommerce-client-secret":
                if store.platform not in CLIENT_SECRET_PLATFORMS:
                    raise rotation_cli.RotationCliError(
                        f"store {store.store_id} is a {store.platform} store; only BigCommerce stores keep a client "
                        f"secret (its webhook secret rotates with `commerce-sync rotate store-secret {store.store_id}`)"
                    )
                prompt = f"The BigCommerce app's new client secret for {store.store_id} (not shown): "
                rotation_cli.stage_client_secret(client, store, _read_secret(prompt, arguments.stdin))
                staged = "client_secret"
                notice("new client secret staged")
            elif supplied or rotation_cli.must_be_supplied(store):
                prompt = f"New signing secret for {store.store_id} (not shown): "
                rotation_cli.stage_webhook_secret(client, secret_id, _read_secret(prompt, arguments.stdin))
                staged = "webhook_secret"
                notice("new webhook secret staged")
        # The rotation function runs here when local: with --json its log lines must not reach stdout.
        with catalog_cli.function_output_to(sys.stderr) if arguments.json else nullcontext():
            outcome = rotation_cli.rotate(
                client,
                secret_id,
                settings,
                local,
                every_days=arguments.every_days,
                restart=arguments.restart,
                function_arn=arguments.rotation_function_arn,
                wait_seconds=arguments.wait,
                say=notice,
            )
    except rotation_cli.RotationCliError as error:
        return _error(command_name(arguments), str(error))
    lines = [f"{outcome.secret_name}: {outcome.message}"]
    result: dict[str, Any] = {
        "target": arguments.target,
        "store_id": store.store_id if store is not None else getattr(arguments, "store", None),
        "secret": outcome.secret_name,
        "version_id": outcome.version_id,
        "promoted": outcome.promoted,
        "message": outcome.message,
        "staged": staged,
    }
    if outcome.promoted and arguments.target == "mailchimp-key":
        revoke = "now revoke the previous key in Mailchimp (Profile → Extras → API keys)"
        lines.append(revoke)
        result["next_step"] = revoke
    if outcome.promoted and store is not None and arguments.target != "bigcommerce-client-secret":
        # The audience webhook's key is derived from the signing secret (docs/consent.md): it follows. With --json its
        # line goes to stderr, so stdout stays one document.
        audience_webhooks_cli.follow_rotation(store.store_id, out=sys.stderr if arguments.json else sys.stdout)
    if outcome.promoted and store is not None and getattr(arguments, "show_secret", False):
        # Shown once, for a sender that cannot be updated through an API (the WooCommerce cart plugin).
        shown = rotation_cli.current_webhook_secret(client, secret_id)
        lines.append(f"new webhook signing secret: {shown}")
        result["webhook_secret"] = shown
    _print_result(arguments, result, lines)
    return 0 if outcome.promoted else 1


def _rotation_status(arguments: argparse.Namespace) -> int:
    rows = rotation_cli.rotation_status(Settings.from_environment())
    if arguments.json:
        print(rotation_cli.status_as_json(rows))
    else:
        print_table(rotation_cli.format_status(rows))
    return 0


def _sync_products(arguments: argparse.Namespace) -> int:
    return catalog_cli.sync_products(
        arguments.store, arguments.stack, arguments.wait, what=["products"], as_json=arguments.json
    )


def _sync_catalog(arguments: argparse.Namespace) -> int:
    if arguments.store_id and arguments.store and arguments.store_id != arguments.store:
        raise SystemExit("commerce-sync sync-catalog: error: name the store once (STORE or --store, not both)")
    return catalog_cli.sync_products(
        arguments.store_id or arguments.store,
        arguments.stack,
        arguments.wait,
        what=arguments.what,
        as_json=arguments.json,
    )


def _catalog_status(arguments: argparse.Namespace) -> int:
    return catalog_cli.catalog_status(arguments.store, arguments.json)


def _backfill(arguments: argparse.Namespace) -> int:
    return history_cli.backfill(
        arguments.store_id, arguments.since, arguments.resources, arguments.stack, arguments.wait, arguments.json
    )


def _reconcile(arguments: argparse.Namespace) -> int:
    return history_cli.reconcile(arguments.store, arguments.stack, arguments.json, wait=arguments.wait)


def _webhooks(arguments: argparse.Namespace) -> int:
    return webhooks_cli.run(arguments.store_id, arguments.create, arguments.address, arguments.json)


def _replay(arguments: argparse.Namespace) -> int:
    return replay_cli.run(
        arguments.start, arguments.end, arguments.store, arguments.types, arguments.dry_run, arguments.json
    )


def _status(arguments: argparse.Namespace) -> int:
    return status_cli.run(
        arguments.wait_idle, arguments.timeout, arguments.json, arguments.store, arguments.skip_mailchimp
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="commerce-sync", description=__doc__.splitlines()[0])
    root.add_argument("--stack", help="read table and secret names from this CloudFormation stack's outputs")
    root.add_argument("--env-file", type=Path, help="read settings from a file (the local runner writes one)")
    commands = root.add_subparsers(dest="command", required=True)

    add = commands.add_parser(
        "add-store",
        help="register a store, or update a registered one (and create it in Mailchimp if missing)",
        description=(
            "Registers a store. For a store id already registered, only what is given changes: its platform API "
            "credentials, webhook secret and other options are kept (the secret gets no new version unless it "
            "changes). --replace registers it anew instead."
        ),
        **example_options(
            'add-store --store-id my-shop --name "My Shop EU" --double-opt-in',
            "add-store --platform woocommerce --identity https://woo.example.com --store-id my-woo --name "
            '"My Woo" --list-id a1b2c3d4e5 --currency EUR --generate-webhook-secret --json',
        ),
    )
    add.add_argument("--store-id", required=True, help="the Mailchimp store id (≤ 50 characters)")
    new_only = "needed for a new store"
    add.add_argument(
        "--platform", choices=["shopify", "woocommerce", "bigcommerce", "api2cart", "canonical"], help=new_only
    )
    add.add_argument("--identity", help=f"shop domain, site URL, store hash or (canonical) store id; {new_only}")
    add.add_argument("--name", help=new_only)
    add.add_argument("--list-id", help=f"the Mailchimp audience, fixed once the Mailchimp store exists; {new_only}")
    add.add_argument("--currency", help=f"ISO 4217 code, e.g. USD; {new_only}")
    add.add_argument(
        "--platform-api-url",
        help="the store's platform API address: Shopify https://SHOP.myshopify.com (or …/admin/api/VERSION), "
        "WooCommerce the site URL (or …/wp-json/wc/v3), BigCommerce https://api.bigcommerce.com/stores/HASH; "
        'default: from --identity; "" removes it',
    )
    add.add_argument(
        "--platform-api-version",
        help=f"Shopify Admin API version, YYYY-MM (default {SHOPIFY_API_VERSION}, or the one in --platform-api-url); "
        '"" goes back to the default',
    )
    add.add_argument("--domain", help='the storefront domain Mailchimp shows; "" removes it')
    add.add_argument(
        "--double-opt-in",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="new opted-in contacts confirm by e-mail (default for a new store: off; else kept)",
    )
    add.add_argument(
        "--consent-from-mailchimp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a contact's subscribe in Mailchimp grants marketing consent on the platform too; unsubscribes always "
        "withdraw it (docs/consent.md; default for a new store: off, else kept)",
    )
    add.add_argument(
        "--pending-then-paid",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send a new, already paid order as pending then paid (confirmation and invoice e-mails); "
        "default for a new store: off, else kept",
    )
    add.add_argument(
        "--erase-on-customer-delete",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the platform's deletion of a customer as an erasure request: their orders, carts and member leave "
        "Mailchimp for good (docs/privacy.md; default for a new store: off, else kept)",
    )
    add.add_argument(
        "--segments",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tag customers' audience members by their orders: VIP, At risk, One-time buyer, Advocate "
        "(docs/segments.md; default for a new store: off, else kept; --no-segments drops the store's rules). Tags "
        "can start the merchant's automations; rules and tag names: `commerce-sync segments STORE --set NAME=VALUE`",
    )
    add.add_argument(
        "--erasure-member",
        choices=["archive", "delete_permanent"],
        help="what an erasure does to the shopper's audience member (default for a new store: archive, else kept)",
    )
    add.add_argument(
        "--webhook-subscriptions",
        choices=[*(kind.value for kind in WebhookSubscriptions), ""],
        help="Shopify: how the store's webhook subscriptions are made. admin-api: through the Admin API with the "
        "store's access token (`commerce-sync webhooks --create` makes and records them), checked nightly and made "
        "again when Shopify removed one; app-config (the app's shopify.app.toml), shop-admin, eventbridge: not "
        'checked, with that reason (Shopify\'s API does not list them). Default: not recorded, not checked; "" '
        "removes it (docs/shopify.md)",
    )
    add.add_argument(
        "--webhook-address",
        help="Shopify: the address its subscriptions point at, where a missing one is made again (the stack's "
        'WebhookUrl for shopify, https://…/webhooks/shopify, or an EventBridge partner source ARN); "" removes it',
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="register a registered store anew: options not given go back to their defaults, and its secret holds "
        "only the new webhook secret (its platform API credentials are dropped)",
    )
    add.add_argument("--skip-mailchimp", action="store_true", help="do not create or update the store in Mailchimp")
    credentials = add.add_mutually_exclusive_group()
    credentials.add_argument(
        "--credentials-stdin",
        action="store_true",
        help="read the platform API credentials from stdin: JSON, name=value lines, or a lone access token "
        "(see README, Register a store); they replace the ones saved",
    )
    credentials.add_argument(
        "--prompt-credentials", action="store_true", help="ask for the platform API credentials (input hidden)"
    )
    add.add_argument(
        "--skip-check",
        action="store_true",
        help="save without checking the platform API credentials and the Mailchimp key and audience "
        "(one call each, made by default)",
    )
    secret = add.add_mutually_exclusive_group()
    secret.add_argument(
        "--webhook-secret-stdin",
        action="store_true",
        help="read the signing secret from stdin (a new store without this or --generate-webhook-secret prompts). "
        "A registered store's secret is better changed with `commerce-sync rotate`, which keeps accepting the old "
        "one for a grace period",
    )
    secret.add_argument("--generate-webhook-secret", action="store_true", help="generate one and print it once")
    client_secret = add.add_mutually_exclusive_group()
    client_secret.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="BigCommerce: read the client secret of the app that owns the hooks (BigCommerce signs deliveries with "
        "it) from stdin, on the line after the webhook secret's when --webhook-secret-stdin is given too. A "
        "registered store's is better changed with `commerce-sync rotate bigcommerce-client-secret`",
    )
    client_secret.add_argument(
        "--client-secret-prompt", action="store_true", help="BigCommerce: ask for the app's client secret (hidden)"
    )
    own_account = add.add_mutually_exclusive_group()
    own_account.add_argument(
        "--mailchimp-api-key-stdin",
        action="store_true",
        help="the store writes to its own Mailchimp account: read that account's API key from stdin (after the "
        "webhook and client secrets' lines when those come from stdin too). Checked with GET /ping and GET / (whose "
        "account it is) and the audience before anything is saved; kept in the account's own secret. Without it a "
        "new store uses the deployment's default account (docs/mailchimp-accounts.md)",
    )
    own_account.add_argument(
        "--mailchimp-api-key-prompt", action="store_true", help="ask for the store's own Mailchimp API key (hidden)"
    )
    add.add_argument(
        "--json", action="store_true", help="print the outcome as JSON (a generated webhook secret included, once)"
    )
    add.set_defaults(run=_add_store)

    stores = commands.add_parser("stores", help="manage registered stores")
    store_commands = stores.add_subparsers(dest="store_command", required=True)
    set_creds = store_commands.add_parser(
        "set-credentials",
        help="check a store's platform API credentials with one call and save them (prompt or --stdin)",
        description="Replaces the store's platform API credentials: Shopify access_token, WooCommerce consumer_key "
        "and consumer_secret, BigCommerce access_token. They are checked with one call to the store's API first; "
        "a refusal saves nothing.",
        **example_options("stores set-credentials my-shop --stdin", "stores set-credentials my-shop --stdin --json"),
    )
    set_creds.add_argument("store_id")
    set_creds.add_argument(
        "--stdin", action="store_true", help="read them from stdin (JSON, name=value lines, or a lone access token)"
    )
    set_creds.add_argument("--skip-check", action="store_true", help="save them without checking")
    set_creds.add_argument("--json", action="store_true", help="print the outcome as JSON (never the credentials)")
    set_creds.set_defaults(run=_set_credentials)
    set_key = store_commands.add_parser(
        "set-mailchimp-key",
        help="connect a store to its own Mailchimp account with an API key (prompt or --stdin); resumes a paused "
        "account",
        description="Checks the key (GET /ping, GET /, the store's audience) and saves it in the account's secret, "
        "shared by the stores of that account. A store already writing to another account is refused (move it with "
        "add-store --replace). A paused account's parked events are put back on the bus.",
        **example_options("stores set-mailchimp-key my-shop --stdin --json"),
    )
    set_key.add_argument("store_id")
    set_key.add_argument("--stdin", action="store_true", help="read the key from stdin")
    set_key.add_argument("--json", action="store_true", help="print the outcome as JSON (never the key)")
    set_key.set_defaults(run=_set_mailchimp_key)
    store_admin.add_commands(store_commands)

    app = commands.add_parser(
        "mailchimp-app",
        help="save the Mailchimp OAuth app (client id, client secret) merchants connect their accounts through",
        description="Register an app in Mailchimp (Profile → Extras → Registered apps) with the redirect URI the "
        "stack output MailchimpOAuthRedirectUri names, then give its client id and secret here "
        "(docs/mailchimp-accounts.md).",
        **example_options("mailchimp-app --client-id commerce-sync-local --client-secret-stdin --json"),
    )
    app.add_argument("--client-id", required=True)
    app.add_argument("--client-secret-stdin", action="store_true", help="read the client secret from stdin")
    app.add_argument("--json", action="store_true", help="print the outcome as JSON (never the client secret)")
    app.set_defaults(run=_mailchimp_app)

    connect = commands.add_parser(
        "connect-mailchimp",
        help="print the link a merchant opens to connect their own Mailchimp account to a store (OAuth)",
        **example_options("connect-mailchimp my-shop", "connect-mailchimp my-shop --valid-days 2 --json"),
    )
    connect.add_argument("store_id")
    connect.add_argument("--valid-days", type=float, default=DEFAULT_INVITE_DAYS, help="how long the link works")
    connect.add_argument(
        "--api-url", help="the HTTP API's base URL (default: COMMERCE_SYNC_API_URL, the stack output ApiUrl)"
    )
    connect.add_argument("--json", action="store_true", help="print the link and when it expires as JSON")
    connect.set_defaults(run=_connect_mailchimp)

    store_admin.add_list_alias(commands)
    dead_letters.add_command(commands)

    rotate = commands.add_parser("rotate", help="rotate a secret now (Mailchimp key, store webhook secret)")
    targets = rotate.add_subparsers(dest="target", required=True)
    mailchimp_key = targets.add_parser(
        "mailchimp-key",
        help="stage a key made in Mailchimp (prompt or --stdin) and rotate to it",
        **example_options("rotate mailchimp-key --stdin --json"),
    )
    mailchimp_key.add_argument(
        "--store",
        help="the key of this store's own Mailchimp account (shared by the stores of that account); default: the "
        "deployment's default key",
    )
    store_secret = targets.add_parser(
        "store-secret",
        help="rotate a store's webhook secret (generated and pushed for WooCommerce, BigCommerce)",
        **example_options(
            "rotate store-secret my-shop --stdin", "rotate store-secret my-bc-store --show-secret --json"
        ),
    )
    store_secret.add_argument("store_id")
    store_secret.add_argument("--supply", action="store_true", help="give the new secret yourself (prompt)")
    store_secret.add_argument(
        "--show-secret", action="store_true", help="print the new secret once (e.g. for the WooCommerce cart plugin)"
    )
    shopify_secret = targets.add_parser(
        "shopify-secret",
        help="stage the Shopify app's new client secret (prompt or --stdin) and rotate to it",
        **example_options("rotate shopify-secret my-shop --stdin --json"),
    )
    shopify_secret.add_argument("store_id")
    bigcommerce_client_secret = targets.add_parser(
        "bigcommerce-client-secret",
        help="stage the BigCommerce app's new client secret (prompt or --stdin) and rotate to it; the webhook "
        "secret (the hooks' header token) stays",
        **example_options("rotate bigcommerce-client-secret my-bc-store --stdin"),
    )
    bigcommerce_client_secret.add_argument("store_id")
    for target in (mailchimp_key, store_secret, shopify_secret, bigcommerce_client_secret):
        target.add_argument("--stdin", action="store_true", help="read the new key or secret from stdin")
        target.add_argument(
            "--local",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="run the steps here through the local runner's function (default: when AWS_ENDPOINT_URL is set)",
        )
        target.add_argument("--every-days", type=int, help="also set the rotation schedule (AutomaticallyAfterDays)")
        target.add_argument("--restart", action="store_true", help="abandon an unfinished rotation first")
        target.add_argument("--rotation-function-arn", help="the stack output KeyRotationFunctionArn")
        target.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the rotation (AWS)")
        target.add_argument(
            "--json",
            action="store_true",
            help="print the rotation's outcome as JSON (no secret value, but the one --show-secret asks for)",
        )
        target.set_defaults(run=_rotate)

    status = commands.add_parser(
        "rotation-status",
        help="rotation schedules and state of every secret (no values)",
        **example_options("rotation-status", "rotation-status --json"),
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_rotation_status)
    sync_catalog = commands.add_parser(
        "sync-catalog",
        help="run the catalog sync now: products and promotions (every active store, or one); shows progress",
        description="Runs the nightly catalog sync now in the product_sync function (docs/product-sync.md, "
        "docs/promotions.md): the store's products, then its discount rules and codes, each written to Mailchimp "
        "only when changed. --what limits a run to some of them.",
        **example_options("sync-catalog my-shop", "sync-catalog my-shop --what promotions --json"),
    )
    sync_catalog.add_argument("store_id", nargs="?", metavar="STORE", help="only this store (else every active one)")
    sync_catalog.add_argument("--store", help="the same as STORE")
    sync_catalog.add_argument(
        "--what",
        type=catalog_cli.parse_parts,
        default=None,
        metavar="PARTS",
        help="what to sync, comma-separated: products, promotions (default: both)",
    )
    sync_catalog.add_argument("--wait", action="store_true", help="deployed: follow the run until it finishes")
    sync_catalog.add_argument(
        "--json", action="store_true", help="print each store's run summary as JSON (progress goes to stderr)"
    )
    sync_catalog.set_defaults(run=_sync_catalog)
    products = commands.add_parser(
        "sync-products",
        help="run the catalog sync of products now (sync-catalog --what products); shows progress",
        **example_options("sync-products --store my-shop", "sync-products --store my-shop --json"),
    )
    products.add_argument("--store", help="only this store")
    products.add_argument("--wait", action="store_true", help="deployed: follow the run until it finishes")
    products.add_argument(
        "--json", action="store_true", help="print each store's run summary as JSON (progress goes to stderr)"
    )
    products.set_defaults(run=_sync_products)

    catalog = commands.add_parser(
        "catalog-status",
        help="last catalog run, run in progress, lock and batches",
        **example_options("catalog-status", "catalog-status --store my-shop --json"),
    )
    catalog.add_argument("--store", help="only this store")
    catalog.add_argument("--json", action="store_true")
    catalog.set_defaults(run=_catalog_status)

    backfill = commands.add_parser(
        "backfill",
        help="bring a store's history (products, customers, orders) into Mailchimp now; shows progress",
        description="Runs the store's backfill in the product_sync function (docs/history.md): products through the "
        "catalog sync, then customers, then orders updated since --since, written through Mailchimp batches while the "
        "Mailchimp store's is_syncing is on. One backfill per store at a time; an unfinished run is resumed.",
        **example_options("backfill my-shop", "backfill my-shop --resources customers,orders --json"),
    )
    backfill.add_argument("store_id")
    backfill.add_argument("--since", metavar="YYYY-MM-DD", help="from this day (UTC); default: six months ago")
    backfill.add_argument(
        "--resources", metavar="LIST", help="comma-separated, of products,customers,orders (default: all three)"
    )
    backfill.add_argument("--json", action="store_true", help="print the summary as JSON (progress goes to stderr)")
    backfill.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="follow the run until it finishes (default); --no-wait returns once it is started",
    )
    backfill.set_defaults(run=_backfill)

    reconcile = commands.add_parser(
        "reconcile",
        help="run the nightly reconciliation now (every active store, or --store): repair what webhooks missed",
        description="Runs each store's reconciliation in the product_sync function (docs/history.md) and follows it to "
        "its end, through the product queue when it nears the time limit; progress goes to stderr. One reconciliation "
        "per store at a time; an unfinished run is resumed.",
        **example_options("reconcile --store my-shop", "reconcile --store my-shop --json"),
    )
    reconcile.add_argument("--store", help="only this store")
    reconcile.add_argument("--json", action="store_true")
    reconcile.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="follow each run until it finishes (default); --no-wait returns once each is started (deployed) or its "
        "first slice is done (local runner), and `commerce-sync status STORE` shows how it goes on",
    )
    reconcile.set_defaults(run=_reconcile)

    hooks = commands.add_parser(
        "webhooks",
        help="a Shopify store's webhook subscriptions per topic commerce-sync needs; --create makes the missing ones",
        description="Lists the store's webhook subscriptions made through the Admin API (GET webhooks.json) against "
        "the topics commerce-sync needs, at the address. --create subscribes the missing ones there (POST "
        "webhooks.json, format json) and records in the store's registration that its subscriptions are made "
        "through the Admin API at that address, so the nightly reconciliation checks them and makes one Shopify "
        "removed again. Exit code 0 when every topic is subscribed, 1 when one is missing or was not created, 2 "
        "when refused before anything was asked of Shopify (docs/shopify.md).",
        **example_options("webhooks my-shop --create", "webhooks my-shop --json"),
    )
    hooks.add_argument("store_id")
    hooks.add_argument(
        "--create", action="store_true", help="subscribe the missing topics and record the store as so managed"
    )
    hooks.add_argument(
        "--address",
        help="where the subscriptions point (default: the store's registered address, else the API's "
        "…/webhooks/shopify: the stack output ApiUrl, or the local runner's)",
    )
    hooks.add_argument("--json", action="store_true")
    hooks.set_defaults(run=_webhooks)

    status = commands.add_parser(
        "status",
        help="queues, running invocations and each store at a glance; --wait-idle until all is done",
        description="Queues and running invocations, Mailchimp accounts and canonical imports, then per store (every "
        "registered store, or STORE): deliveries and outcomes in the last 24 h and each topic's last delivery, dead "
        "letters by error type, the last catalog sync, backfill and reconciliation (with its webhook check), the "
        "Mailchimp store and account, and the secrets' rotation state, with what needs attention. Exit code 0 when "
        "nothing needs attention, 1 when something does (without STORE also a dead-letter queue holding letters or a "
        "paused account), 2 for an unknown STORE; with --wait-idle 0 once idle and 1 when still busy at the timeout, "
        "whatever needs attention (docs/operator.md#status).",
        **example_options("status my-shop", "status my-shop --json --skip-mailchimp", "status --wait-idle"),
    )
    status.add_argument("store", nargs="?", metavar="STORE", help="only this store's section (default: every store)")
    status.add_argument(
        "--wait-idle", action="store_true", help="return once every queue is empty and nothing runs (exit 1 on timeout)"
    )
    status.add_argument("--timeout", type=float, default=300.0, help="seconds --wait-idle waits at most")
    status.add_argument(
        "--skip-mailchimp", action="store_true", help="do not read the Mailchimp stores (five reads per store)"
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)

    replay = commands.add_parser(
        "replay",
        help="replay a window of the bus archive through processing (only what was never applied writes)",
        **example_options(
            "replay --from 6h --dry-run",
            "replay --from 2026-12-01T08:00:00Z --to 2026-12-01T12:00:00Z --store my-shop",
            "replay --from 1d --types order.updated,order.refund --dry-run --json",
        ),
    )
    replay.add_argument("--from", dest="start", required=True, help="start: ISO date or date-time, or 90m, 6h, 2d ago")
    replay.add_argument("--to", dest="end", help="end (default: now), as --from")
    replay.add_argument("--store", help="only this store's events")
    replay.add_argument("--types", help="only these event types, comma-separated (e.g. order.updated,cart.updated)")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed; replay nothing")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(run=_replay)

    privacy_cli.add_commands(commands)
    segments_cli.add_commands(commands)
    audience_webhooks_cli.add_commands(commands)
    return root


# Where the README starts the local runner, which writes the settings file `--env-file` reads.
START_RUNNER = "`.venv/bin/commerce-sync-local --port 3000` in another terminal writes .local/runner.env"


def command_name(arguments: argparse.Namespace) -> str:
    """The words naming the command run, as its errors name it (`stores remove`, `rotate store-secret`)."""
    words = (
        arguments.command,
        *(getattr(arguments, dest, None) for dest in ("store_command", "target", "privacy_command")),
    )
    return " ".join(word for word in words if word)


def aws_trouble(error: BotoCoreError | ClientError) -> str:
    """An AWS failure no command handles itself, in plain words with what to do about it."""
    if isinstance(error, EndpointConnectionError):
        return (
            f"AWS could not be reached at {error.kwargs.get('endpoint_url')}: is the local runner running? "
            f"({START_RUNNER}; deployed, give --stack NAME without AWS_ENDPOINT_URL set)"
        )
    if isinstance(error, NoRegionError):
        return (
            "no AWS region is set: give --env-file .local/runner.env (the local runner's settings), or set "
            "AWS_DEFAULT_REGION (or a profile's region) with --stack NAME"
        )
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials were found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or log "
            "in with `aws sso login`"
        )
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "an error"), details.get("Message", "")
        if code in (
            "ResourceNotFoundException",
            "ValidationError",
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
        ):
            fix = (
                "check that --stack or --env-file names the deployment you mean (a local runner restarted since "
                "writes a new .local/runner.env)"
            )
        elif code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "ExpiredTokenException"):
            fix = "check the AWS credentials in use (AWS_PROFILE): they need the stack's read and write permissions"
        else:
            fix = "try again; if it persists, the message above says what AWS refused"
        return f"AWS answered {code} to {error.operation_name}: {message} ({fix})"
    return f"AWS could not be used: {error} (check --stack or --env-file, and the network)"


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    command = command_name(arguments)
    if arguments.env_file and not arguments.env_file.is_file():
        return _error(
            command,
            f"{arguments.env_file} does not exist: start the local runner first ({START_RUNNER}), or give "
            "--stack NAME for a deployed stack",
        )
    try:
        if arguments.env_file:
            load_env_file(arguments.env_file)
        if arguments.stack:
            load_stack_outputs(arguments.stack)
        with _metrics_off():
            return int(arguments.run(arguments))
    except (BotoCoreError, ClientError) as error:
        # What a command does not handle itself: the same exit code as before (1), without a traceback.
        print(f"commerce-sync {command}: error: {aws_trouble(error)}", file=sys.stderr)
        return 1


@contextmanager
def _metrics_off() -> Iterator[None]:
    """No CloudWatch metrics from the CLI: they would be printed to stdout as EMF documents, in the middle of its
    output (the layer's code counts what it does, and a handler the CLI runs in-process flushes its metrics).
    Restored afterwards, for a process that goes on (the tests run the CLI in theirs)."""
    previous = os.environ.get(METRICS_DISABLED)
    os.environ[METRICS_DISABLED] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(METRICS_DISABLED, None)
        else:
            os.environ[METRICS_DISABLED] = previous


if __name__ == "__main__":
    raise SystemExit(main())
