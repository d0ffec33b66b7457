"""Secrets from Secrets Manager through Powertools Parameters (cached), plus the reads key rotation needs (and
the deletion of an erased store's secret: `delete_secret`).

- `current()` always asks for VersionStage AWSCURRENT explicitly. Powertools' cache key ignores
  VersionStage, so every cached read here is an AWSCURRENT read and nothing else shares that cache.
  (Asking explicitly also keeps moto honest: after `rotate_secret` it serves its half-made pending
  version to reads that name no stage.)
- `staged()` and `signing_keyring()` read other stages (AWSPENDING, AWSPREVIOUS, the operator's
  COMMERCE_SYNC_STAGED) uncached from the SDK.
- The webhook receiver verifies against a *keyring*: the current signing secret, the pending one
  while a rotation runs, and the previous one for `WEBHOOK_SECRET_PREVIOUS_GRACE_SECONDS` after the
  rotation that retired it (docs/key-rotation.md). Each entry holds that version's `webhook_secret` and,
  for a BigCommerce store that keeps one, its `client_secret` (the key BigCommerce signs Standard Webhooks
  deliveries with), so both rotate with the same grace. The keyring is cached for the same short max_age as
  `current()`. On a signature miss it is checked at once with one DescribeSecret: versions are
  immutable, so when neither the stage map nor our tags changed (and no pending version was still
  waiting for its value) the cached keyring is exact and the miss is final; only a change costs the
  GetSecretValue reads. A delivery signed with a secret that a rotation staged a moment ago is thus never
  refused, and a flood of forged deliveries costs one DescribeSecret each (its quota is 40,000/s), no
  more than the refresh it replaces.

When did AWSPREVIOUS stop being current? Secret versions are immutable, so finishSecret cannot write
that time into the new version's JSON, and DescribeSecret's LastRotatedDate is Secrets Manager's own
bookkeeping (null while rotation is off, and not set when the steps are run outside the service, as
the local runner does). finishSecret therefore tags the secret, *before* it moves AWSCURRENT, with the
version it promotes and when (`commerce-sync:promoted-version`, `commerce-sync:promoted-at`). The
grace applies only while the promoted version is still AWSCURRENT, so a manual put-secret-value later
(no rotation) gives the version it replaced no grace at all. One DescribeSecret returns both the tags
and the stage map.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.exceptions import ClientError

from commerce_sync.aws.settings import Settings

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"
# The operator's next value (a Mailchimp key made in Mailchimp's UI, a Shopify client secret), put by
# the CLI as its own version under this label; AWSCURRENT is not touched until a rotation promotes it.
STAGED = "COMMERCE_SYNC_STAGED"
PROMOTED_VERSION_TAG = "commerce-sync:promoted-version"
PROMOTED_AT_TAG = "commerce-sync:promoted-at"

SIGNING_LABELS = ("current", "pending", "previous")
# The keys of a store secret's JSON that authenticate deliveries: the secret commerce-sync shares with the
# platform (a signing key, or BigCommerce's header token), and BigCommerce's app client secret, which
# BigCommerce keys its Standard Webhooks signatures with (docs/key-rotation.md, "Store secret layout").
WEBHOOK_SECRET = "webhook_secret"
CLIENT_SECRET = "client_secret"


class SecretFormatError(Exception):
    """A secret is not the JSON document this project expects (the message never holds its value)."""


def _parse(secret_id: str, stage: str, raw: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "null")
    except ValueError as error:
        raise SecretFormatError(f"secret {secret_id} ({stage}) is not JSON") from error
    return value if isinstance(value, dict) else None


def version_holding(stages: dict[str, list[str]], stage: str) -> str | None:
    """The version id a staging label is attached to (a label sits on one version at most)."""
    return next((version for version, labels in stages.items() if stage in labels), None)


def parse_promoted_at(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class SigningSecret:
    """One version's keys: `value` is its webhook_secret, `client_secret` its client secret when it holds
    one (BigCommerce stores registered with it; None for every other store)."""

    label: str
    value: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SigningKeyring:
    """The webhook secrets a store's deliveries may be signed with right now, labelled."""

    secrets: tuple[SigningSecret, ...]
    fetched_at: float
    previous_valid_until: float | None = None
    # What DescribeSecret said when this keyring was read (stage map and our tags), and whether a pending
    # version was still without its value (createSecret not done yet): then it must be read again.
    fingerprint: tuple[Any, ...] = ()
    awaiting_pending_value: bool = False

    def usable(self, now: float | None = None) -> list[SigningSecret]:
        """Without the previous secret once its grace has run out (even if this keyring is cached)."""
        moment = time.time() if now is None else now
        return [
            secret
            for secret in self.secrets
            if secret.label != "previous"
            or (self.previous_valid_until is not None and moment < self.previous_valid_until)
        ]


def delete_secret(client: Any, secret_id: str) -> bool:
    """Deletes a secret and every version of it at once (a recovery window would keep what was asked to go);
    False when there was none. `client` is a Secrets Manager client."""
    try:
        client.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


