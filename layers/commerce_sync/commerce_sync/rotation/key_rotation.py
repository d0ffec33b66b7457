"""Secrets Manager rotation of commerce-sync's secrets: the four steps, keyed by ClientRequestToken.

Secrets Manager calls the rotation function once per step with `{Step, SecretId, ClientRequestToken}`
and may call any step again, so every step here is safe to repeat:

- the gate (every step): rotation must be enabled on the secret, the token must be one of its
  versions, and that version must be AWSPENDING. A version that is already AWSCURRENT means the
  rotation is done: nothing to do (finishSecret only tidies labels).
- createSecret: when the token's version already has a value, nothing; else the new value is made
  and put under the token with AWSPENDING (never a generated ClientRequestToken).
- setSecret: pushes the pending value where the platform's API allows; "set to X", so repeatable.
- testSecret: proves the pending value works; read-only.
- finishSecret: moves AWSCURRENT to the token (Secrets Manager puts AWSPREVIOUS on the old one) and
  removes AWSPENDING from it (AWS does that itself; moto does not, and would then refuse the next
  rotation).

Every failure raises RotationError with a message that says what to do and never holds a secret
value; AWSCURRENT is only ever moved by the last line of finishSecret, so a failure leaves it as it was.

Two kinds of secret, told apart by the `kind` field of their JSON:

- `mailchimp_api_key` (`{"kind", "api_key", "account_id"?}`): Mailchimp has no API to create keys, so
  createSecret takes the key the operator made in Mailchimp's UI and staged with the CLI (a version
  labelled COMMERCE_SYNC_STAGED) and fails clearly when there is none. testSecret calls `/ping` and
  `GET /` with it and requires the account_id of the current key. finishSecret promotes it and says
  that the old key can now be revoked in Mailchimp's UI.
- `store_webhook_secret` (`{"kind", "webhook_secret", "client_secret"?, "platform_api_credentials", ...}`,
  named `<STORE_SECRET_PREFIX><store_id>`): a staged secret when the operator gave one, else (WooCommerce,
  BigCommerce) a generated one; setSecret pushes it to the store's webhooks (platform_hooks);
  Shopify's secret is the app's client secret and a canonical sender's is configured on the sender, so
  those must be staged. A BigCommerce store's `client_secret` (the app's, which BigCommerce signs
  Standard Webhooks deliveries with) is set in BigCommerce's developer portal, so it too is only ever
  staged; its rotation keeps the webhook secret, and pushes nothing. finishSecret tags the secret with
  the version it promotes and when, which is how the webhook receiver bounds the grace of the previous
  secret (secret_store).

On the configuration check that Secrets Manager runs when a schedule is set without rotating
(RotateImmediately false: testSecret only, on an AWSPENDING version holding a copy of AWSCURRENT —
or no value at all), testSecret checks the current secret instead: an empty Mailchimp key (the
template's default) passes with a warning, a Mailchimp key that is set must answer; a store secret
must have a signing secret and a registered store.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.secret_store import (
    AWSCURRENT,
    AWSPENDING,
    CLIENT_SECRET,
    PROMOTED_AT_TAG,
    PROMOTED_VERSION_TAG,
    STAGED,
    WEBHOOK_SECRET,
    SecretReader,
    version_holding,
)
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.consent.registration import AudienceWebhooks, registered_api_url
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy
from commerce_sync.mailchimp.credentials import KIND_OAUTH, MailchimpCredentials
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError
from commerce_sync.platforms.hooks import CLIENT_SECRET_PLATFORMS, PUSHABLE_PLATFORMS, PlatformHooks
from commerce_sync.platforms.http import PlatformApiError
from commerce_sync.platforms.secret_push import HookPushError

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
KIND_MAILCHIMP = "mailchimp_api_key"
KIND_STORE = "store_webhook_secret"
GENERATED_SECRET_LENGTH = 48
MIN_WEBHOOK_SECRET_LENGTH = 16
# The template's own pattern for MailchimpApiKey: the key, a dash, the datacenter.
MAILCHIMP_KEY_PATTERN = re.compile(r"^[0-9A-Za-z]{8,64}-[a-z]{2,4}[0-9]{1,3}$")

NO_MAILCHIMP_KEY_STAGED = (
    "no new Mailchimp API key is staged. Mailchimp has no API to create keys: create one in Mailchimp "
    "(Profile → Extras → API keys), then run `commerce-sync rotate mailchimp-key`, which stages it and starts "
    "the rotation. AWSCURRENT is unchanged"
)


class RotationError(Exception):
    """A rotation step cannot go on. AWSCURRENT is untouched; the message holds no secret value."""


class RotationNotEnabled(RotationError):
    pass


class VersionNotPending(RotationError):
    pass


class NothingStaged(RotationError):
    """The new value must come from the operator, and none (or only the current one) was staged."""


class NewSecretRejected(RotationError):
    """The pending value failed its test; it is never promoted."""


class PlatformPushFailed(RotationError):
    pass


def secret_kind(value: dict[str, Any]) -> str:
    kind = value.get("kind")
    if kind in (KIND_MAILCHIMP, KIND_STORE):
        return str(kind)
    if kind is None and "api_key" in value:
        return KIND_MAILCHIMP
    if kind is None and "webhook_secret" in value:
        return KIND_STORE
    if kind == KIND_OAUTH:
        raise RotationError(
            "this Mailchimp account is connected with OAuth: its token never expires and has no rotation; it is "
            "replaced by connecting the account again (commerce-sync connect-mailchimp STORE)"
        )
    raise RotationError(f"the secret's kind {kind!r} is not one this function rotates ({KIND_MAILCHIMP}, {KIND_STORE})")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class SecretState:
    """DescribeSecret, the parts the steps use."""

    arn: str
    name: str
    rotation_enabled: bool
    stages: dict[str, list[str]]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def current_version(self) -> str | None:
        return version_holding(self.stages, AWSCURRENT)


@dataclass(frozen=True)
class Staged:
    version_id: str
    value: dict[str, Any] = field(repr=False)


@dataclass
class StepContext:
    secret: SecretState
    token: str
    rotation_token: str | None
    current: dict[str, Any] = field(repr=False)


MailchimpFactory = Callable[[str], MailchimpClient]


class KeyRotation:
    """The gate and the four steps; what differs per kind is in the rotators below."""

    def __init__(
        self,
        client: Any,
        settings: Settings,
        registry: StoreRegistry,
        hooks: PlatformHooks | None = None,
        mailchimp_factory: MailchimpFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        self.registry = registry
        self.hooks = hooks or PlatformHooks()
        self.clock = clock
        self.reader = SecretReader(max_age_seconds=0, client=client, previous_grace_seconds=0)
        self.mailchimp = mailchimp_factory or self._mailchimp_client
        self.rotators: dict[str, Rotator] = {
            KIND_MAILCHIMP: MailchimpKeyRotator(self),
            KIND_STORE: StoreSecretRotator(self),
        }

    @classmethod
    def from_environment(cls) -> KeyRotation:
        settings = Settings.from_environment()
        return cls(boto3.client("secretsmanager"), settings, StoreRegistry(settings.stores_table))

    def _mailchimp_client(self, api_key: str) -> MailchimpClient:
        return MailchimpClient(
            api_key=api_key,
            base_url=self.settings.mailchimp_api_url,
            read_timeout=self.settings.mailchimp_read_timeout,
            retry=RetryPolicy(
                total=self.settings.mailchimp_retries, backoff_factor=self.settings.mailchimp_backoff_factor
            ),
        )

    def store_mailchimp(self, store: Store) -> MailchimpClient:
        """The client of the Mailchimp account the store writes to (its own, or the deployment's default)."""
        secret_id = store.mailchimp_secret_id or self.settings.mailchimp_secret_arn
        if not secret_id:
            raise RotationError(f"store {store.store_id} has no Mailchimp secret to reach its account with")
        value = self.reader.staged(secret_id, AWSCURRENT)
        if value is None:
            raise RotationError(f"the Mailchimp secret of store {store.store_id} has no AWSCURRENT value")
        return MailchimpCredentials.from_secret(secret_id, value).client(
            self.settings.mailchimp_api_url,
            read_timeout=self.settings.mailchimp_read_timeout,
            retry=RetryPolicy(
                total=self.settings.mailchimp_retries, backoff_factor=self.settings.mailchimp_backoff_factor
            ),
        )

    # ---- the gate -----------------------------------------------------------------------------------

    def rotate(self, step: str, secret_id: str, token: str, rotation_token: str | None = None) -> None:
        if step not in STEPS:
            raise RotationError(f"unknown rotation step {step!r}; expected one of {', '.join(STEPS)}")
        secret = self.describe(secret_id)
        logger.append_keys(secret_name=secret.name, version_id=token, step=step)
        if not secret.rotation_enabled:
            raise RotationNotEnabled(f"rotation is not enabled on secret {secret.name}")
        labels = secret.stages.get(token)
        if labels is None:
            raise VersionNotPending(f"version {token} is not a version of secret {secret.name}")
        current = self.reader.staged(secret.arn, AWSCURRENT)
        if current is None:
            raise RotationError(f"secret {secret.name} has no AWSCURRENT value to rotate from")
        kind = secret_kind(current)
        logger.append_keys(kind=kind)
        rotator = self.rotators[kind]
        context = StepContext(secret=secret, token=token, rotation_token=rotation_token, current=current)
        if AWSCURRENT in labels:
            if step == "finishSecret":
                self._tidy(context, rotator)
            logger.info("the version is already AWSCURRENT; nothing to do")
            return
        if AWSPENDING not in labels:
            raise VersionNotPending(f"version {token} of secret {secret.name} is not AWSPENDING (labels: {labels})")
        {
            "createSecret": self.create_secret,
            "setSecret": self.set_secret,
            "testSecret": self.test_secret,
            "finishSecret": self.finish_secret,
        }[step](context, rotator)

    # ---- the steps ----------------------------------------------------------------------------------

    def create_secret(self, context: StepContext, rotator: Rotator) -> None:
        if self.pending(context) is not None:
            logger.info("createSecret: the pending version already has its value")
            return
        value = rotator.create(context)
        arguments: dict[str, Any] = {
            "SecretId": context.secret.arn,
            "ClientRequestToken": context.token,
            "SecretString": json.dumps(value),
            "VersionStages": [AWSPENDING],
        }
        if context.rotation_token:
            arguments["RotationToken"] = context.rotation_token
        try:
            self.client.put_secret_value(**arguments)
        except ClientError as error:
            # A concurrent createSecret got there first (AWS: same token, other value).
            if _error_code(error) != "ResourceExistsException" or self.pending(context) is None:
                raise
        logger.info("createSecret: pending version created", origin=value.get("origin"))

    def set_secret(self, context: StepContext, rotator: Rotator) -> None:
        rotator.set(context, self.require_pending(context))

    def test_secret(self, context: StepContext, rotator: Rotator) -> None:
        pending = self.pending(context)
        if pending is None or pending == context.current:
            # Secrets Manager's configuration check (a schedule set with RotateImmediately false):
            # its AWSPENDING version is a copy of AWSCURRENT, or has no value. Nothing new to test.
            rotator.check_configuration(context)
            logger.info("testSecret: configuration check passed (no new value in this version)")
            return
        rotator.test(context, pending)
        logger.info("testSecret: the pending value passed")

    def finish_secret(self, context: StepContext, rotator: Rotator) -> None:
        pending = self.require_pending(context)
        rotator.before_finish(context)
        self.client.update_secret_version_stage(
            SecretId=context.secret.arn,
            VersionStage=AWSCURRENT,
            MoveToVersionId=context.token,
            RemoveFromVersionId=context.secret.current_version,
        )
        self._drop_pending_label(context)
        rotator.release_staged(context, pending)
        rotator.announce(context, pending)
        logger.info(
            "finishSecret: the pending version is now AWSCURRENT", previous_version=context.secret.current_version
        )

    def _tidy(self, context: StepContext, rotator: Rotator) -> None:
        """finishSecret repeated after it succeeded: only what the first one may not have finished."""
        if AWSPENDING in context.secret.stages.get(context.token, []):
            self._drop_pending_label(context)
        rotator.release_staged(context, context.current)

    # ---- Secrets Manager --------------------------------------------------------------------------

    def describe(self, secret_id: str) -> SecretState:
        description = self.client.describe_secret(SecretId=secret_id)
        return SecretState(
            arn=description["ARN"],
            name=description["Name"],
            rotation_enabled=bool(description.get("RotationEnabled")),
            stages=description.get("VersionIdsToStages") or {},
            tags={tag["Key"]: tag["Value"] for tag in description.get("Tags") or []},
        )

    def pending(self, context: StepContext) -> dict[str, Any] | None:
        return self.reader.staged(context.secret.arn, AWSPENDING, version_id=context.token)

    def require_pending(self, context: StepContext) -> dict[str, Any]:
        pending = self.pending(context)
        if pending is None:
            raise RotationError(f"version {context.token} has no value: createSecret has not run for it")
        return pending

    def staged(self, context: StepContext) -> Staged | None:
        try:
            response = self.client.get_secret_value(SecretId=context.secret.arn, VersionStage=STAGED)
        except ClientError as error:
            if _error_code(error) in ("ResourceNotFoundException", "InvalidRequestException"):
                return None
            raise
        try:
            value = json.loads(response.get("SecretString") or "null")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise RotationError(
                f"the value staged on secret {context.secret.name} is not a JSON object; stage it again"
            )
        return Staged(version_id=response["VersionId"], value=value)

    def unstage(self, context: StepContext, staged: Staged) -> None:
        try:
            self.client.update_secret_version_stage(
                SecretId=context.secret.arn, VersionStage=STAGED, RemoveFromVersionId=staged.version_id
            )
        except ClientError as error:
            logger.warning("could not remove the staging label", error_code=_error_code(error))

    def _drop_pending_label(self, context: StepContext) -> None:
        try:
            self.client.update_secret_version_stage(
                SecretId=context.secret.arn, VersionStage=AWSPENDING, RemoveFromVersionId=context.token
            )
        except ClientError as error:
            # Already gone (Secrets Manager removes it itself after finishSecret).
            logger.debug("AWSPENDING was not on the version any more", error_code=_error_code(error))

    def random_secret(self) -> str:
        answer = self.client.get_random_password(
            PasswordLength=GENERATED_SECRET_LENGTH,
            ExcludePunctuation=True,  # WooCommerce HTML-decodes secrets; letters and digits sign the same everywhere
            IncludeSpace=False,
            RequireEachIncludedType=True,
        )
        return str(answer["RandomPassword"])

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Rotator:
    """What one kind of secret does at each step."""

    def __init__(self, rotation: KeyRotation) -> None:
        self.rotation = rotation

    def create(self, context: StepContext) -> dict[str, Any]:
        raise NotImplementedError

    def set(self, context: StepContext, pending: dict[str, Any]) -> None:
        raise NotImplementedError

    def test(self, context: StepContext, pending: dict[str, Any]) -> None:
        raise NotImplementedError

    def check_configuration(self, context: StepContext) -> None:
        raise NotImplementedError

    def before_finish(self, context: StepContext) -> None:
        return None

    def announce(self, context: StepContext, promoted: dict[str, Any]) -> None:
        return None

    def release_staged(self, context: StepContext, promoted: dict[str, Any]) -> None:
        """Removes the staging label once its value is current (every key it gives holds the promoted
        value), so the next rotation needs a new one. A value staged again meanwhile (different) is left
        for the next rotation."""
        staged = self.rotation.staged(context)
        given = {key: value for key, value in (staged.value if staged else {}).items() if key != "kind"}
        if staged is not None and given and all(promoted.get(key) == value for key, value in given.items()):
            self.rotation.unstage(context, staged)


class MailchimpKeyRotator(Rotator):
    def create(self, context: StepContext) -> dict[str, Any]:
        staged = self.rotation.staged(context)
        key = str((staged.value if staged else {}).get("api_key") or "").strip()
        if not key:
            raise NothingStaged(NO_MAILCHIMP_KEY_STAGED)
        if not MAILCHIMP_KEY_PATTERN.fullmatch(key):
            raise NewSecretRejected(
                "the staged Mailchimp key is not of the form <key>-<datacenter> (e.g. …-us21); stage it again"
            )
        if key == context.current.get("api_key"):
            raise NothingStaged(
                "the staged Mailchimp key is the current key; create a new key in Mailchimp and stage it"
            )
        value: dict[str, Any] = {"kind": KIND_MAILCHIMP, "api_key": key}
        account_id = self._account_of_current(context, quiet=True) or context.current.get("account_id")
        if account_id:
            # Recorded so that a later rotation can still check the account if this key is revoked first.
            value["account_id"] = account_id
        return value

    def set(self, context: StepContext, pending: dict[str, Any]) -> None:
        logger.info("setSecret: nothing to push (Mailchimp keys are made and revoked in Mailchimp's UI)")

    def test(self, context: StepContext, pending: dict[str, Any]) -> None:
        new_account = self._account(str(pending.get("api_key") or ""), "new")
        expected = self._account_of_current(context, quiet=False) or pending.get("account_id")
        expected = expected or context.current.get("account_id")
        if not expected:
            if context.current.get("api_key"):
                raise RotationError(
                    "the current Mailchimp key is refused and no account_id is recorded, so the new key's account "
                    "cannot be checked; the new key is not promoted"
                )
            logger.warning("testSecret: no current Mailchimp key; the new key's account becomes the account")
            return
        if new_account != expected:
            raise NewSecretRejected(
                "the new Mailchimp key belongs to a different Mailchimp account than the current key; it is not "
                "promoted. Create the key in the account commerce-sync already uses and stage it again"
            )

    def check_configuration(self, context: StepContext) -> None:
        key = str(context.current.get("api_key") or "")
        if not key:
            logger.warning(
                "the Mailchimp secret holds no API key yet; the configuration check passes. Stage the first key "
                "with `commerce-sync rotate mailchimp-key`"
            )
            return
        self._account(key, "current")

    def announce(self, context: StepContext, promoted: dict[str, Any]) -> None:
        metrics.add_metric(name="MailchimpKeyRevocationDue", unit="Count", value=1)
        logger.warning(
            "new Mailchimp API key promoted. Revoke the previous key in Mailchimp (Profile → Extras → API keys) "
            "once the functions have picked up the new one (they re-read it within SECRET_MAX_AGE_SECONDS, and at "
            "once on a 401)",
            previous_version=context.secret.current_version,
            action_required="revoke_previous_mailchimp_key",
        )

    def _account(self, api_key: str, which: str) -> str:
        """account_id from GET / after GET /ping, with `api_key`; errors name the key only as `which`."""
        if not MAILCHIMP_KEY_PATTERN.fullmatch(api_key):
            raise NewSecretRejected(f"the {which} Mailchimp key is not of the form <key>-<datacenter>")
        try:
            client = self.rotation.mailchimp(api_key)
            client.ping()
            account_id = (client.account() or {}).get("account_id")
        except MailchimpAuthError as error:
            raise NewSecretRejected(f"Mailchimp refused the {which} API key ({error.status} {error.title})") from error
        except MailchimpError as error:
            raise RotationError(
                f"could not reach Mailchimp to test the {which} key ({error.status} {error.title}); try again"
            ) from error
        if not account_id:
            raise NewSecretRejected(f"Mailchimp named no account for the {which} key (GET / without account_id)")
        return str(account_id)

    def _account_of_current(self, context: StepContext, quiet: bool) -> str | None:
        key = str(context.current.get("api_key") or "")
        if not key:
            return None
        try:
            return self._account(key, "current")
        except NewSecretRejected:
            logger.warning("the current Mailchimp key is refused; using the account_id recorded in the secret")
            return None
        except RotationError:
            if quiet:
                return None
            raise


class StoreSecretRotator(Rotator):
    def store(self, context: StepContext) -> Store:
        prefix = self.rotation.settings.store_secret_prefix
        if not context.secret.name.startswith(prefix):
            raise RotationError(f"secret {context.secret.name} is not named {prefix}<store_id>")
        store_id = context.secret.name[len(prefix) :]
        store = self.rotation.registry.get(store_id)
        if store is None:
            raise RotationError(f"no store {store_id} is registered for secret {context.secret.name}")
        logger.append_keys(store_id=store.store_id, platform=store.platform)
        return store

    def create(self, context: StepContext) -> dict[str, Any]:
        """What the operator staged (a webhook secret, a BigCommerce client secret, or both) replaces the
        current value's; with nothing staged, a webhook secret is generated where it can be pushed."""
        store = self.store(context)
        staged = self.rotation.staged(context)
        given = staged.value if staged else {}
        new = str(given.get(WEBHOOK_SECRET) or "")
        client_secret = str(given.get(CLIENT_SECRET) or "")
        if new and new == context.current.get(WEBHOOK_SECRET):
            raise NothingStaged("the staged webhook secret is the current one; stage the new secret")
        if client_secret and client_secret == context.current.get(CLIENT_SECRET):
            raise NothingStaged("the staged client secret is the current one; stage the app's new client secret")
        value = {**context.current, "kind": KIND_STORE}
        if client_secret:
            self._check_client_secret(client_secret, store, context)
            value[CLIENT_SECRET] = client_secret
        if new:
            self._check(new, context)
            value.update({WEBHOOK_SECRET: new, "origin": "operator"})
        elif client_secret:
            pass  # a client secret of its own: the header token stays as it is
        elif store.platform in PUSHABLE_PLATFORMS:
            value.update({WEBHOOK_SECRET: self.rotation.random_secret(), "origin": "generated"})
        else:
            raise NothingStaged(
                f"a {store.platform} store's signing secret is set on the sender's side (Shopify: the app's client "
                f"secret, rotated by the merchant), so it must be staged: run `commerce-sync rotate "
                f"{'shopify-secret' if store.platform == 'shopify' else 'store-secret --supply'} {store.store_id}`. "
                "AWSCURRENT is unchanged"
            )
        return value

    def set(self, context: StepContext, pending: dict[str, Any]) -> None:
        store = self.store(context)
        if pending.get(WEBHOOK_SECRET) == context.current.get(WEBHOOK_SECRET):
            # Only the client secret is new, and BigCommerce already signs with it (it comes from there).
            logger.info("setSecret: the webhook secret is unchanged; nothing to push")
            return
        if store.platform not in PUSHABLE_PLATFORMS:
            logger.info(
                f"setSecret: nothing to push; {store.platform} already signs with the secret the operator staged"
            )
            return
        credentials = context.current.get("platform_api_credentials") or {}
        try:
            result = self.rotation.hooks.push(
                store, credentials, str(pending["webhook_secret"]), context.current.get("webhook_secret")
            )
        except HookPushError as error:
            raise PlatformPushFailed(f"{error}. AWSCURRENT is unchanged and still signs") from error
        if result.updated == 0 and pending.get("origin") == "generated":
            raise PlatformPushFailed(
                f"no {store.platform} webhook of store {store.store_id} delivers to commerce-sync, so nothing would "
                "sign with a generated secret (a site plugin would lose its secret after the grace period). Stage the "
                "new secret yourself with `commerce-sync rotate store-secret --supply`. AWSCURRENT is unchanged"
            )
        if result.updated == 0:
            logger.warning("setSecret: no webhook of ours found on the platform; the staged secret was not pushed")

    def test(self, context: StepContext, pending: dict[str, Any]) -> None:
        store = self.store(context)
        new = str(pending.get(WEBHOOK_SECRET) or "")
        client_secret = pending.get(CLIENT_SECRET)
        if client_secret != context.current.get(CLIENT_SECRET):
            self._check_client_secret(str(client_secret or ""), store, context)
        if new == context.current.get(WEBHOOK_SECRET):
            if client_secret == context.current.get(CLIENT_SECRET):
                raise NewSecretRejected("the pending version changes neither the webhook secret nor the client secret")
            # BigCommerce offers no API that proves a client secret; the deliveries it signs are the proof,
            # and they are accepted with the pending one from createSecret on.
            logger.info("testSecret: the new client secret is well-formed; the webhook secret is unchanged")
            return
        self._check(new, context)
        if store.platform not in PUSHABLE_PLATFORMS:
            return
        try:
            holds = self.rotation.hooks.verify(
                store, context.current.get("platform_api_credentials") or {}, new, context.current.get("webhook_secret")
            )
        except (HookPushError, PlatformApiError) as error:
            raise RotationError(f"could not read the store's webhooks back: {error}") from error
        if holds is False:
            raise NewSecretRejected("not every webhook of ours holds the new secret; it is not promoted")
        if holds is None:
            logger.info(f"testSecret: {store.platform} does not show webhook secrets; the push answers were the check")

    def check_configuration(self, context: StepContext) -> None:
        self.store(context)
        if not context.current.get("webhook_secret"):
            raise RotationError(f"secret {context.secret.name} has no webhook_secret")

    def before_finish(self, context: StepContext) -> None:
        # Written before AWSCURRENT moves: the receiver grants the previous secret its grace only while
        # the tagged version is AWSCURRENT, so a crash between the two calls grants nothing wrongly.
        self.rotation.client.tag_resource(
            SecretId=context.secret.arn,
            Tags=[
                {"Key": PROMOTED_VERSION_TAG, "Value": context.token},
                {"Key": PROMOTED_AT_TAG, "Value": self.rotation.now_iso()},
            ],
        )

    def announce(self, context: StepContext, promoted: dict[str, Any]) -> None:
        new_secret = promoted.get(WEBHOOK_SECRET)
        if new_secret and new_secret != context.current.get(WEBHOOK_SECRET):
            self.follow_audience_webhook(self.store(context), str(new_secret))
        metrics.add_metric(name="WebhookSecretRotated", unit="Count", value=1)
        grace = self.rotation.settings.previous_secret_grace_seconds
        logger.info(
            "new store secret promoted; the previous one is still accepted for the grace period",
            grace_seconds=grace,
            # Names of what changed, never values.
            rotated=[key for key in (WEBHOOK_SECRET, CLIENT_SECRET) if promoted.get(key) != context.current.get(key)],
            origin=promoted.get("origin"),
        )

    def follow_audience_webhook(self, store: Store, webhook_secret: str) -> None:
        """The store's Mailchimp audience webhook carries a key derived from the signing secret (docs/consent.md):
        one registered at the old key is registered again at the new one, at the same API address, and the old one
        deleted. Mailchimp checks the new URL with a GET, answered since the new secret is current. After the
        promotion, so it cannot fail the rotation: the old key is accepted for the grace period, and a failure says
        how to finish by hand."""
        try:
            client = self.rotation.store_mailchimp(store)
            api_url = registered_api_url(client.list_webhooks(store.list_id), store.store_id)
            if api_url is None:
                return
            state = AudienceWebhooks(client, api_url).ensure(store, webhook_secret)
        except Exception as error:  # the secret is promoted already: nothing here may fail the rotation
            logger.warning(
                "the audience webhook was not registered at the new key: run `commerce-sync audience-webhook "
                f"{store.store_id} --create` before the grace period ends",
                reason=str(error)[:300],
            )
            return
        logger.info(
            "audience webhook registered at the new key", webhook_created=state.created, webhooks_deleted=state.deleted
        )

    @staticmethod
    def _check(new: str, context: StepContext) -> None:
        if len(new) < MIN_WEBHOOK_SECRET_LENGTH:
            raise NewSecretRejected(f"the new webhook secret is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters")
        if new == context.current.get(WEBHOOK_SECRET):
            raise NewSecretRejected("the new webhook secret is the current one")

    @staticmethod
    def _check_client_secret(new: str, store: Store, context: StepContext) -> None:
        if store.platform not in CLIENT_SECRET_PLATFORMS:
            raise NewSecretRejected(
                f"store {store.store_id} is a {store.platform} store; only a BigCommerce store keeps a client secret"
            )
        if len(new) < MIN_WEBHOOK_SECRET_LENGTH:
            raise NewSecretRejected(f"the new client secret is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters")
        if new == context.current.get(CLIENT_SECRET):
            raise NewSecretRejected("the new client secret is the current one")
