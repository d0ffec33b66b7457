"""`--json` on the commands that print an outcome, against the local runner: stdout holds one JSON document saying
what was done (as the registry, the secrets and the emulators then hold it), progress and notices go to stderr, and
no secret is in it but the one asked for (add-store's generated webhook secret)."""

from __future__ import annotations

import base64
import io
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry

from emulators.shopify.emulator import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main
from tests.harness import register_store

TOKEN = "shpat_json_0123456789abcdef"


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def cli(capsys: pytest.CaptureFixture[str], *arguments: str, typed: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    stdin = sys.stdin
    sys.stdin = io.StringIO(typed)
    try:
        code = operator_main.main(list(arguments))
    finally:
        sys.stdin = stdin
    out, err = capsys.readouterr()
    return code, out, err


def store_secret(store_id: str) -> dict[str, Any]:
    store = StoreRegistry(Settings.from_environment().stores_table).get(store_id)
    assert store is not None
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=store.secret_id)["SecretString"]
    secret: dict[str, Any] = json.loads(raw)
    return secret


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"json-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as running:
        for product in sample_catalog():
            running.put_product(product)
        yield running


def test_add_store_json_says_what_was_registered_and_holds_the_generated_secret_only_when_generated(
    operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store_id = f"json-{uuid.uuid4().hex[:10]}"
    new = ("--platform", "woocommerce", "--identity", f"https://{store_id}.example.com", "--name", "Woo")
    code, out, err = cli(
        capsys,
        *("add-store", "--store-id", store_id, *new, "--list-id", "list-e2e", "--currency", "EUR"),
        *("--generate-webhook-secret", "--json"),
    )

    assert code == 0, err
    registered = json.loads(out)
    secret = store_secret(store_id)["webhook_secret"]
    assert registered == {
        "store_id": store_id,
        "outcome": "registered",
        "changed": [],
        "platform": "woocommerce",
        "identity": f"https://{store_id}.example.com",
        "list_id": "list-e2e",
        "mailchimp_account": "default",
        "webhook_secret": secret,
    }

    code, out, err = cli(capsys, "add-store", "--store-id", store_id, "--name", "Woo EU", "--json")

    assert code == 0, err
    updated = json.loads(out)
    assert (updated["outcome"], updated["changed"]) == ("updated", ["name"])
    assert "webhook_secret" not in updated and secret not in out + err


def test_set_credentials_json_says_they_were_checked_and_saved_without_showing_them(
    operator_env: None, shopify: ShopifyEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify", identity=shopify.shop_domain, platform_api_url=shopify.base_url)

    code, out, err = cli(capsys, "stores", "set-credentials", store.store_id, "--stdin", "--json", typed=TOKEN)

    assert code == 0, err
    assert json.loads(out) == {
        "store_id": store.store_id,
        "platform_api_credentials": {"saved": True, "checked": True, "platform": "shopify"},
    }
    assert store_secret(store.store_id)["platform_api_credentials"] == {"access_token": TOKEN}
    assert TOKEN not in out + err


@pytest.fixture
def oauth_app_kept(operator_env: None) -> Iterator[None]:
    """`mailchimp-app` writes the runner's OAuth app secret: what other tests of this worker read is put back."""
    client = boto3.client("secretsmanager")
    secret_id = Settings.from_environment().mailchimp_oauth_secret_arn
    before = client.get_secret_value(SecretId=secret_id)["SecretString"]
    yield
    client.put_secret_value(SecretId=secret_id, SecretString=before)


def test_mailchimp_app_and_connect_mailchimp_json_give_the_app_and_the_link_with_the_expiry_its_invite_carries(
    oauth_app_kept: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client_secret = f"app-secret-{uuid.uuid4().hex}"
    code, out, err = cli(
        capsys, "mailchimp-app", "--client-id", "json-app", "--client-secret-stdin", "--json", typed=client_secret
    )
    assert code == 0, err
    assert json.loads(out) == {"client_id": "json-app", "saved": True}
    assert client_secret not in out + err
    saved = boto3.client("secretsmanager").get_secret_value(
        SecretId=Settings.from_environment().mailchimp_oauth_secret_arn
    )
    assert json.loads(saved["SecretString"])["client_id"] == "json-app"
    store = register_store("shopify")

    code, out, err = cli(capsys, "connect-mailchimp", store.store_id, "--valid-days", "2", "--json")

    assert code == 0, err
    result = json.loads(out)
    link = urlparse(result["link"])
    assert link.path.endswith(f"/connect/mailchimp/{store.store_id}")
    body = parse_qs(link.query)["invite"][0].partition(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["s"] == store.store_id
    assert datetime.fromisoformat(result["expires_at"]).timestamp() == claims["e"]
    assert result["valid_days"] == 2


def test_sync_products_json_prints_the_run_summary_alone_on_stdout(
    operator_env: None, shopify: ShopifyEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )

    code, out, err = cli(capsys, "sync-products", "--store", store.store_id, "--json")

    assert code == 0, err
    (summary,) = json.loads(out)  # the function's log lines went to stderr
    assert (summary["store_id"], summary["status"], summary["what"]) == (store.store_id, "done", ["products"])
    assert summary["seen"] == summary["created"] == len(sample_catalog())
    assert TOKEN not in out + err