class SecretReader:
    def __init__(
        self,
        max_age_seconds: int = 60,
        client: Any | None = None,
        previous_grace_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client or boto3.client("secretsmanager")
        self._provider = SecretsProvider(boto3_client=self._client)
        self._max_age = max_age_seconds
        self._grace = (
            previous_grace_seconds
            if previous_grace_seconds is not None
            else Settings.from_environment().previous_secret_grace_seconds
        )
        self._clock = clock
        self._keyrings: dict[str, SigningKeyring] = {}
        self._lock = threading.Lock()

    # ---- AWSCURRENT (cached) -----------------------------------------------------------------------

    def current(self, secret_id: str, refresh: bool = False) -> dict[str, Any]:
        value = self._provider.get(
            secret_id, transform="json", max_age=self._max_age, force_fetch=refresh, VersionStage=AWSCURRENT
        )
        if not isinstance(value, dict):
            raise SecretFormatError(f"secret {secret_id} is not a JSON object")
        return value

    def mailchimp_api_key(self, secret_id: str, refresh: bool = False) -> str:
        api_key = self.current(secret_id, refresh=refresh).get("api_key")
        if not api_key:
            raise SecretFormatError(f"secret {secret_id} holds no api_key")
        return str(api_key)

    # ---- other stages (uncached) -------------------------------------------------------------------

    def staged(self, secret_id: str, stage: str, version_id: str | None = None) -> dict[str, Any] | None:
        """The version under `stage` (AWSPENDING, AWSPREVIOUS, STAGED), uncached; None when there is
        none, or when it has no value yet (Secrets Manager's placeholder before createSecret)."""
        arguments: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id:
            arguments["VersionId"] = version_id
        try:
            response = self._client.get_secret_value(**arguments)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "InvalidRequestException"):
                return None
            raise
        return _parse(secret_id, stage, response.get("SecretString"))

    # ---- webhook signing secrets ------------------------------------------------------------------

    def signing_keyring(self, secret_id: str, refresh: bool = False) -> SigningKeyring:
        """Cached for max_age; `refresh` (after a signature miss) checks it now with DescribeSecret and
        re-reads the values only if something changed."""
        now = self._clock()
        with self._lock:
            cached = self._keyrings.get(secret_id)
        if cached is not None and not refresh and now - cached.fetched_at < self._max_age:
            return cached
        description = self._client.describe_secret(SecretId=secret_id)
        fingerprint = _fingerprint(description)
        if cached is not None and cached.fingerprint == fingerprint and not cached.awaiting_pending_value:
            keyring = replace(cached, fetched_at=now)
        else:
            keyring = self._fetch_keyring(secret_id, description, fingerprint, now)
        with self._lock:
            self._keyrings[secret_id] = keyring
        return keyring

    def webhook_secrets(self, secret_id: str, include_staged: bool = False) -> list[str]:
        """The signing secrets usable now (see signing_keyring); `include_staged` forces a re-read."""
        return [secret.value for secret in self.signing_keyring(secret_id, refresh=include_staged).usable()]

    def _fetch_keyring(
        self, secret_id: str, description: Mapping[str, Any], fingerprint: tuple[Any, ...], now: float
    ) -> SigningKeyring:
        stages: dict[str, list[str]] = description.get("VersionIdsToStages") or {}
        tags = {tag["Key"]: tag["Value"] for tag in description.get("Tags") or []}
        current_id = version_holding(stages, AWSCURRENT)
        found: list[SigningSecret] = []

        def add(label: str, value: dict[str, Any] | None) -> None:
            secret, client_secret = (value or {}).get(WEBHOOK_SECRET), (value or {}).get(CLIENT_SECRET)
            entry = SigningSecret(label, str(secret or ""), str(client_secret) if client_secret else None)
            # A version that repeats a known one adds nothing; one that changes only the client secret (its
            # rotation keeps the header token) is a new entry.
            if secret and all((entry.value, entry.client_secret) != (k.value, k.client_secret) for k in found):
                found.append(entry)

        add("current", self.staged(secret_id, AWSCURRENT))
        pending_id = version_holding(stages, AWSPENDING)
        awaiting = False
        if pending_id and pending_id != current_id:
            pending = self.staged(secret_id, AWSPENDING, pending_id)
            awaiting = pending is None
            add("pending", pending)
        previous_id = version_holding(stages, AWSPREVIOUS)
        valid_until = None
        promoted_at = parse_promoted_at(tags.get(PROMOTED_AT_TAG))
        if previous_id and current_id and tags.get(PROMOTED_VERSION_TAG) == current_id and promoted_at is not None:
            valid_until = promoted_at + self._grace
            if now < valid_until:
                add("previous", self.staged(secret_id, AWSPREVIOUS, previous_id))
        return SigningKeyring(
            secrets=tuple(found),
            fetched_at=now,
            previous_valid_until=valid_until,
            fingerprint=fingerprint,
            awaiting_pending_value=awaiting,
        )


def _fingerprint(description: Mapping[str, Any]) -> tuple[Any, ...]:
    stages = description.get("VersionIdsToStages") or {}
    tags = {tag["Key"]: tag["Value"] for tag in description.get("Tags") or []}
    return (
        tuple(sorted((version, tuple(sorted(labels))) for version, labels in stages.items())),
        tags.get(PROMOTED_VERSION_TAG),
        tags.get(PROMOTED_AT_TAG),
    )
