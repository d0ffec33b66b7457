"""Rotating secrets from the CLI: staging an operator-supplied value, starting a rotation, showing status.

Staging. Mailchimp keys (and Shopify and BigCommerce client secrets, and canonical senders' secrets) can
only be made outside AWS, so the operator gives the new value to the CLI (prompt or stdin, never an argument) and
the CLI puts it as its own version of the secret under the label COMMERCE_SYNC_STAGED. AWSCURRENT is
not touched; the rotation function's createSecret copies the staged value under the rotation's token,
and finishSecret removes the label once the value is current.

Starting a rotation.
- In AWS: RotateSecret (RotateImmediately), after which Secrets Manager runs the four steps in the
  rotation function; the CLI waits until the new version is AWSCURRENT (or gives up waiting and says
  where to look). Store secrets get their schedule here (RotationRules), as the CLI creates them.
- Locally (`--local`, the default when AWS_ENDPOINT_URL is set): there is no Lambda service, and moto
  cannot run our code without Docker. The CLI asks moto's RotateSecret to do Secrets Manager's
  bookkeeping (the AWSPENDING placeholder version, RotationEnabled, the rules) with a stub Lambda
  function registered in moto, takes the token from its answer, and then runs createSecret, setSecret,
  testSecret and finishSecret itself through KeyRotationFunction's handler, loaded from template.yaml
  the way the local runner loads it. Unlike Secrets Manager it does not retry a failed step.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError
from commerce_sync.aws.secret_store import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    CLIENT_SECRET,
    PROMOTED_AT_TAG,
    PROMOTED_VERSION_TAG,
    STAGED,
    parse_promoted_at,
    version_holding,
)
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.mailchimp.credentials import KIND_OAUTH
from commerce_sync.platforms.hooks import CLIENT_SECRET_PLATFORMS, PUSHABLE_PLATFORMS
from commerce_sync.rotation.key_rotation import (
    KIND_MAILCHIMP,
    KIND_STORE,
    MAILCHIMP_KEY_PATTERN,
    MIN_WEBHOOK_SECRET_LENGTH,
    STEPS,
)
from rich.table import Table

from operator_cli.terminal import columns

DEFAULT_EVERY_DAYS = 90
LOCAL_STUB_FUNCTION = "commerce-sync-local-rotation-stub"
LOCAL_STUB_ROLE = "commerce-sync-local-rotation-stub"
ROTATION_FUNCTION = "KeyRotationFunction"

Invoke = Callable[[dict[str, Any]], Any]
Say = Callable[[str], None]


class RotationCliError(Exception):
    """What the operator must do differently; never holds a secret value."""


@dataclass
class Outcome:
    secret_name: str
    version_id: str
    promoted: bool
    message: str


def is_local(flag: bool | None) -> bool:
    """`--local`/`--no-local` when given, else local when AWS_ENDPOINT_URL points the CLI at an emulator."""
    return bool(os.environ.get("AWS_ENDPOINT_URL")) if flag is None else flag


def secretsmanager() -> Any:
    return boto3.client("secretsmanager")


# ---- staging ---------------------------------------------------------------------------------------------


def _current(client: Any, secret_id: str) -> dict[str, Any]:
    raw = client.get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT).get("SecretString") or "{}"
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise RotationCliError(
            f"secret {secret_id} is not a JSON object, so commerce-sync did not write it: put back its JSON value "
            "(docs/key-rotation.md, store secret layout) before rotating"
        )
    return value


def stage(client: Any, secret_id: str, value: dict[str, Any]) -> str:
    """Puts `value` as a new version labelled COMMERCE_SYNC_STAGED (the label moves off an older one)."""
    version_id = str(uuid.uuid4())
    client.put_secret_value(
        SecretId=secret_id, ClientRequestToken=version_id, SecretString=json.dumps(value), VersionStages=[STAGED]
    )
    return version_id


def account_key_secret(client: Any, settings: Settings, store_id: str) -> str:
    """The secret of the API key of the store's own Mailchimp account (docs/mailchimp-accounts.md)."""
    store = store_by_id(settings, store_id)
    if not store.mailchimp_secret_id:
        raise RotationCliError(
            f"store {store_id} uses the deployment's default Mailchimp key: rotate it without --store"
        )
    if _current(client, store.mailchimp_secret_id).get("kind") == KIND_OAUTH:
        raise RotationCliError(
            f"store {store_id}'s Mailchimp account is connected with OAuth: its token has no rotation, it is replaced "
            f"by connecting again (commerce-sync connect-mailchimp {store_id})"
        )
    return store.mailchimp_secret_id


