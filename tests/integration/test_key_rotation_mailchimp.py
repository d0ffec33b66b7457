"""Rotating a Mailchimp API key secret as Secrets Manager does: moto's RotateSecret makes the AWSPENDING
placeholder and returns the token (its own Lambda call is a no-op stub), then each step is sent to
KeyRotationFunction through the local runner, every step twice. The Mailchimp emulator answers /ping and
GET / for the keys it knows; a key of another account is added with its own account_id.

Each test rotates a Mailchimp-kind secret of its own, so the runner's MAILCHIMP_SECRET_ARN (which every
other function reads) is never left half-rotated.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT, AWSPENDING, AWSPREVIOUS, STAGED
from commerce_sync.rotation.key_rotation import STEPS

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from operator_cli import rotation as rotation_cli
from tests.harness import ACCOUNT_ID, API_KEY


def new_key() -> str:
    return f"{uuid.uuid4().hex}-us6"


def make_secret(runner: LocalRunner, api_key: str) -> str:
    return str(
        runner.client("secretsmanager").create_secret(
            Name=f"commerce-sync/test-mailchimp-{uuid.uuid4().hex[:10]}",
            SecretString=json.dumps({"kind": "mailchimp_api_key", "api_key": api_key}),
        )["ARN"]
    )


@pytest.fixture
def secret(runner: LocalRunner) -> Iterator[str]:
    """A fresh Mailchimp-kind secret holding the emulator's key; its ARN."""
    arn = make_secret(runner, API_KEY)
    yield arn
    runner.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def sm(runner: LocalRunner) -> Any:
    return runner.client("secretsmanager")


def start(runner: LocalRunner, secret_id: str, immediately: bool = True) -> str:
    client = sm(runner)
    if immediately:
        return rotation_cli.start_local_rotation(client, secret_id)
    stub = rotation_cli.ensure_local_stub(client.meta.endpoint_url, client.meta.region_name)
    client.rotate_secret(
        SecretId=secret_id,
        RotationLambdaARN=stub,
        RotationRules={"AutomaticallyAfterDays": 90},
        RotateImmediately=False,
    )
    # moto answers with the current version's id here; the test version is the one labelled AWSPENDING.
    return next(version for version, labels in stages(runner, secret_id).items() if AWSPENDING in labels)


def step(runner: LocalRunner, name: str, secret_id: str, token: str) -> None:
    runner.invoke("KeyRotationFunction", {"Step": name, "SecretId": secret_id, "ClientRequestToken": token})


