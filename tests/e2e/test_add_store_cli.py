"""`commerce-sync --env-file … add-store` as the README shows it, against the local runner: a store id that
is already registered is updated (only what is given changes), `--replace` registers it anew, and what a
new store lacks is named. Secrets come from stdin and are never printed (a generated one is, once).

The platform API credentials are put into the store's secret directly here (PutSecretValue), as a secret
written before add-store took them, or holding keys it does not know; add-store's own credentials and checks
are in test_store_credentials.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import Store, StoreRegistry

from emulators.bigcommerce import BigCommerceEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import main as operator_main
from operator_cli.stores import generate_webhook_secret
from tests.e2e.test_bigcommerce_webhooks import deliver, put_cart, thin
from tests.harness import MailchimpReader

ACCESS_TOKEN = "bc-add-store-token"
CHECKOUT = Path(__file__).resolve().parents[2] / "events" / "shopify_checkout_update_body.json"


@pytest.fixture
def env_file(runner: LocalRunner, tmp_path: Path) -> Path:
    """What `commerce-sync-local` writes to .local/runner.env."""
    return write_env_file(runner, tmp_path / "runner.env")


@pytest.fixture
def cli(env_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    def run(*arguments: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin + "\n"))
        code = operator_main.main(["--env-file", str(env_file), "add-store", *arguments])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run


def registry() -> StoreRegistry:
    return StoreRegistry(Settings.from_environment().stores_table)


def stored(store_id: str) -> Store:
    store = registry().get(store_id)
    assert store is not None
    return store


def secret_json(runner: LocalRunner, secret_id: str) -> dict[str, Any]:
    raw = runner.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT)
    return json.loads(raw["SecretString"])


def versions(runner: LocalRunner, secret_id: str) -> dict[str, list[str]]:
    return runner.client("secretsmanager").describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def shopify_arguments(store_id: str, shop: str, *extra: str) -> list[str]:
    return [
        *("--platform", "shopify", "--identity", shop, "--store-id", store_id),
        *("--name", "My Shop", "--list-id", "list-add-store", "--currency", "USD"),
        *extra,
    ]


def new_ids() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"shop-{suffix}", f"shop-{suffix}.myshopify.com"


def checkout_body() -> bytes:
    body = json.loads(CHECKOUT.read_text())
    body["token"] = uuid.uuid4().hex
    body["cart_token"] = uuid.uuid4().hex
    return json.dumps(body).encode()


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"add{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


def test_a_new_name_keeps_the_platform_credentials_and_the_webhook_secret(
    runner: LocalRunner, cli: Any, bigcommerce: BigCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id, secret = f"bc-{uuid.uuid4().hex[:10]}", generate_webhook_secret()
    code, out, err = cli(
        *("--platform", "bigcommerce", "--identity", bigcommerce.store_hash, "--store-id", store_id),
        *("--name", "Old name", "--list-id", "list-add-store", "--currency", "EUR"),
        *("--platform-api-url", bigcommerce.base_url, "--double-opt-in", "--webhook-secret-stdin"),
        stdin=secret,
    )
    assert code == 0, err
    assert f"store {store_id} registered" in out
    secret_id = stored(store_id).secret_id
    operator_secret = {
        **secret_json(runner, secret_id),
        "platform_api_credentials": {"access_token": ACCESS_TOKEN},
        "origin": "operator",  # as a rotation leaves it: keys add-store knows nothing about
    }
    runner.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(operator_secret))
    before, stages = stored(store_id), versions(runner, secret_id)

    code, out, err = cli("--store-id", store_id, "--name", "New name")

    assert code == 0, err
    assert out.strip() == f"store {store_id} updated: name"
    assert secret_json(runner, secret_id) == operator_secret
    assert versions(runner, secret_id) == stages
    after = stored(store_id)
    assert after.name == "New name"
    assert after.model_dump(exclude={"name"}) == before.model_dump(exclude={"name"})
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}")
    assert held is not None and held["name"] == "New name"
    # The first delivery of this store, so nothing cached: the credentials and secret come from the secret now.
    cart = put_cart(bigcommerce)
    response = deliver(runner, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]}), secret)
    assert response.status_code == 202, response.text


def test_a_bigcommerce_store_takes_its_apps_client_secret_from_stdin(
    runner: LocalRunner, cli: Any, bigcommerce: BigCommerceEmulator
) -> None:
    store_id, token, client_secret = f"bc-{uuid.uuid4().hex[:10]}", generate_webhook_secret(), generate_webhook_secret()
    code, out, err = cli(
        *("--platform", "bigcommerce", "--identity", bigcommerce.store_hash, "--store-id", store_id),
        *("--name", "Signed", "--list-id", "list-add-store", "--currency", "EUR"),
        *("--platform-api-url", bigcommerce.base_url, "--webhook-secret-stdin", "--client-secret-stdin"),
        stdin=f"{token}\n{client_secret}",  # the webhook secret's line, then the client secret's
    )

    assert code == 0, err
    held = secret_json(runner, stored(store_id).secret_id)
    assert (held["webhook_secret"], held["client_secret"]) == (token, client_secret)
    assert token not in out + err and client_secret not in out + err
    secret_id = stored(store_id).secret_id
    runner.client("secretsmanager").put_secret_value(
        SecretId=secret_id,
        SecretString=json.dumps({**held, "platform_api_credentials": {"access_token": ACCESS_TOKEN}}),
    )
    bigcommerce.set_client_secret(client_secret)
    bigcommerce.put_hook("store/cart/updated", f"{runner.url}/webhooks/bigcommerce")  # no token: signed only
    cart = put_cart(bigcommerce)
    response = bigcommerce.deliver(1, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]}))
    assert response.status_code == 202, response.text

    # Updated like any other key: only the client secret changes.
    code, out, err = cli("--store-id", store_id, "--client-secret-stdin", stdin="a-newer-client-secret-value")
    assert (code, out.strip()) == (0, f"store {store_id} updated: client_secret"), err
    assert secret_json(runner, secret_id)["webhook_secret"] == token


def test_a_client_secret_is_refused_for_other_platforms_before_it_is_read(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    code, _, err = cli(*shopify_arguments(store_id, shop, "--generate-webhook-secret", "--client-secret-stdin"))
    assert code == 2
    assert "a client secret is kept for BigCommerce stores only; this store is shopify" in err
    assert registry().get(store_id) is None


def test_options_are_kept_unless_flipped(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    code, _, err = cli(
        *shopify_arguments(store_id, shop, "--double-opt-in", "--pending-then-paid", "--domain", "shop.example"),
        *("--platform-api-url", "https://example.invalid/admin", "--generate-webhook-secret"),
    )
    assert code == 0, err
    registered = stored(store_id)
    assert (registered.double_opt_in, registered.pending_then_paid, registered.domain) == (True, True, "shop.example")
    # An attribute a newer version of the registry writes, which this one does not model.
    table = runner.client("dynamodb")
    key = {"store_id": {"S": store_id}}
    table.update_item(
        TableName=Settings.from_environment().stores_table,
        Key=key,
        UpdateExpression="SET newer_option = :v",
        ExpressionAttributeValues={":v": {"S": "kept"}},
    )

    code, out, _ = cli("--store-id", store_id, "--currency", "eur")
    assert out.strip() == f"store {store_id} updated: currency_code"
    kept = stored(store_id)
    assert kept.currency_code == "EUR"
    assert kept.model_dump(exclude={"currency_code"}) == registered.model_dump(exclude={"currency_code"})

    code, out, _ = cli("--store-id", store_id, "--no-double-opt-in", "--pending-then-paid", "--domain", "")
    assert code == 0
    assert out.strip() == f"store {store_id} updated: domain, double_opt_in"
    flipped = stored(store_id)
    assert (flipped.double_opt_in, flipped.pending_then_paid, flipped.domain) == (False, True, None)
    assert flipped.platform_api_url == registered.platform_api_url and flipped.created_at == registered.created_at
    item = table.get_item(TableName=Settings.from_environment().stores_table, Key=key)["Item"]
    assert item["newer_option"] == {"S": "kept"}


def test_nothing_new_writes_no_secret_version(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    secret = generate_webhook_secret()
    assert cli(*shopify_arguments(store_id, shop, "--webhook-secret-stdin"), stdin=secret)[0] == 0
    secret_id = stored(store_id).secret_id
    stages, item = versions(runner, secret_id), stored(store_id)

    # Everything again, the same secret included.
    code, out, err = cli(*shopify_arguments(store_id, shop, "--webhook-secret-stdin"), stdin=secret)
    assert (code, out.strip()) == (0, f"store {store_id}: nothing to change"), err
    code, out, _ = cli("--store-id", store_id)
    assert (code, out.strip()) == (0, f"store {store_id}: nothing to change")

    assert versions(runner, secret_id) == stages
    assert stored(store_id) == item
    assert secret not in out + err


def test_a_new_webhook_secret_is_an_update_of_the_secret_alone(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    assert cli(*shopify_arguments(store_id, shop, "--webhook-secret-stdin"), stdin=generate_webhook_secret())[0] == 0
    secret_id = stored(store_id).secret_id
    runner.client("secretsmanager").put_secret_value(
        SecretId=secret_id,
        SecretString=json.dumps({**secret_json(runner, secret_id), "platform_api_credentials": {"access_token": "t"}}),
    )
    previous = version_of(runner, secret_id, AWSCURRENT)

    new_secret = generate_webhook_secret()
    code, out, err = cli("--store-id", store_id, "--webhook-secret-stdin", stdin=new_secret)

    assert code == 0, err
    assert out.strip() == f"store {store_id} updated: webhook_secret"
    assert new_secret not in out + err
    assert secret_json(runner, secret_id)["webhook_secret"] == new_secret
    assert secret_json(runner, secret_id)["platform_api_credentials"] == {"access_token": "t"}
    # One new version, labelled as any PutSecretValue labels it.
    assert "AWSPREVIOUS" in versions(runner, secret_id)[previous]
    assert send_shopify(runner.url, new_secret, "checkouts/update", shop, checkout_body()).status_code == 202


def version_of(runner: LocalRunner, secret_id: str, stage: str) -> str:
    return next(version for version, labels in versions(runner, secret_id).items() if stage in labels)


def test_replace_registers_the_store_anew(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    original = generate_webhook_secret()
    assert cli(*shopify_arguments(store_id, shop, "--double-opt-in", "--webhook-secret-stdin"), stdin=original)[0] == 0
    secret_id = stored(store_id).secret_id
    runner.client("secretsmanager").put_secret_value(
        SecretId=secret_id,
        SecretString=json.dumps({**secret_json(runner, secret_id), "platform_api_credentials": {"access_token": "t"}}),
    )

    # --replace needs everything a new store needs.
    code, _, err = cli("--store-id", store_id, "--replace", "--name", "Other")
    assert code == 2 and "--platform" in err and "--list-id" in err and "Traceback" not in err

    replacement = generate_webhook_secret()
    code, out, err = cli(*shopify_arguments(store_id, shop, "--replace", "--webhook-secret-stdin"), stdin=replacement)

    assert code == 0, err
    assert out.startswith(f"store {store_id} replaced: ")
    assert replacement not in out + err and original not in out + err
    assert secret_json(runner, secret_id) == {
        "kind": "store_webhook_secret",
        "webhook_secret": replacement,
        "platform_api_credentials": {},
    }
    assert stored(store_id).double_opt_in is False
    assert send_shopify(runner.url, replacement, "checkouts/update", shop, checkout_body()).status_code == 202


def test_a_new_store_missing_options_is_refused_with_their_names(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    arguments = [
        argument for argument in shopify_arguments(store_id, shop) if argument not in ("--list-id", "list-add-store")
    ]
    code, out, err = cli(*arguments, "--generate-webhook-secret")

    assert code == 2 and out == ""
    assert err.strip() == f"commerce-sync add-store: error: store {store_id} is new; it needs --list-id"
    assert registry().get(store_id) is None
    secrets = runner.client("secretsmanager").list_secrets(
        Filters=[{"Key": "name", "Values": [f"{Settings.from_environment().store_secret_prefix}{store_id}"]}]
    )
    assert secrets["SecretList"] == []


def test_the_installed_command_reports_missing_options_like_argparse(runner: LocalRunner, env_file: Path) -> None:
    store_id, _ = new_ids()
    command = Path(sys.executable).with_name("commerce-sync")
    answer = subprocess.run(
        [str(command), "--env-file", str(env_file), "add-store", "--store-id", store_id, "--name", "Shop"],
        env={"PATH": str(command.parent)},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 2 and answer.stdout == ""
    assert answer.stderr.strip() == (
        f"commerce-sync add-store: error: store {store_id} is new; "
        "it needs --platform, --identity, --list-id, --currency"
    )


def test_identity_changes_follow_and_a_taken_identity_or_another_audience_is_refused(
    runner: LocalRunner, cli: Any
) -> None:
    store_id, shop = new_ids()
    secret = generate_webhook_secret()
    assert cli(*shopify_arguments(store_id, shop, "--webhook-secret-stdin"), stdin=secret)[0] == 0
    other_id, other_shop = new_ids()
    assert cli(*shopify_arguments(other_id, other_shop, "--generate-webhook-secret"))[0] == 0
    moved = f"moved-{uuid.uuid4().hex[:8]}.myshopify.com"

    code, out, _ = cli("--store-id", store_id, "--identity", moved)
    assert (code, out.strip()) == (0, f"store {store_id} updated: identity")
    found = registry().find("shopify", moved)
    assert found is not None and found.store_id == store_id
    assert registry().find("shopify", shop) is None
    assert send_shopify(runner.url, secret, "checkouts/update", moved, checkout_body()).status_code == 202
    assert send_shopify(runner.url, secret, "checkouts/update", shop, checkout_body()).status_code == 404

    before = stored(store_id)
    code, _, err = cli("--store-id", store_id, "--identity", other_shop)
    assert code == 2 and f"already registered as store {other_id}" in err
    code, _, err = cli("--store-id", store_id, "--list-id", "another-audience", "--name", "Renamed")
    assert code == 2 and "audience cannot change" in err and "Traceback" not in err
    assert stored(store_id) == before


def test_the_secret_is_not_changed_under_a_pending_rotation(runner: LocalRunner, cli: Any) -> None:
    store_id, shop = new_ids()
    assert cli(*shopify_arguments(store_id, shop, "--generate-webhook-secret"))[0] == 0
    secret_id = stored(store_id).secret_id
    client = runner.client("secretsmanager")
    # What createSecret leaves: a pending version with its value, made from the current one.
    client.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=str(uuid.uuid4()),
        SecretString=json.dumps({**secret_json(runner, secret_id), "webhook_secret": generate_webhook_secret()}),
        VersionStages=["AWSPENDING"],
    )
    stages, current = versions(runner, secret_id), secret_json(runner, secret_id)

    code, _, err = cli("--store-id", store_id, "--webhook-secret-stdin", stdin=generate_webhook_secret())
    assert code == 2 and "rotation" in err and "--restart" in err
    assert (versions(runner, secret_id), secret_json(runner, secret_id)) == (stages, current)

    # The registry is not the secret: it can still change.
    code, out, _ = cli("--store-id", store_id, "--name", "Renamed during a rotation")
    assert (code, out.strip()) == (0, f"store {store_id} updated: name")
    assert versions(runner, secret_id) == stages


def test_an_empty_secret_is_refused_like_any_other_refusal(runner: LocalRunner, env_file: Path) -> None:
    store_id, _ = new_ids()
    command = Path(sys.executable).with_name("commerce-sync")
    refused = subprocess.run(
        [
            str(command),
            "--env-file",
            str(env_file),
            "add-store",
            "--store-id",
            store_id,
            "--platform",
            "shopify",
            "--identity",
            f"{store_id}.myshopify.com",
            "--name",
            "Empty",
            "--list-id",
            "a1b2c3d4e5",
            "--currency",
            "USD",
            "--webhook-secret-stdin",
        ],
        env={"PATH": str(command.parent)},
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert refused.returncode == 2, refused.stderr
    assert "an empty secret was given (nothing was saved)" in refused.stderr