def stage_mailchimp_key(client: Any, secret_id: str, api_key: str) -> str:
    api_key = api_key.strip()
    if not MAILCHIMP_KEY_PATTERN.fullmatch(api_key):
        raise RotationCliError("that is not a Mailchimp API key (expected <key>-<datacenter>, e.g. …-us21)")
    if api_key == _current(client, secret_id).get("api_key"):
        raise RotationCliError("that key is the current key; create a new key in Mailchimp first")
    return stage(client, secret_id, {"kind": KIND_MAILCHIMP, "api_key": api_key})


def stage_webhook_secret(client: Any, secret_id: str, webhook_secret: str) -> str:
    webhook_secret = webhook_secret.strip()
    if len(webhook_secret) < MIN_WEBHOOK_SECRET_LENGTH:
        raise RotationCliError(
            f"a webhook secret must have at least {MIN_WEBHOOK_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)"
        )
    if webhook_secret == _current(client, secret_id).get("webhook_secret"):
        raise RotationCliError("that secret is the current one: give a new one (e.g. `openssl rand -hex 32`)")
    return stage(client, secret_id, {"kind": KIND_STORE, "webhook_secret": webhook_secret})


def stage_client_secret(client: Any, store: Store, client_secret: str) -> str:
    """Stages a BigCommerce app's client secret (from its developer portal) alone: the rotation keeps the
    store's webhook secret (the hooks' header token) and changes only the key signatures are checked with."""
    if store.platform not in CLIENT_SECRET_PLATFORMS:
        raise RotationCliError(f"store {store.store_id} is a {store.platform} store; only BigCommerce stores keep one")
    client_secret = client_secret.strip()
    if len(client_secret) < MIN_WEBHOOK_SECRET_LENGTH:
        raise RotationCliError(f"a client secret must have at least {MIN_WEBHOOK_SECRET_LENGTH} characters")
    if client_secret == _current(client, store.secret_id).get(CLIENT_SECRET):
        raise RotationCliError(
            "that client secret is the current one: rotate it in the BigCommerce app first (Developer Portal), then "
            "give the new one"
        )
    return stage(client, store.secret_id, {"kind": KIND_STORE, CLIENT_SECRET: client_secret})


def must_be_supplied(store: Store) -> bool:
    """Stores whose signing secret is set on the sender's side: the operator must supply the new one."""
    return store.platform not in PUSHABLE_PLATFORMS


# ---- running a rotation ----------------------------------------------------------------------------------


def _pending_has_value(client: Any, secret_id: str, version_id: str) -> bool:
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=version_id, VersionStage=AWSPENDING)
        return True
    except ClientError:
        return False


