"""Key rotation without AWS: the steps against an in-memory Secrets Manager that behaves as AWS does where
moto does not (PutSecretValue with a used token and another value raises ResourceExistsException; the
service, not moto's quirks), the receiver's keyring and grace period on a fake clock, and the Mailchimp
key checks with fake Mailchimp clients."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError
from commerce_sync.aws.secret_store import (
    PROMOTED_AT_TAG,
    PROMOTED_VERSION_TAG,
    STAGED,
    SecretReader,
    SigningKeyring,
    SigningSecret,
)
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError
from commerce_sync.platforms.adapter import WebhookRequest
from commerce_sync.platforms.receiver import SIGNING_SECRET_LABELS, WebhookReceiver
from commerce_sync.platforms.secret_push import HookPushError, PushResult
from commerce_sync.platforms.signatures import SignatureError, sign_base64_hmac
from commerce_sync.rotation.key_rotation import (
    STEPS,
    KeyRotation,
    NewSecretRejected,
    NothingStaged,
    PlatformPushFailed,
    RotationError,
    RotationNotEnabled,
    VersionNotPending,
    secret_kind,
)

KEY_A = "a" * 32 + "-us6"
KEY_B = "b" * 32 + "-us6"
KEY_C = "c" * 32 + "-us6"


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Operation")


class FakeSecretsManager:
    """One secret's versions and labels, with the AWS behaviours the steps rely on."""

    def __init__(self, name: str, value: dict[str, Any], rotation_enabled: bool = True) -> None:
        self.name = name
        self.arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"
        first = str(uuid.uuid4())
        self.values: dict[str, str | None] = {first: json.dumps(value)}
        self.labels: dict[str, list[str]] = {first: ["AWSCURRENT"]}
        self.tags: dict[str, str] = {}
        self.rotation_enabled = rotation_enabled
        self.calls: list[str] = []

    def _find(self, stage: str) -> str | None:
        return next((version for version, labels in self.labels.items() if stage in labels), None)

    def rotate(self) -> str:
        """What RotateSecret does before createSecret: a placeholder version without a value."""
        token = str(uuid.uuid4())
        for labels in self.labels.values():
            if "AWSPENDING" in labels:
                raise _error("InvalidRequestException")
        self.values[token] = None
        self.labels[token] = ["AWSPENDING"]
        self.rotation_enabled = True
        return token

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        self.calls.append("DescribeSecret")
        return {
            "ARN": self.arn,
            "Name": self.name,
            "RotationEnabled": self.rotation_enabled,
            "VersionIdsToStages": copy.deepcopy({v: labels for v, labels in self.labels.items() if labels}),
            "Tags": [{"Key": key, "Value": value} for key, value in self.tags.items()],
        }

    def get_secret_value(self, SecretId: str, VersionStage: str = "AWSCURRENT", VersionId: str | None = None) -> Any:
        self.calls.append("GetSecretValue")
        version = VersionId or self._find(VersionStage)
        if version is None or version not in self.values:
            raise _error("ResourceNotFoundException")
        if VersionStage not in self.labels[version]:
            raise _error("InvalidRequestException")
        if self.values[version] is None:
            raise _error("ResourceNotFoundException")
        return {"ARN": self.arn, "VersionId": version, "SecretString": self.values[version]}

    def put_secret_value(
        self, SecretId: str, ClientRequestToken: str, SecretString: str, VersionStages: list[str], **_: Any
    ) -> Any:
        existing = self.values.get(ClientRequestToken)
        if existing is not None and existing != SecretString:
            raise _error("ResourceExistsException")
        for stage in VersionStages:
            for labels in self.labels.values():
                if stage in labels:
                    labels.remove(stage)
        self.values[ClientRequestToken] = SecretString
        self.labels.setdefault(ClientRequestToken, [])
        self.labels[ClientRequestToken] = sorted(set(self.labels[ClientRequestToken]) | set(VersionStages))
        return {"VersionId": ClientRequestToken}

    def update_secret_version_stage(
        self,
        SecretId: str,
        VersionStage: str,
        RemoveFromVersionId: str | None = None,
        MoveToVersionId: str | None = None,
    ) -> Any:
        if RemoveFromVersionId:
            if VersionStage not in self.labels.get(RemoveFromVersionId, []):
                raise _error("InvalidParameterException")
            self.labels[RemoveFromVersionId].remove(VersionStage)
        if MoveToVersionId:
            self.labels[MoveToVersionId].append(VersionStage)
            if VersionStage == "AWSCURRENT" and RemoveFromVersionId:
                for labels in self.labels.values():
                    if "AWSPREVIOUS" in labels:
                        labels.remove("AWSPREVIOUS")
                self.labels[RemoveFromVersionId].append("AWSPREVIOUS")
        return {}

    def tag_resource(self, SecretId: str, Tags: list[dict[str, str]]) -> Any:
        self.tags.update({tag["Key"]: tag["Value"] for tag in Tags})
        return {}

    def get_random_password(self, PasswordLength: int, **_: Any) -> Any:
        return {"RandomPassword": uuid.uuid4().hex + uuid.uuid4().hex[: PasswordLength - 32]}

    def current(self) -> dict[str, Any]:
        return json.loads(self.get_secret_value(SecretId=self.arn)["SecretString"])

    def stage(self, value: dict[str, Any]) -> None:
        self.put_secret_value(self.arn, str(uuid.uuid4()), json.dumps(value), [STAGED])


