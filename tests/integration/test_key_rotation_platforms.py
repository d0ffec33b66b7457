"""Rotating store webhook secrets that commerce-sync can push to the platform: WooCommerce webhooks (`secret`
through wc/v3) and BigCommerce hooks (the `X-Commerce-Sync-Token` header through /v3/hooks), against the
platform emulators; and a BigCommerce app's client secret, which the operator stages. Deliveries are sent
by the emulators themselves, signed with whatever the platform holds at that moment, through the local API.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT, AWSPENDING, AWSPREVIOUS, PROMOTED_AT_TAG, STAGED
from commerce_sync.rotation.key_rotation import STEPS

from emulators.bigcommerce import BigCommerceEmulator
from emulators.woocommerce_hooks import WooCommerceHooksEmulator
from local_runner.runner import LocalRunner
from operator_cli import rotation as rotation_cli
from tests.harness import RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONSUMER_KEY, CONSUMER_SECRET = "ck_rotation_test", "cs_rotation_test"
ACCESS_TOKEN = "bc-rotation-access-token"
TOKEN_HEADER = "X-Commerce-Sync-Token"


def sm(runner: LocalRunner) -> Any:
    return runner.client("secretsmanager")


def step(runner: LocalRunner, name: str, secret_id: str, token: str) -> None:
    runner.invoke("KeyRotationFunction", {"Step": name, "SecretId": secret_id, "ClientRequestToken": token})


def current(runner: LocalRunner, secret_id: str, stage: str = AWSCURRENT) -> dict[str, Any]:
    return json.loads(sm(runner).get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


def stages(runner: LocalRunner, secret_id: str) -> dict[str, list[str]]:
    return sm(runner).describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def woo_customer() -> dict[str, Any]:
    body = json.loads((EVENTS / "woocommerce_customer_created.json").read_text(encoding="utf-8"))
    body["id"] = int(uuid.uuid4().int % 10_000_000) + 1
    body["date_modified_gmt"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    return body


# ---- WooCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def woo() -> Iterator[WooCommerceHooksEmulator]:
    with WooCommerceHooksEmulator(CONSUMER_KEY, CONSUMER_SECRET) as running:
        yield running


@pytest.fixture
def woo_store(runner: LocalRunner, woo: WooCommerceHooksEmulator) -> RegisteredStore:
    store = register_store(
        "woocommerce",
        identity=woo.site_url + "/",
        platform_api_url=woo.api_url,
        platform_api_credentials={"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET},
    )
    for topic in ("customer.created", "customer.updated", "customer.deleted"):
        woo.add_webhook(topic, f"{runner.url}/webhooks/woocommerce", secret=store.webhook_secret)
    # Someone else's webhook on the same site: never touched.
    woo.add_webhook("order.created", "https://elsewhere.example.com/hooks", secret="not-ours-secret-value")
    return store


def test_woocommerce_webhooks_get_the_new_secret_and_deliveries_never_fail(
    runner: LocalRunner, woo: WooCommerceHooksEmulator, woo_store: RegisteredStore, captured_logs: io.StringIO
) -> None:
    secret_id = woo_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    ours = [1, 2, 3]

    def deliveries_all_accepted() -> None:
        for hook_id in ours:
            response = woo.deliver(hook_id, woo_customer())
            assert response.status_code == 202, response.text

    deliveries_all_accepted()
    for name in STEPS:
        step(runner, name, secret_id, token)
        step(runner, name, secret_id, token)
        deliveries_all_accepted()  # signed with the old secret before setSecret, the new one after

    new_secret = current(runner, secret_id)["webhook_secret"]
    assert new_secret != woo_store.webhook_secret and len(new_secret) >= 32
    assert current(runner, secret_id)["origin"] == "generated"
    assert current(runner, secret_id)["platform_api_credentials"]["consumer_key"] == CONSUMER_KEY
    assert [woo.secret_of(hook_id) for hook_id in ours] == [new_secret] * 3
    assert woo.secret_of(4) == "not-ours-secret-value"
    assert current(runner, secret_id, AWSPREVIOUS)["webhook_secret"] == woo_store.webhook_secret
    tags = {t["Key"]: t["Value"] for t in sm(runner).describe_secret(SecretId=secret_id)["Tags"]}
    assert tags["commerce-sync:promoted-version"] == token

    logs = captured_logs.getvalue()
    assert new_secret not in logs and woo_store.webhook_secret not in logs and CONSUMER_SECRET not in logs


def test_a_failed_woocommerce_push_sets_the_hooks_back_and_leaves_the_current_secret_working(
    runner: LocalRunner, woo: WooCommerceHooksEmulator, woo_store: RegisteredStore, captured_logs: io.StringIO
) -> None:
    secret_id = woo_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    step(runner, "createSecret", secret_id, token)
    woo.fail_updates(after=1, count=1)  # the first hook takes it, the second answers 500
    with pytest.raises(Exception, match="did not take the new secret") as raised:
        step(runner, "setSecret", secret_id, token)
    assert "AWSCURRENT is unchanged" in str(raised.value)

    assert [woo.secret_of(hook_id) for hook_id in (1, 2, 3)] == [woo_store.webhook_secret] * 3  # hook 1 set back
    assert current(runner, secret_id)["webhook_secret"] == woo_store.webhook_secret
    assert AWSCURRENT not in stages(runner, secret_id)[token]
    for hook_id in (1, 2, 3):
        assert woo.deliver(hook_id, woo_customer()).status_code == 202

    # Secrets Manager retries the rotation; this time the platform takes it.
    for name in STEPS[1:]:
        step(runner, name, secret_id, token)
    assert [woo.secret_of(hook_id) for hook_id in (1, 2, 3)] == [current(runner, secret_id)["webhook_secret"]] * 3
    assert woo_store.webhook_secret not in captured_logs.getvalue()


def test_a_generated_secret_with_no_webhook_to_push_to_is_refused(runner: LocalRunner) -> None:
    with WooCommerceHooksEmulator(CONSUMER_KEY, CONSUMER_SECRET) as empty_site:
        store = register_store(
            "woocommerce",
            identity=empty_site.site_url,
            platform_api_url=empty_site.api_url,
            platform_api_credentials={"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET},
        )
        token = rotation_cli.start_local_rotation(sm(runner), store.store.secret_id)
        step(runner, "createSecret", store.store.secret_id, token)
        with pytest.raises(Exception, match="no woocommerce webhook"):
            step(runner, "setSecret", store.store.secret_id, token)
    assert current(runner, store.store.secret_id)["webhook_secret"] == store.webhook_secret


def test_wrong_woocommerce_credentials_fail_the_push(runner: LocalRunner, woo: WooCommerceHooksEmulator) -> None:
    store = register_store(
        "woocommerce",
        identity=woo.site_url,
        platform_api_url=woo.api_url,
        platform_api_credentials={"consumer_key": CONSUMER_KEY, "consumer_secret": "cs_wrong"},
    )
    woo.add_webhook("customer.updated", f"{runner.url}/webhooks/woocommerce", secret=store.webhook_secret)
    token = rotation_cli.start_local_rotation(sm(runner), store.store.secret_id)
    step(runner, "createSecret", store.store.secret_id, token)
    with pytest.raises(Exception, match="could not list the woocommerce webhooks"):
        step(runner, "setSecret", store.store.secret_id, token)
    assert woo.secret_of(1) == store.webhook_secret


# ---- BigCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"rot{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


@pytest.fixture
def bc_store(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    store = register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": ACCESS_TOKEN},
    )
    for scope in ("store/cart/deleted", "store/cart/converted"):
        bigcommerce.put_hook(
            scope, f"{runner.url}/webhooks/bigcommerce", headers={TOKEN_HEADER: store.webhook_secret, "X-Other": "kept"}
        )
    # Another deployment's hook (its own token): left alone.
    bigcommerce.put_hook("store/cart/deleted", "https://staging.example.com/x", headers={TOKEN_HEADER: "other-token"})
    return store


def cart_deleted(bigcommerce: BigCommerceEmulator) -> dict[str, Any]:
    return {
        "scope": "store/cart/deleted",
        "store_id": "1025646",
        "data": {"type": "cart", "id": str(uuid.uuid4())},
        "hash": uuid.uuid4().hex,
        "created_at": int(time.time()),
        "producer": f"stores/{bigcommerce.store_hash}",
    }


def test_bigcommerce_hooks_get_the_new_token_which_testsecret_reads_back(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore, captured_logs: io.StringIO
) -> None:
    secret_id = bc_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    for name in STEPS:
        step(runner, name, secret_id, token)
        step(runner, name, secret_id, token)
        for hook_id in (1, 2):
            assert bigcommerce.deliver(hook_id, cart_deleted(bigcommerce)).status_code == 202

    new_secret = current(runner, secret_id)["webhook_secret"]
    assert [bigcommerce.hook(i)["headers"] for i in (1, 2)] == [{"X-Other": "kept", TOKEN_HEADER: new_secret}] * 2
    assert bigcommerce.hook(3)["headers"] == {TOKEN_HEADER: "other-token"}
    assert [r["method"] for r in bigcommerce.requests if r["path"].endswith("/hooks/1")].count("PUT") == 1 + 1
    logs = captured_logs.getvalue()
    assert new_secret not in logs and bc_store.webhook_secret not in logs and ACCESS_TOKEN not in logs


def test_a_bigcommerce_api_failure_leaves_the_current_token_working(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore
) -> None:
    secret_id = bc_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    step(runner, "createSecret", secret_id, token)
    bigcommerce.set_faults(rate_500=1.0)
    with pytest.raises(Exception, match="AWSCURRENT is unchanged"):
        step(runner, "setSecret", secret_id, token)
    bigcommerce.set_faults()
    assert current(runner, secret_id)["webhook_secret"] == bc_store.webhook_secret
    assert stages(runner, secret_id)[token] == [AWSPENDING]
    for hook_id in (1, 2):
        assert bigcommerce.hook(hook_id)["headers"][TOKEN_HEADER] == bc_store.webhook_secret
        assert bigcommerce.deliver(hook_id, cart_deleted(bigcommerce)).status_code == 202


def test_testsecret_refuses_when_a_hook_does_not_hold_the_new_token(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore
) -> None:
    secret_id = bc_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    step(runner, "createSecret", secret_id, token)
    step(runner, "setSecret", secret_id, token)
    # Someone puts the old token back on one hook between setSecret and testSecret.
    bigcommerce.app.hook_registry.update(2, {"headers": {TOKEN_HEADER: bc_store.webhook_secret, "X-Other": "kept"}})
    with pytest.raises(Exception, match="not every webhook of ours holds the new secret"):
        step(runner, "testSecret", secret_id, token)
    assert current(runner, secret_id)["webhook_secret"] == bc_store.webhook_secret


# ---- BigCommerce's client secret (Standard Webhooks signatures) ---------------------------------------------

OLD_CLIENT_SECRET, NEW_CLIENT_SECRET = "bc-app-client-secret-old-1", "bc-app-client-secret-new-2"


@pytest.fixture
def signed_store(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    """A store holding the app's client secret; hook 1 carries our token, hook 2 none (only signed)."""
    bigcommerce.set_client_secret(OLD_CLIENT_SECRET)
    store = register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": ACCESS_TOKEN},
        client_secret=OLD_CLIENT_SECRET,
    )
    bigcommerce.put_hook(
        "store/cart/deleted", f"{runner.url}/webhooks/bigcommerce", headers={TOKEN_HEADER: store.webhook_secret}
    )
    bigcommerce.put_hook("store/cart/deleted", f"{runner.url}/webhooks/bigcommerce")
    return store