def clear_abandoned_rotation(client: Any, secret_id: str, restart: bool, say: Say) -> None:
    """AWSPENDING left on a version other than AWSCURRENT makes RotateSecret refuse ("previous rotation
    in progress"). A placeholder without a value (a rotation whose createSecret failed, e.g. no Mailchimp
    key staged) is cleared; a pending version with a value is cleared only with `restart`."""
    description = client.describe_secret(SecretId=secret_id)
    stages = description.get("VersionIdsToStages") or {}
    pending, current = version_holding(stages, AWSPENDING), version_holding(stages, AWSCURRENT)
    if not pending or pending == current:
        return
    if _pending_has_value(client, secret_id, pending) and not restart:
        raise RotationCliError(
            f"a rotation of {description['Name']} is in progress or failed after creating version {pending}. Check "
            "`commerce-sync rotation-status` and the rotation function's logs; rerun with --restart to abandon it "
            "(its value is never promoted)"
        )
    client.update_secret_version_stage(SecretId=secret_id, VersionStage=AWSPENDING, RemoveFromVersionId=pending)
    say(f"abandoned the unfinished rotation of {description['Name']} (version {pending})")


def _rules(description: dict[str, Any], every_days: int | None) -> dict[str, Any] | None:
    if every_days is not None:
        return {"AutomaticallyAfterDays": every_days}
    if description.get("RotationEnabled"):
        return None
    return {"AutomaticallyAfterDays": DEFAULT_EVERY_DAYS}


def rotation_function_arn(client: Any, secret_id: str, settings: Settings, explicit: str | None) -> str:
    """The rotation function: given, or the secret's own, or the one the template set on the Mailchimp
    secret's schedule (the stack output KeyRotationFunctionArn)."""
    if explicit:
        return explicit
    for candidate in (secret_id, settings.mailchimp_secret_arn):
        if candidate:
            arn = client.describe_secret(SecretId=candidate).get("RotationLambdaARN")
            if arn:
                return str(arn)
    raise RotationCliError(
        "no rotation function is known; pass --rotation-function-arn (stack output KeyRotationFunctionArn)"
    )


def rotate_in_aws(
    client: Any,
    secret_id: str,
    settings: Settings,
    every_days: int | None = None,
    function_arn: str | None = None,
    wait_seconds: float = 120.0,
    say: Say = print,
) -> Outcome:
    description = client.describe_secret(SecretId=secret_id)
    arguments: dict[str, Any] = {"SecretId": secret_id, "RotateImmediately": True}
    rules = _rules(description, every_days)
    if rules or not description.get("RotationLambdaARN"):
        arguments["RotationLambdaARN"] = rotation_function_arn(client, secret_id, settings, function_arn)
    if rules:
        arguments["RotationRules"] = rules
    token = client.rotate_secret(**arguments)["VersionId"]
    say(f"rotation of {description['Name']} started (version {token}); Secrets Manager runs the four steps")
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
        if AWSCURRENT in stages.get(token, []):
            return Outcome(description["Name"], token, True, "the new version is AWSCURRENT")
        time.sleep(2)
    return Outcome(
        description["Name"],
        token,
        False,
        f"not finished after {wait_seconds:.0f}s: Secrets Manager may still be retrying. The rotation function's "
        "log group (…-key_rotation) says why a step failed; AWSCURRENT is unchanged until finishSecret",
    )