class FakeMailchimp:
    accounts = {KEY_A: "acc-1", KEY_B: "acc-1", KEY_C: "acc-2"}

    def __init__(self, key: str, refused: Sequence[str] = ()) -> None:
        self.key, self.refused = key, refused

    def ping(self) -> dict[str, Any]:
        if self.key in self.refused or self.key not in self.accounts:
            raise MailchimpAuthError(401, "API Key Invalid")
        return {"health_status": "Everything's Chimpy!"}

    def account(self) -> dict[str, Any]:
        self.ping()
        return {"account_id": self.accounts[self.key]}


class FakeRegistry:
    def __init__(self, stores: Mapping[str, Store]) -> None:
        self.stores = stores

    def get(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)


class FakeHooks:
    def __init__(self, updated: int = 2, fail: bool = False) -> None:
        self.updated, self.fail = updated, fail
        self.pushed: list[str] = []

    def push(self, store: Store, credentials: Any, new: str, current: str | None) -> PushResult:
        if self.fail:
            raise HookPushError("webhook 2 did not take the new secret (500)")
        self.pushed.append(new)
        return PushResult(store.platform, self.updated)

    def verify(self, store: Store, credentials: Any, new: str, current: str | None) -> bool | None:
        return bool(self.pushed) and self.pushed[-1] == new


def rotation(
    client: FakeSecretsManager,
    stores: Mapping[str, Store] | None = None,
    hooks: FakeHooks | None = None,
    refused: Sequence[str] = (),
) -> KeyRotation:
    settings = Settings.from_environment()
    return KeyRotation(
        client,
        settings,
        FakeRegistry(stores or {}),  # type: ignore[arg-type]
        hooks=hooks or FakeHooks(),  # type: ignore[arg-type]
        mailchimp_factory=lambda key: FakeMailchimp(key, refused),  # type: ignore[arg-type,return-value]
        clock=lambda: 1_700_000_000.0,
    )


def run(rotator: KeyRotation, client: FakeSecretsManager, token: str, steps: Sequence[str] = STEPS) -> None:
    for step in steps:
        rotator.rotate(step, client.arn, token)
        rotator.rotate(step, client.arn, token)


def store(platform: str, store_id: str = "s1") -> Store:
    return Store(
        store_id=store_id,
        platform=platform,
        identity=f"{store_id}.example.com",
        name="S",
        list_id="l1",
        currency_code="USD",
        secret_id=f"commerce-sync/stores/{store_id}",
    )


# ---- Mailchimp keys ------------------------------------------------------------------------------------