def stages(runner: LocalRunner, secret_id: str) -> dict[str, list[str]]:
    return sm(runner).describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def value(runner: LocalRunner, secret_id: str, stage: str = AWSCURRENT) -> dict[str, Any]:
    return json.loads(sm(runner).get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


def test_a_staged_key_of_the_same_account_is_promoted_every_step_twice(
    runner: LocalRunner, mailchimp: MailchimpEmulator, secret: str, captured_logs: io.StringIO
) -> None:
    key = new_key()
    mailchimp.add_api_key(key)
    client = sm(runner)
    old_version = next(v for v, labels in stages(runner, secret).items() if AWSCURRENT in labels)
    rotation_cli.stage_mailchimp_key(client, secret, key)
    token = start(runner, secret)
    assert stages(runner, secret)[token] == [AWSPENDING]

    for name in STEPS:
        step(runner, name, secret, token)
        step(runner, name, secret, token)  # Secrets Manager may repeat any step
        if name != "finishSecret":
            assert value(runner, secret) == {"kind": "mailchimp_api_key", "api_key": API_KEY}

    after = stages(runner, secret)
    assert after[token] == [AWSCURRENT]  # AWSPENDING removed (moto would otherwise block the next rotation)
    assert after[old_version] == [AWSPREVIOUS]
    assert not any(STAGED in labels for labels in after.values())  # the staged key is used up
    assert value(runner, secret) == {"kind": "mailchimp_api_key", "api_key": key, "account_id": ACCOUNT_ID}
    assert value(runner, secret, AWSPREVIOUS)["api_key"] == API_KEY

    logs = captured_logs.getvalue()
    assert "revoke_previous_mailchimp_key" in logs
    assert key not in logs and API_KEY not in logs


def test_the_next_rotation_without_a_new_key_fails_clearly_and_changes_nothing(
    runner: LocalRunner, mailchimp: MailchimpEmulator, secret: str, captured_logs: io.StringIO
) -> None:
    token = start(runner, secret)
    with pytest.raises(Exception, match="no new Mailchimp API key is staged") as raised:
        step(runner, "createSecret", secret, token)
    assert "commerce-sync rotate mailchimp-key" in str(raised.value)
    assert value(runner, secret)["api_key"] == API_KEY
    assert stages(runner, secret)[token] == [AWSPENDING]  # the placeholder, still without a value
    assert "rotation step failed; AWSCURRENT is unchanged" in captured_logs.getvalue()

    # The operator stages a key and rotates again: the abandoned placeholder is cleared first.
    key = new_key()
    mailchimp.add_api_key(key)
    rotation_cli.stage_mailchimp_key(sm(runner), secret, key)
    outcome = rotation_cli.rotate(
        sm(runner), secret, runner_settings(), local=True, invoke=invoker(runner), say=lambda _: None
    )
    assert outcome.promoted, outcome.message
    assert value(runner, secret)["api_key"] == key
    assert token not in stages(runner, secret) or stages(runner, secret)[token] == []


@pytest.mark.parametrize("case", ["unknown key", "other account", "malformed"])
def test_a_wrong_key_never_becomes_current(
    runner: LocalRunner, mailchimp: MailchimpEmulator, secret: str, captured_logs: io.StringIO, case: str
) -> None:
    key = new_key()
    if case == "other account":
        mailchimp.add_api_key(key, account_id="another-account")
    client = sm(runner)
    if case == "malformed":
        key = "not-a-mailchimp-key"
        # The CLI refuses it; someone putting it straight into the staging label gets no further.
        with pytest.raises(rotation_cli.RotationCliError):
            rotation_cli.stage_mailchimp_key(client, secret, key)
        rotation_cli.stage(client, secret, {"kind": "mailchimp_api_key", "api_key": key})
    else:
        rotation_cli.stage_mailchimp_key(client, secret, key)
    token = start(runner, secret)

    failing_step = "createSecret" if case == "malformed" else "testSecret"
    for name in STEPS[: STEPS.index(failing_step)]:
        step(runner, name, secret, token)
    for _ in range(2):
        with pytest.raises(Exception, match=r"not promoted|refused|different|not of the form"):
            step(runner, failing_step, secret, token)

    assert value(runner, secret)["api_key"] == API_KEY
    current = [v for v, labels in stages(runner, secret).items() if AWSCURRENT in labels]
    assert current != [token]
    assert key not in captured_logs.getvalue()


def test_other_account_keys_see_their_own_account(mailchimp: MailchimpEmulator) -> None:
    import requests

    key = new_key()
    mailchimp.add_api_key(key, account_id="acct-elsewhere")
    root = requests.get(f"{mailchimp.base_url}/", auth=("x", key), timeout=10).json()
    assert root["account_id"] == "acct-elsewhere"
    own = requests.get(f"{mailchimp.base_url}/", auth=("x", API_KEY), timeout=10).json()
    assert own["account_id"] == ACCOUNT_ID
    mailchimp.revoke_api_key(key)
    assert requests.get(f"{mailchimp.base_url}/ping", auth=("x", key), timeout=10).status_code == 401


def test_staging_the_current_key_is_refused(runner: LocalRunner, secret: str) -> None:
    with pytest.raises(rotation_cli.RotationCliError, match="current key"):
        rotation_cli.stage_mailchimp_key(sm(runner), secret, API_KEY)


# ---- the configuration check (RotateImmediately false) ------------------------------------------------


def test_configuration_check_with_an_empty_key_passes(runner: LocalRunner, captured_logs: io.StringIO) -> None:
    # As the template creates it when the MailchimpApiKey parameter is left empty.
    secret = make_secret(runner, "")
    token = start(runner, secret, immediately=False)
    # What Secrets Manager hands testSecret here: an AWSPENDING copy of the current value.
    assert value(runner, secret, AWSPENDING) == value(runner, secret)
    step(runner, "testSecret", secret, token)
    step(runner, "testSecret", secret, token)
    assert "holds no API key yet" in captured_logs.getvalue()
    assert value(runner, secret)["api_key"] == ""


def test_configuration_check_tests_a_current_key(
    runner: LocalRunner, mailchimp: MailchimpEmulator, secret: str
) -> None:
    token = start(runner, secret, immediately=False)
    step(runner, "testSecret", secret, token)  # the emulator's key answers

    secret = make_secret(runner, new_key())  # a key Mailchimp does not know (revoked)
    token = start(runner, secret, immediately=False)
    with pytest.raises(Exception, match="refused the current API key"):
        step(runner, "testSecret", secret, token)


# ---- the gate -----------------------------------------------------------------------------------------


def test_the_gate_refuses_versions_that_are_not_pending_and_secrets_not_rotating(
    runner: LocalRunner, mailchimp: MailchimpEmulator, secret: str
) -> None:
    with pytest.raises(Exception, match="rotation is not enabled"):
        step(runner, "createSecret", secret, str(uuid.uuid4()))
    key = new_key()
    mailchimp.add_api_key(key)
    rotation_cli.stage_mailchimp_key(sm(runner), secret, key)
    token = start(runner, secret)
    with pytest.raises(Exception, match="is not a version of secret"):
        step(runner, "createSecret", secret, str(uuid.uuid4()))
    staged_version = next(v for v, labels in stages(runner, secret).items() if STAGED in labels)
    with pytest.raises(Exception, match="is not AWSPENDING"):
        step(runner, "finishSecret", secret, staged_version)
    with pytest.raises(Exception, match="unknown rotation step"):
        step(runner, "dropSecret", secret, token)
    with pytest.raises(Exception, match="createSecret has not run"):
        step(runner, "finishSecret", secret, token)
    assert value(runner, secret)["api_key"] == API_KEY


# ---- helpers shared with the CLI path -----------------------------------------------------------------


def runner_settings() -> Any:
    from commerce_sync.aws.settings import Settings

    return Settings.from_environment()


def invoker(runner: LocalRunner) -> Any:
    return lambda event: runner.invoke("KeyRotationFunction", event)