def ensure_local_stub(endpoint_url: str, region: str) -> str:
    """A Lambda function in moto that moto's RotateSecret accepts and "invokes" as a no-op (moto's simple
    Lambda backend); our steps are then run for real by the CLI. Only for moto server."""
    try:
        answer = requests.post(f"{endpoint_url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
        answer.raise_for_status()
    except requests.RequestException as error:
        raise RotationCliError(f"--local needs moto server at AWS_ENDPOINT_URL ({endpoint_url}): {error}") from error
    iam = boto3.client("iam", endpoint_url=endpoint_url, region_name=region)
    lambdas = boto3.client("lambda", endpoint_url=endpoint_url, region_name=region)
    try:
        return str(lambdas.get_function(FunctionName=LOCAL_STUB_FUNCTION)["Configuration"]["FunctionArn"])
    except ClientError:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        role = iam.create_role(RoleName=LOCAL_STUB_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except ClientError:
        role = iam.get_role(RoleName=LOCAL_STUB_ROLE)["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("stub.py", "def handler(event, context):\n    return None\n")
    try:
        created = lambdas.create_function(
            FunctionName=LOCAL_STUB_FUNCTION,
            Runtime="python3.13",
            Role=role,
            Handler="stub.handler",
            Code={"ZipFile": package.getvalue()},
            Description="moto only: lets RotateSecret start a rotation whose steps the CLI runs itself",
        )
        return str(created["FunctionArn"])
    except ClientError:
        return str(lambdas.get_function(FunctionName=LOCAL_STUB_FUNCTION)["Configuration"]["FunctionArn"])


def start_local_rotation(client: Any, secret_id: str, every_days: int | None = None) -> str:
    """moto's RotateSecret with the stub: the AWSPENDING placeholder and the rules, as Secrets Manager
    makes them. moto turns RotationEnabled on only for AutomaticallyAfterDays, so rules are always sent."""
    endpoint = client.meta.endpoint_url
    stub = ensure_local_stub(endpoint, client.meta.region_name)
    description = client.describe_secret(SecretId=secret_id)
    days = every_days or (description.get("RotationRules") or {}).get("AutomaticallyAfterDays") or DEFAULT_EVERY_DAYS
    answer = client.rotate_secret(
        SecretId=secret_id,
        RotationLambdaARN=stub,
        RotationRules={"AutomaticallyAfterDays": int(days)},
        RotateImmediately=True,
    )
    return str(answer["VersionId"])


def run_steps(invoke: Invoke, secret_arn: str, token: str, steps: tuple[str, ...] = STEPS) -> None:
    """The steps in order, as Secrets Manager sends them; the first failure propagates."""
    for step in steps:
        invoke({"Step": step, "SecretId": secret_arn, "ClientRequestToken": token})


def local_function_invoker() -> Invoke:
    """KeyRotationFunction's handler, loaded from template.yaml as the local runner loads it; it reads its
    configuration from this process's environment (the runner's env file)."""
    from local_runner.functions import LocalFunction
    from local_runner.runner import DEFAULT_TEMPLATE, PROJECT_ROOT
    from local_runner.template import Template

    template = Template(DEFAULT_TEMPLATE, {"MailchimpApiUrl": os.environ.get("MAILCHIMP_API_URL", "")})
    spec = next(spec for spec in template.functions() if spec.logical_id == ROTATION_FUNCTION)
    return LocalFunction(spec, PROJECT_ROOT).invoke


def rotate_locally(
    client: Any, secret_id: str, every_days: int | None = None, invoke: Invoke | None = None, say: Say = print
) -> Outcome:
    description = client.describe_secret(SecretId=secret_id)
    arn, name = description["ARN"], description["Name"]
    token = start_local_rotation(client, secret_id, every_days)
    say(f"local rotation of {name} (version {token}): running the four steps through {ROTATION_FUNCTION}")
    try:
        run_steps(invoke or local_function_invoker(), arn, token)
    except Exception as error:
        return Outcome(name, token, False, f"{type(error).__name__}: {error}. AWSCURRENT is unchanged")
    return Outcome(name, token, True, "the new version is AWSCURRENT")


def rotate(
    client: Any,
    secret_id: str,
    settings: Settings,
    local: bool,
    every_days: int | None = None,
    restart: bool = False,
    function_arn: str | None = None,
    wait_seconds: float = 120.0,
    invoke: Invoke | None = None,
    say: Say = print,
) -> Outcome:
    clear_abandoned_rotation(client, secret_id, restart, say)
    if local:
        return rotate_locally(client, secret_id, every_days, invoke, say)
    return rotate_in_aws(client, secret_id, settings, every_days, function_arn, wait_seconds, say)


# ---- status ----------------------------------------------------------------------------------------------


@dataclass
class SecretStatus:
    secret: str
    kind: str
    store_id: str | None
    rotation_enabled: bool
    schedule: str | None
    last_rotated: str | None
    next_rotation: str | None
    rotation: str
    staged: bool
    previous_accepted_until: str | None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def secret_status(
    client: Any, secret_id: str, kind: str, settings: Settings, store_id: str | None = None
) -> SecretStatus:
    description = client.describe_secret(SecretId=secret_id)
    stages: dict[str, list[str]] = description.get("VersionIdsToStages") or {}
    current, pending = version_holding(stages, AWSCURRENT), version_holding(stages, AWSPENDING)
    if not pending or pending == current:
        state = "idle"
    elif _pending_has_value(client, secret_id, pending):
        state = f"in progress or failed: version {pending} created, not promoted"
    else:
        state = f"started or failed before createSecret (version {pending} has no value)"
    rules = description.get("RotationRules") or {}
    schedule = rules.get("ScheduleExpression") or (
        f"every {rules['AutomaticallyAfterDays']} days" if rules.get("AutomaticallyAfterDays") else None
    )
    previous_until = None
    tags = {tag["Key"]: tag["Value"] for tag in description.get("Tags") or []}
    promoted_at = parse_promoted_at(tags.get(PROMOTED_AT_TAG))
    promoted_is_current = tags.get(PROMOTED_VERSION_TAG) == current
    if kind == KIND_STORE and version_holding(stages, AWSPREVIOUS) and promoted_at is not None and promoted_is_current:
        previous_until = _iso(datetime.fromtimestamp(promoted_at + settings.previous_secret_grace_seconds, UTC))
    return SecretStatus(
        secret=str(description["Name"]),
        kind=kind,
        store_id=store_id,
        rotation_enabled=bool(description.get("RotationEnabled")),
        schedule=schedule,
        last_rotated=_iso(description.get("LastRotatedDate")),
        next_rotation=_iso(description.get("NextRotationDate")),
        rotation=state,
        staged=any(STAGED in labels for labels in stages.values()),
        previous_accepted_until=previous_until,
    )


def rotation_status(settings: Settings, client: Any | None = None) -> list[SecretStatus]:
    client = client or secretsmanager()
    rows = []
    if settings.mailchimp_secret_arn:
        rows.append(secret_status(client, settings.mailchimp_secret_arn, KIND_MAILCHIMP, settings))
    stores = StoreRegistry(settings.stores_table).list()
    for account_secret in sorted({store.mailchimp_secret_id for store in stores if store.mailchimp_secret_id}):
        rows.append(secret_status(client, account_secret, KIND_MAILCHIMP, settings))
    for store in stores:
        try:
            rows.append(secret_status(client, store.secret_id, KIND_STORE, settings, store.store_id))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            rows.append(
                SecretStatus(
                    store.secret_id, KIND_STORE, store.store_id, False, None, None, None, str(code), False, None
                )
            )
    return rows


def status_as_json(rows: list[SecretStatus]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2)


def format_status(rows: list[SecretStatus]) -> Table:
    lines = []
    for row in rows:
        schedule = row.schedule if row.rotation_enabled else "no schedule"
        extra = []
        if row.staged:
            extra.append("a new value is staged")
        if row.previous_accepted_until:
            extra.append(f"previous secret accepted until {row.previous_accepted_until}")
        lines.append(
            (
                row.store_id or "mailchimp",
                row.kind,
                schedule or "-",
                row.last_rotated or "never",
                row.rotation,
                "; ".join(extra),
            )
        )
    return columns(lines, "STORE", "KIND", "SCHEDULE", "LAST ROTATED", "ROTATION", "NOTES")


# ---- what the CLI's `rotate` command does ------------------------------------------------------------------


def store_by_id(settings: Settings, store_id: str) -> Store:
    store = StoreRegistry(settings.stores_table).get(store_id)
    if store is None:
        raise RotationCliError(f"no store {store_id} is registered (`commerce-sync stores list` lists them)")
    return store


def current_webhook_secret(client: Any, secret_id: str) -> str:
    return str(_current(client, secret_id).get("webhook_secret") or "")