def test_a_staged_key_of_the_same_account_is_promoted_and_the_staging_label_released() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A})
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_B})
    token = client.rotate()
    run(rotation(client), client, token)
    assert client.current() == {"kind": "mailchimp_api_key", "api_key": KEY_B, "account_id": "acc-1"}
    assert client.labels[token] == ["AWSCURRENT"]
    assert not any(STAGED in labels for labels in client.labels.values())


def test_another_accounts_key_is_rejected_at_testsecret() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A})
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_C})
    token = client.rotate()
    rotator = rotation(client)
    run(rotator, client, token, STEPS[:2])
    with pytest.raises(NewSecretRejected, match="different Mailchimp account"):
        rotator.rotate("testSecret", client.arn, token)
    assert client.current()["api_key"] == KEY_A


def test_with_the_current_key_revoked_the_recorded_account_decides() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A, "account_id": "acc-1"})
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_C})
    token = client.rotate()
    rotator = rotation(client, refused=[KEY_A])
    run(rotator, client, token, STEPS[:2])
    with pytest.raises(NewSecretRejected, match="different"):
        rotator.rotate("testSecret", client.arn, token)

    client2 = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A})
    client2.stage({"kind": "mailchimp_api_key", "api_key": KEY_B})
    token2 = client2.rotate()
    with pytest.raises(RotationError, match="no account_id is recorded"):
        run(rotation(client2, refused=[KEY_A]), client2, token2)
    assert client2.current()["api_key"] == KEY_A


def test_the_first_key_into_an_empty_secret_defines_the_account() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": ""})
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_C})
    token = client.rotate()
    run(rotation(client), client, token)
    assert client.current()["api_key"] == KEY_C


def test_nothing_staged_fails_createsecret_with_the_command_to_run() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A})
    token = client.rotate()
    with pytest.raises(NothingStaged, match="commerce-sync rotate mailchimp-key"):
        rotation(client).rotate("createSecret", client.arn, token)
    assert client.values[token] is None


def test_a_mailchimp_outage_at_testsecret_is_a_retryable_failure() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A})
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_B})
    token = client.rotate()
    rotator = rotation(client)
    run(rotator, client, token, STEPS[:2])

    class Down(FakeMailchimp):
        def ping(self) -> dict[str, Any]:
            raise MailchimpError(503, "Service Unavailable")

    rotator.mailchimp = lambda key: Down(key)  # type: ignore[assignment,return-value]
    with pytest.raises(RotationError, match="try again") as raised:
        rotator.rotate("testSecret", client.arn, token)
    assert not isinstance(raised.value, NewSecretRejected)


# ---- the gate and idempotency (AWS semantics) ---------------------------------------------------------


def test_the_gate() -> None:
    client = FakeSecretsManager("mailchimp", {"kind": "mailchimp_api_key", "api_key": KEY_A}, rotation_enabled=False)
    with pytest.raises(RotationNotEnabled):
        rotation(client).rotate("createSecret", client.arn, next(iter(client.values)))
    client.rotation_enabled = True
    with pytest.raises(VersionNotPending, match="not a version"):
        rotation(client).rotate("createSecret", client.arn, "nope")
    client.stage({"kind": "mailchimp_api_key", "api_key": KEY_B})
    staged = next(version for version, labels in client.labels.items() if STAGED in labels)
    with pytest.raises(VersionNotPending, match="not AWSPENDING"):
        rotation(client).rotate("setSecret", client.arn, staged)
    current = next(version for version, labels in client.labels.items() if "AWSCURRENT" in labels)
    rotation(client).rotate("finishSecret", client.arn, current)  # already current: nothing to do
    assert client.current()["api_key"] == KEY_A


def test_createsecret_racing_itself_keeps_the_first_value() -> None:
    client = FakeSecretsManager("commerce-sync/stores/s1", {"kind": "store_webhook_secret", "webhook_secret": "x" * 40})
    token = client.rotate()
    client.values[token] = json.dumps({"kind": "store_webhook_secret", "webhook_secret": "y" * 40})
    rotator = rotation(client, {"s1": store("woocommerce")})
    rotator.rotate("createSecret", client.arn, token)  # sees the value: does not put another
    assert json.loads(client.values[token] or "{}")["webhook_secret"] == "y" * 40


