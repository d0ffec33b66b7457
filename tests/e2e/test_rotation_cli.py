"""The operator's side: `commerce-sync rotate …` and `commerce-sync rotation-status` against the local runner.

Locally there is no Lambda service, so the CLI (`--local`, the default when AWS_ENDPOINT_URL is set) has
moto's RotateSecret make the AWSPENDING placeholder and runs the four steps through KeyRotationFunction
itself. New keys and secrets come from stdin here (a prompt otherwise) and must never be printed or logged.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT
from commerce_sync.aws.settings import Settings

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import main as operator_main
from operator_cli import rotation as rotation_cli
from operator_cli.stores import generate_webhook_secret
from tests.e2e.test_bigcommerce_webhooks import thin
from tests.harness import API_KEY, RegisteredStore, register_store

ACCESS_TOKEN = "bc-cli-rotation-token"
TOKEN_HEADER = "X-Commerce-Sync-Token"


def cli(monkeypatch: pytest.MonkeyPatch, *arguments: str, stdin: str | None = None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin + "\n"))
    return operator_main.main(list(arguments))


def current(runner: LocalRunner, secret_id: str) -> dict[str, Any]:
    raw = runner.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT)
    return json.loads(raw["SecretString"])


def new_key() -> str:
    return f"{uuid.uuid4().hex}-us6"


@pytest.fixture
def mailchimp_secret(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The runner's own Mailchimp secret, which every function reads; put back on the suite's key after."""
    secret_id = Settings.from_environment().mailchimp_secret_arn
    yield secret_id
    if current(runner, secret_id)["api_key"] != API_KEY:
        assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", "--restart", stdin=API_KEY) == 0


def test_rotate_mailchimp_key_stages_and_promotes_without_showing_the_key(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_secret: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    captured_logs: io.StringIO,
) -> None:
    key = new_key()
    mailchimp.add_api_key(key)
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", stdin=key) == 0  # local: AWS_ENDPOINT_URL is set

    assert current(runner, mailchimp_secret)["api_key"] == key
    out = capsys.readouterr()
    assert "the new version is AWSCURRENT" in out.out
    assert "revoke the previous key in Mailchimp" in out.out
    assert key not in out.out + out.err
    assert key not in captured_logs.getvalue() and API_KEY not in captured_logs.getvalue()

    # Every function reads the new key from now on (the operator CLI's own Mailchimp client too).
    assert rotation_cli.rotation_status(Settings.from_environment())[0].rotation == "idle"