def signed_by(bigcommerce: BigCommerceEmulator, client_secret: str) -> int:
    """A delivery of the signature-only hook, signed with `client_secret`: its status."""
    bigcommerce.set_client_secret(client_secret)
    return bigcommerce.deliver(2, cart_deleted(bigcommerce)).status_code


def test_a_staged_client_secret_is_promoted_and_both_sign_through_the_switch(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, signed_store: RegisteredStore, captured_logs: io.StringIO
) -> None:
    secret_id = signed_store.store.secret_id
    # The app's client secret was regenerated in the developer portal; the operator stages it.
    rotation_cli.stage_client_secret(sm(runner), signed_store.store, NEW_CLIENT_SECRET)
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    for name in STEPS:
        step(runner, name, secret_id, token)
        step(runner, name, secret_id, token)
        # BigCommerce may sign with either while the switch goes on: the new one is pending from createSecret.
        assert signed_by(bigcommerce, OLD_CLIENT_SECRET) == 202
        assert signed_by(bigcommerce, NEW_CLIENT_SECRET) == 202
        assert bigcommerce.deliver(1, cart_deleted(bigcommerce)).status_code == 202

    promoted = current(runner, secret_id)
    assert promoted["client_secret"] == NEW_CLIENT_SECRET
    assert promoted["webhook_secret"] == signed_store.webhook_secret  # the header token stays
    assert promoted["platform_api_credentials"] == {"access_token": ACCESS_TOKEN}
    assert current(runner, secret_id, AWSPREVIOUS)["client_secret"] == OLD_CLIENT_SECRET
    assert bigcommerce.hook(1)["headers"] == {TOKEN_HEADER: signed_store.webhook_secret}
    assert not [r for r in bigcommerce.requests if "/hooks" in r["path"]]  # nothing pushed, nothing read back
    assert not any(STAGED in labels for labels in stages(runner, secret_id).values())

    # The grace ends (as if an hour had passed); a refused delivery makes the receiver look again.
    sm(runner).tag_resource(SecretId=secret_id, Tags=[{"Key": PROMOTED_AT_TAG, "Value": "2020-01-01T00:00:00Z"}])
    assert signed_by(bigcommerce, "bc-app-client-secret-forged") == 401
    assert signed_by(bigcommerce, OLD_CLIENT_SECRET) == 401
    assert signed_by(bigcommerce, NEW_CLIENT_SECRET) == 202
    logs = captured_logs.getvalue()
    assert OLD_CLIENT_SECRET not in logs and NEW_CLIENT_SECRET not in logs and signed_store.webhook_secret not in logs