# ---- store webhook secrets ------------------------------------------------------------------------------


def store_secret(**extra: Any) -> FakeSecretsManager:
    return FakeSecretsManager(
        "commerce-sync/stores/s1",
        {"kind": "store_webhook_secret", "webhook_secret": "o" * 43, "platform_api_credentials": {"k": "v"}, **extra},
    )


def test_a_pushable_store_gets_a_generated_secret_pushed_and_tagged() -> None:
    client = store_secret()
    hooks = FakeHooks()
    token = client.rotate()
    run(rotation(client, {"s1": store("bigcommerce")}, hooks), client, token)
    current = client.current()
    assert current["webhook_secret"] == hooks.pushed[-1] != "o" * 43
    assert current["origin"] == "generated" and current["platform_api_credentials"] == {"k": "v"}
    assert client.tags == {PROMOTED_VERSION_TAG: token, PROMOTED_AT_TAG: "2023-11-14T22:13:20Z"}


def test_a_failed_push_fails_setsecret_and_promotes_nothing() -> None:
    client = store_secret()
    token = client.rotate()
    rotator = rotation(client, {"s1": store("woocommerce")}, FakeHooks(fail=True))
    rotator.rotate("createSecret", client.arn, token)
    with pytest.raises(PlatformPushFailed, match="AWSCURRENT is unchanged"):
        rotator.rotate("setSecret", client.arn, token)
    assert client.current()["webhook_secret"] == "o" * 43


def test_a_generated_secret_nobody_receives_is_refused() -> None:
    client = store_secret()
    token = client.rotate()
    rotator = rotation(client, {"s1": store("woocommerce")}, FakeHooks(updated=0))
    rotator.rotate("createSecret", client.arn, token)
    with pytest.raises(PlatformPushFailed, match="--supply"):
        rotator.rotate("setSecret", client.arn, token)


@pytest.mark.parametrize("platform", ["shopify", "canonical"])
def test_senders_we_cannot_reach_need_a_staged_secret(platform: str) -> None:
    client = store_secret()
    token = client.rotate()
    with pytest.raises(NothingStaged, match="staged"):
        rotation(client, {"s1": store(platform)}).rotate("createSecret", client.arn, token)
    client.stage({"kind": "store_webhook_secret", "webhook_secret": "n" * 40})
    run(rotation(client, {"s1": store(platform)}), client, token)
    assert client.current()["webhook_secret"] == "n" * 40
    assert client.current()["origin"] == "operator"


def test_an_unregistered_store_or_an_odd_name_is_a_clear_error() -> None:
    client = store_secret()
    token = client.rotate()
    with pytest.raises(RotationError, match="no store s1 is registered"):
        rotation(client, {}).rotate("createSecret", client.arn, token)
    other = FakeSecretsManager("elsewhere/s1", {"kind": "store_webhook_secret", "webhook_secret": "o" * 43})
    with pytest.raises(RotationError, match="is not named"):
        rotation(other, {"s1": store("woocommerce")}).rotate("createSecret", other.arn, other.rotate())


def test_a_staged_bigcommerce_client_secret_is_promoted_alone_and_nothing_is_pushed() -> None:
    client = store_secret(client_secret="c" * 40)
    client.stage({"kind": "store_webhook_secret", "client_secret": "d" * 40})
    hooks = FakeHooks()
    token = client.rotate()
    run(rotation(client, {"s1": store("bigcommerce")}, hooks), client, token)
    current = client.current()
    assert (current["webhook_secret"], current["client_secret"]) == ("o" * 43, "d" * 40)
    assert current["platform_api_credentials"] == {"k": "v"} and "origin" not in current
    assert hooks.pushed == []  # BigCommerce already signs with it: it comes from its developer portal
    assert client.tags[PROMOTED_VERSION_TAG] == token
    assert not any(STAGED in labels for labels in client.labels.values())