def test_a_wrong_mailchimp_key_is_refused_then_a_restart_promotes_a_good_one(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_secret: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = current(runner, mailchimp_secret)["api_key"]
    unknown = new_key()  # never added to Mailchimp: /ping answers 401
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", "--local", stdin=unknown) == 1
    assert current(runner, mailchimp_secret)["api_key"] == before
    assert "AWSCURRENT is unchanged" in capsys.readouterr().out

    good = new_key()
    mailchimp.add_api_key(good)
    # The failed rotation created its version: the CLI will not silently abandon it.
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", "--local", stdin=good) == 2
    assert "--restart" in capsys.readouterr().err
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", "--local", "--restart", stdin=good) == 0
    assert current(runner, mailchimp_secret)["api_key"] == good
    out = capsys.readouterr()
    assert unknown not in out.out + out.err and good not in out.out + out.err


def test_malformed_or_current_keys_are_refused_before_anything_is_staged(
    runner: LocalRunner, mailchimp_secret: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", stdin="hunter2") == 2
    current_key = current(runner, mailchimp_secret)["api_key"]
    assert cli(monkeypatch, "rotate", "mailchimp-key", "--stdin", stdin=current_key) == 2
    err = capsys.readouterr().err
    assert "not a Mailchimp API key" in err and "current key" in err
    assert "hunter2" not in err and current_key not in err
    assert not any(row.staged for row in rotation_cli.rotation_status(Settings.from_environment())[:1])


@pytest.fixture
def bc_store(runner: LocalRunner) -> Iterator[tuple[RegisteredStore, BigCommerceEmulator]]:
    with BigCommerceEmulator(f"cli{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as bigcommerce:
        store = register_store(
            "bigcommerce",
            identity=bigcommerce.store_hash,
            platform_api_url=bigcommerce.base_url,
            platform_api_credentials={"access_token": ACCESS_TOKEN},
        )
        bigcommerce.put_hook(
            "store/cart/deleted", f"{runner.url}/webhooks/bigcommerce", headers={TOKEN_HEADER: store.webhook_secret}
        )
        yield store, bigcommerce


def test_rotate_store_secret_generates_pushes_and_sets_the_schedule(
    runner: LocalRunner,
    bc_store: tuple[RegisteredStore, BigCommerceEmulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, bigcommerce = bc_store
    assert cli(monkeypatch, "rotate", "store-secret", store.store_id, "--local", "--every-days", "30") == 0
    new_secret = current(runner, store.store.secret_id)["webhook_secret"]
    assert new_secret != store.webhook_secret
    assert bigcommerce.hook(1)["headers"][TOKEN_HEADER] == new_secret
    assert new_secret not in capsys.readouterr().out

    description = runner.client("secretsmanager").describe_secret(SecretId=store.store.secret_id)
    assert description["RotationEnabled"] is True
    assert description["RotationRules"]["AutomaticallyAfterDays"] == 30

    # Again, printing the new secret once (for a sender no API reaches, such as the WooCommerce cart plugin).
    assert cli(monkeypatch, "rotate", "store-secret", store.store_id, "--local", "--show-secret") == 0
    newest = current(runner, store.store.secret_id)["webhook_secret"]
    assert capsys.readouterr().out.count(newest) == 1


def test_rotate_shopify_secret_reads_the_merchants_new_secret_from_stdin(
    runner: LocalRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify")
    new_secret = generate_webhook_secret()
    assert cli(monkeypatch, "rotate", "shopify-secret", store.store_id, "--stdin", "--local", stdin=new_secret) == 0
    assert current(runner, store.store.secret_id)["webhook_secret"] == new_secret
    body = b'{"id": 1}'
    # Both are accepted now: the new secret (current) and the old one (previous, within its grace).
    for secret in (new_secret, store.webhook_secret):
        assert send_shopify(runner.url, secret, "orders/paid", store.identity, body).status_code != 401
    out = capsys.readouterr()
    assert new_secret not in out.out + out.err


def test_shopify_stores_need_a_supplied_secret_and_shopify_secret_is_for_shopify_only(
    runner: LocalRunner,
    bc_store: tuple[RegisteredStore, BigCommerceEmulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, _ = bc_store
    assert cli(monkeypatch, "rotate", "shopify-secret", store.store_id, "--stdin", stdin="x" * 40) == 2
    err = capsys.readouterr().err
    assert "is a bigcommerce store" in err and f"commerce-sync rotate store-secret {store.store_id}" in err
    shop = register_store("shopify")
    # store-secret on a Shopify store asks for the secret too (here on stdin); too short is refused.
    assert cli(monkeypatch, "rotate", "store-secret", shop.store_id, "--stdin", stdin="short") == 2
    err = capsys.readouterr().err
    assert err.startswith("commerce-sync rotate store-secret: error: ")
    assert "at least 16 characters" in err and "openssl rand -hex 32" in err


def test_rotate_bigcommerce_client_secret_stages_the_apps_secret_and_keeps_the_token(
    runner: LocalRunner,
    bc_store: tuple[RegisteredStore, BigCommerceEmulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A store registered before client secrets were kept: its first one comes in by rotation.
    store, bigcommerce = bc_store
    client_secret = generate_webhook_secret()
    command = ("rotate", "bigcommerce-client-secret", store.store_id, "--stdin", "--local")
    assert cli(monkeypatch, *command, stdin=client_secret) == 0

    promoted = current(runner, store.store.secret_id)
    assert (promoted["client_secret"], promoted["webhook_secret"]) == (client_secret, store.webhook_secret)
    assert bigcommerce.hook(1)["headers"] == {TOKEN_HEADER: store.webhook_secret}
    # BigCommerce's deliveries, signed with the app's client secret, from a hook without our token.
    bigcommerce.set_client_secret(client_secret)
    bigcommerce.put_hook("store/cart/deleted", f"{runner.url}/webhooks/bigcommerce")
    delivery = thin(bigcommerce, "store/cart/deleted", {"type": "cart", "id": str(uuid.uuid4())})
    assert bigcommerce.deliver(2, delivery).status_code == 202
    out = capsys.readouterr()
    assert "new client secret staged" in out.out and "the new version is AWSCURRENT" in out.out
    assert client_secret not in out.out + out.err

    # The same secret again is refused before anything is staged; so is a Shopify store.
    assert cli(monkeypatch, *command, stdin=client_secret) == 2
    err = capsys.readouterr().err
    assert "is the current one: rotate it in the BigCommerce app first" in err
    shop = register_store("shopify")
    assert cli(monkeypatch, "rotate", "bigcommerce-client-secret", shop.store_id, "--stdin", stdin="x" * 40) == 2
    err = capsys.readouterr().err
    assert "is a shopify store; only BigCommerce stores keep a client secret" in err


def test_rotation_status_shows_state_never_values(
    runner: LocalRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify")
    staged_secret = generate_webhook_secret()
    rotation_cli.stage_webhook_secret(runner.client("secretsmanager"), store.store.secret_id, staged_secret)
    assert cli(monkeypatch, "rotation-status", "--json") == 0
    out = capsys.readouterr().out
    rows = {row["store_id"]: row for row in json.loads(out)}
    assert rows[None]["kind"] == "mailchimp_api_key"
    assert rows[store.store_id]["staged"] is True
    assert rows[store.store_id]["rotation"] == "idle"
    assert staged_secret not in out and store.webhook_secret not in out and API_KEY not in out

    assert cli(monkeypatch, "rotation-status") == 0
    text = capsys.readouterr().out
    assert store.store_id in text and "a new value is staged" in text