def test_a_generated_token_is_pushed_and_the_client_secret_kept(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, signed_store: RegisteredStore
) -> None:
    secret_id = signed_store.store.secret_id
    token = rotation_cli.start_local_rotation(sm(runner), secret_id)
    for name in STEPS:
        step(runner, name, secret_id, token)
        for hook_id in (1, 2):
            assert bigcommerce.deliver(hook_id, cart_deleted(bigcommerce)).status_code == 202

    promoted = current(runner, secret_id)
    assert promoted["webhook_secret"] != signed_store.webhook_secret
    assert promoted["client_secret"] == OLD_CLIENT_SECRET
    assert bigcommerce.hook(1)["headers"] == {TOKEN_HEADER: promoted["webhook_secret"]}
    assert bigcommerce.hook(2)["headers"] == {}
    # The old token, unsigned, within its grace; the new one; the client secret alone.
    bigcommerce.set_client_secret(None)
    for token_value in (signed_store.webhook_secret, promoted["webhook_secret"]):
        bigcommerce.app.hook_registry.update(1, {"headers": {TOKEN_HEADER: token_value}})
        assert bigcommerce.deliver(1, cart_deleted(bigcommerce)).status_code == 202
    assert signed_by(bigcommerce, OLD_CLIENT_SECRET) == 202