def test_a_generated_webhook_secret_keeps_the_client_secret() -> None:
    client = store_secret(client_secret="c" * 40)
    hooks = FakeHooks()
    token = client.rotate()
    run(rotation(client, {"s1": store("bigcommerce")}, hooks), client, token)
    current = client.current()
    assert current["webhook_secret"] == hooks.pushed[-1] != "o" * 43
    assert current["client_secret"] == "c" * 40


@pytest.mark.parametrize(
    ("platform", "client_secret", "error", "message"),
    [
        ("woocommerce", "d" * 40, NewSecretRejected, "only a BigCommerce store keeps a client secret"),
        ("bigcommerce", "short", NewSecretRejected, "shorter than 16"),
        ("bigcommerce", "c" * 40, NothingStaged, "is the current one"),
    ],
)
def test_a_staged_client_secret_that_cannot_serve_is_refused_at_createsecret(
    platform: str, client_secret: str, error: type[Exception], message: str
) -> None:
    client = store_secret(client_secret="c" * 40)
    client.stage({"kind": "store_webhook_secret", "client_secret": client_secret})
    token = client.rotate()
    with pytest.raises(error, match=message):
        rotation(client, {"s1": store(platform)}).rotate("createSecret", client.arn, token)
    assert client.values[token] is None and client.current()["client_secret"] == "c" * 40


def test_a_pending_version_that_changes_nothing_is_rejected_at_testsecret() -> None:
    client = store_secret(client_secret="c" * 40)
    token = client.rotate()
    client.values[token] = json.dumps({**client.current(), "origin": "operator"})
    with pytest.raises(NewSecretRejected, match="changes neither"):
        rotation(client, {"s1": store("bigcommerce")}).rotate("testSecret", client.arn, token)


def test_secret_kinds() -> None:
    assert secret_kind({"kind": "mailchimp_api_key"}) == "mailchimp_api_key"
    assert secret_kind({"api_key": ""}) == "mailchimp_api_key"
    assert secret_kind({"webhook_secret": "x"}) == "store_webhook_secret"
    with pytest.raises(RotationError):
        secret_kind({"kind": "database"})


# ---- the receiver's keyring -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def promote(client: FakeSecretsManager, token: str) -> None:
    """What finishSecret does: tag the promotion (at the Clock's time), then move the labels."""
    old_current = next(v for v, labels in client.labels.items() if "AWSCURRENT" in labels)
    client.tag_resource(client.arn, [{"Key": PROMOTED_VERSION_TAG, "Value": token}])
    client.tag_resource(client.arn, [{"Key": PROMOTED_AT_TAG, "Value": "2023-11-14T22:13:20Z"}])
    client.update_secret_version_stage(client.arn, "AWSCURRENT", RemoveFromVersionId=old_current, MoveToVersionId=token)
    client.update_secret_version_stage(client.arn, "AWSPENDING", RemoveFromVersionId=token)


def test_the_keyring_follows_a_rotation_and_bounds_the_previous_secret() -> None:
    client = store_secret()
    clock = Clock()
    reader = SecretReader(max_age_seconds=60, client=client, previous_grace_seconds=3600, clock=clock)
    assert [s.label for s in reader.signing_keyring(client.arn).secrets] == ["current"]

    token = client.rotate()
    # The placeholder has no value yet: the keyring remembers to look again.
    assert reader.signing_keyring(client.arn, refresh=True).awaiting_pending_value
    client.values[token] = json.dumps({"kind": "store_webhook_secret", "webhook_secret": "n" * 40})
    keyring = reader.signing_keyring(client.arn, refresh=True)
    assert [(s.label, s.value) for s in keyring.secrets] == [("current", "o" * 43), ("pending", "n" * 40)]

    promote(client, token)
    keyring = reader.signing_keyring(client.arn, refresh=True)
    assert [(s.label, s.value) for s in keyring.secrets] == [("current", "n" * 40), ("previous", "o" * 43)]
    assert [s.label for s in keyring.usable(clock.now + 3599)] == ["current", "previous"]
    assert [s.label for s in keyring.usable(clock.now + 3600)] == ["current"]

    # A manual put-secret-value afterwards (no rotation): the version it replaces gets no grace.
    client.put_secret_value(client.arn, str(uuid.uuid4()), json.dumps({"webhook_secret": "m" * 40}), ["AWSCURRENT"])
    assert [s.label for s in reader.signing_keyring(client.arn, refresh=True).secrets] == ["current"]


def test_a_client_secret_rotation_is_its_own_keyring_entry_and_gets_the_grace() -> None:
    client = store_secret(client_secret="c" * 40)
    clock = Clock()
    reader = SecretReader(max_age_seconds=60, client=client, previous_grace_seconds=3600, clock=clock)
    token = client.rotate()
    # Same header token, new client secret: not a repeat of the current version.
    client.values[token] = json.dumps({**client.current(), "client_secret": "d" * 40})
    keyring = reader.signing_keyring(client.arn, refresh=True)
    assert [(s.label, s.value, s.client_secret) for s in keyring.secrets] == [
        ("current", "o" * 43, "c" * 40),
        ("pending", "o" * 43, "d" * 40),
    ]

    promote(client, token)
    keyring = reader.signing_keyring(client.arn, refresh=True)
    assert [(s.label, s.client_secret) for s in keyring.usable(clock.now + 3599)] == [
        ("current", "d" * 40),
        ("previous", "c" * 40),
    ]
    assert [s.client_secret for s in keyring.usable(clock.now + 3600)] == ["d" * 40]


def test_a_miss_costs_one_describe_when_nothing_changed() -> None:
    client = store_secret()
    reader = SecretReader(max_age_seconds=60, client=client, previous_grace_seconds=3600, clock=Clock())
    reader.signing_keyring(client.arn)
    client.calls.clear()
    for _ in range(5):
        reader.signing_keyring(client.arn, refresh=True)
    assert client.calls == ["DescribeSecret"] * 5
    client.calls.clear()
    reader.signing_keyring(client.arn)  # within max_age: no call at all
    assert client.calls == []


class FakeReader:
    def __init__(self, first: list[tuple[str, str]], refreshed: list[tuple[str, str]]) -> None:
        self.keyrings = {
            False: SigningKeyring(tuple(SigningSecret(label, value) for label, value in first), fetched_at=0),
            True: SigningKeyring(
                tuple(SigningSecret(label, value) for label, value in refreshed),
                fetched_at=0,
                previous_valid_until=float("inf"),
            ),
        }
        self.refreshes = 0

    def signing_keyring(self, secret_id: str, refresh: bool = False) -> SigningKeyring:
        self.refreshes += refresh
        return self.keyrings[refresh]


class HmacAdapter:
    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        from commerce_sync.platforms.signatures import verify_base64_hmac

        return verify_base64_hmac(secrets, request.body, request.header("X-Signature"))

    def verify_keyring(self, request: WebhookRequest, keyring: Sequence[SigningSecret]) -> int:
        return self.verify(request, [entry.value for entry in keyring])


@pytest.mark.parametrize("label", SIGNING_SECRET_LABELS)
def test_the_receiver_accepts_each_label_and_refuses_others(label: str) -> None:
    secrets = {"current": "c" * 40, "pending": "p" * 40, "previous": "q" * 40}
    reader = FakeReader([("current", secrets["current"])], list(secrets.items()))
    receiver = WebhookReceiver({}, None, reader, None)  # type: ignore[arg-type]
    body = b"{}"

    def request(secret: str) -> WebhookRequest:
        return WebhookRequest("x", {"X-Signature": sign_base64_hmac(secret, body)}, body)

    receiver._verify(HmacAdapter(), request(secrets[label]), "s")  # type: ignore[arg-type]
    assert reader.refreshes == (0 if label == "current" else 1)
    with pytest.raises(SignatureError):
        receiver._verify(HmacAdapter(), request("r" * 40), "s")  # type: ignore[arg-type]
