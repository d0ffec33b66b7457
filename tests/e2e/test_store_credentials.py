"""Platform API addresses and credentials through the operator CLI, against the local runner and the
platforms' stand-ins over HTTP: `add-store --credentials-stdin | --prompt-credentials` and `stores
set-credentials` check the credentials with one call to the store's API before saving them into the store's
secret; a refusal is said in plain words and saves nothing; a new store's Mailchimp key and audience are
checked the same way. No credential ever appears in what the CLI prints or the layer logs.
"""

from __future__ import annotations

import getpass
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
from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.woocommerce import WooCommerceEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner, free_port
from operator_cli import main as operator_main
from tests.harness import MailchimpReader

SHOPIFY_TOKEN = "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"
WRONG_TOKEN = "shpat_ffffffffffffffffffffffffffffffff"
CONSUMER_KEY, CONSUMER_SECRET = (
    "ck_4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e",
    "cs_9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6",
)
BIGCOMMERCE_TOKEN = "bc0123456789abcdefghijklmnopqr"
EVERY_CREDENTIAL = (SHOPIFY_TOKEN, WRONG_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, BIGCOMMERCE_TOKEN)


@pytest.fixture
def env_file(runner: LocalRunner, tmp_path: Path) -> Path:
    return write_env_file(runner, tmp_path / "runner.env")


@pytest.fixture
def cli(
    env_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], captured_logs: io.StringIO
) -> Iterator[Any]:
    """Runs `commerce-sync --env-file … ARGS` with `stdin`; checks that no credential was printed or logged."""

    def run(*arguments: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = operator_main.main(["--env-file", str(env_file), *arguments])
        out = capsys.readouterr()
        shown = out.out + out.err + captured_logs.getvalue()
        assert not [credential for credential in EVERY_CREDENTIAL if credential in shown]
        return code, out.out, out.err

    yield run


def stored(store_id: str) -> Store | None:
    return StoreRegistry(Settings.from_environment().stores_table).get(store_id)


def secret_json(runner: LocalRunner, secret_id: str) -> dict[str, Any]:
    raw = runner.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=AWSCURRENT)
    return json.loads(raw["SecretString"])


def versions(runner: LocalRunner, secret_id: str) -> dict[str, list[str]]:
    return runner.client("secretsmanager").describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def secret_exists(runner: LocalRunner, store_id: str) -> bool:
    name = f"{Settings.from_environment().store_secret_prefix}{store_id}"
    found = runner.client("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": [name]}])
    return bool(found["SecretList"])


def new_store(platform: str, identity: str, *extra: str, store_id: str | None = None) -> list[str]:
    return [
        "add-store",
        *(
            "--platform",
            platform,
            "--identity",
            identity,
            "--store-id",
            store_id or f"{platform[:4]}-{uuid.uuid4().hex[:10]}",
        ),
        *("--name", "Credential Shop", "--list-id", "list-credentials", "--currency", "USD"),
        "--generate-webhook-secret",
        *extra,
    ]


def host_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"cred-{uuid.uuid4().hex[:8]}.myshopify.com", SHOPIFY_TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        yield emulator


# ---- Shopify: the README's form of the address, credentials from stdin, and the catalog sync ----------------


def test_the_readme_form_of_a_shopify_address_is_checked_saved_and_synced(
    runner: LocalRunner, cli: Any, shopify: ShopifyEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = f"shop-{uuid.uuid4().hex[:10]}"
    readme_form = f"{shopify.base_url}/admin/api/2025-01"

    code, out, err = cli(
        *new_store("shopify", shopify.shop_domain, "--platform-api-url", readme_form, store_id=store_id),
        "--credentials-stdin",
        stdin=f"access_token={SHOPIFY_TOKEN}\n",
    )

    assert code == 0, err
    assert f"store {store_id}: platform API credentials saved, accepted by the shopify API" in out
    store = stored(store_id)
    assert store is not None
    # The registry keeps the shop's address, and the version the URL named as the store's setting.
    assert (store.platform_api_url, store.platform_api_version) == (shopify.base_url, "2025-01")
    assert secret_json(runner, store.secret_id)["platform_api_credentials"] == {"access_token": SHOPIFY_TOKEN}
    assert [(r["path"], r["status"]) for r in shopify.requests] == [("/admin/api/2025-01/shop.json", 200)]

    result = runner.invoke("ProductSyncFunction", {"action": "catalog_sync", "store_id": store_id})

    assert (result["status"], result["created"], result["failed"]) == ("done", 4, 0)
    # The catalog run reads the products, then the discounts (docs/promotions.md), in the store's version.
    assert {r["path"] for r in shopify.requests[1:]} == {
        "/admin/api/2025-01/products.json",
        "/admin/api/2025-01/price_rules.json",
    }
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/products/1001") is not None


def test_a_version_given_on_its_own_is_spoken_and_a_bad_one_is_refused(
    runner: LocalRunner, cli: Any, shopify: ShopifyEmulator
) -> None:
    store_id = f"shop-{uuid.uuid4().hex[:10]}"
    arguments = new_store(
        "shopify", shopify.shop_domain, "--platform-api-url", f"{shopify.base_url}/", store_id=store_id
    )

    code, _, err = cli(*arguments, "--platform-api-version", "2025-1")
    assert (code, err.strip()) == (
        2,
        "commerce-sync add-store: error: '2025-1' is not a Shopify API version: the form is YYYY-MM, e.g. 2026-10",
    )
    code, _, err = cli(
        *arguments, "--platform-api-version", "2024-10", "--platform-api-url", f"{shopify.base_url}/admin/api/2025-01"
    )
    assert code == 2 and "names API version 2025-01 but --platform-api-version says 2024-10" in err
    assert stored(store_id) is None

    code, _, err = cli(*arguments, "--platform-api-version", "2024-10", "--credentials-stdin", stdin=SHOPIFY_TOKEN)
    assert code == 0, err
    store = stored(store_id)
    assert store is not None and (store.platform_api_url, store.platform_api_version) == (shopify.base_url, "2024-10")
    assert [r["path"] for r in shopify.requests] == ["/admin/api/2024-10/shop.json"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("my-shop.myshopify.com/admin/api/2025-01", "the platform API URL is not an http(s) URL with a host"),
        ("https://my-shop.myshopify.com/admin/api/2025-01/products.json", "is not one of Shopify's"),
        ("https://my-shop.myshopify.com/admin?access_token=shpat_x", "query string or fragment"),
    ],
)
def test_an_address_that_cannot_be_understood_is_refused_before_anything_is_saved(
    runner: LocalRunner, cli: Any, url: str, words: str
) -> None:
    arguments = new_store("shopify", f"x-{uuid.uuid4().hex[:8]}.myshopify.com", "--platform-api-url", url)
    code, out, err = cli(*arguments)

    assert code == 2 and out == ""
    assert err.startswith("commerce-sync add-store: error: ") and words in err
    assert "https://my-shop.myshopify.com/admin/api/2026-10)" in err, "the accepted forms are named"
    assert "shpat_x" not in err
    assert stored(arguments[6]) is None


def test_a_refused_token_saves_nothing_and_says_why(runner: LocalRunner, cli: Any, shopify: ShopifyEmulator) -> None:
    store_id = f"shop-{uuid.uuid4().hex[:10]}"
    arguments = new_store("shopify", shopify.shop_domain, "--platform-api-url", shopify.base_url, store_id=store_id)

    code, out, err = cli(*arguments, "--credentials-stdin", stdin=WRONG_TOKEN)

    assert (code, out) == (2, "")
    assert err.strip() == (
        f"commerce-sync add-store: error: the access token was refused by {host_of(shopify.base_url)}: 401 "
        "(nothing was saved)"
    )
    assert stored(store_id) is None and not secret_exists(runner, store_id)

    # Registered without credentials, then given wrong ones: the secret keeps its version.
    assert cli(*arguments)[0] == 0
    store = stored(store_id)
    assert store is not None
    before = (versions(runner, store.secret_id), secret_json(runner, store.secret_id))
    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin=f"access_token = {WRONG_TOKEN}")
    assert code == 2 and "the access token was refused by" in err and "(nothing was saved)" in err
    assert (versions(runner, store.secret_id), secret_json(runner, store.secret_id)) == before
    assert before[1]["platform_api_credentials"] == {}


def test_an_unreachable_api_is_named_and_skip_check_saves_unchecked(runner: LocalRunner, cli: Any) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    store_id = f"shop-{uuid.uuid4().hex[:10]}"
    arguments = new_store("shopify", f"{store_id}.myshopify.com", "--platform-api-url", nowhere, store_id=store_id)

    code, _, err = cli(*arguments, "--credentials-stdin", stdin=SHOPIFY_TOKEN)
    assert code == 2
    assert f"{host_of(nowhere)} could not be reached" in err
    assert "(nothing was saved; try again later, or add --skip-check to save without checking)" in err
    assert stored(store_id) is None

    code, out, err = cli(*arguments, "--credentials-stdin", "--skip-check", stdin=SHOPIFY_TOKEN)
    assert code == 0, err
    assert "platform API credentials saved, not checked (--skip-check)" in out
    store = stored(store_id)
    assert store is not None
    assert secret_json(runner, store.secret_id)["platform_api_credentials"] == {"access_token": SHOPIFY_TOKEN}


# ---- WooCommerce: set-credentials with prompts ---------------------------------------------------------------


def test_woocommerce_credentials_from_prompts_are_checked_then_saved_once(
    runner: LocalRunner, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_id = f"woo-{uuid.uuid4().hex[:10]}"
    with WooCommerceEmulator(CONSUMER_KEY, CONSUMER_SECRET) as woocommerce:
        rest_root = f"{woocommerce.base_url}/wp-json/wc/v3/"
        site = f"https://{store_id}.example.com/"
        assert cli(*new_store("woocommerce", site, "--platform-api-url", rest_root, store_id=store_id))[0] == 0
        store = stored(store_id)
        assert store is not None and store.platform_api_url == woocommerce.base_url
        prompts: list[str] = []

        def typed(*answers: str) -> None:
            replies = iter(answers)
            monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or next(replies))

        typed(CONSUMER_KEY, "cs_wrong")
        code, _, err = cli("stores", "set-credentials", store_id)
        assert code == 2
        assert err.strip() == (
            "commerce-sync stores set-credentials: error: the consumer key and secret were refused by "
            f"{host_of(woocommerce.base_url)}: 401 (nothing was saved)"
        )
        assert prompts == [
            "WooCommerce REST API consumer key (ck_…) (not shown): ",
            "WooCommerce REST API consumer secret (cs_…) (not shown): ",
        ]
        stages = versions(runner, store.secret_id)

        typed(CONSUMER_KEY, CONSUMER_SECRET)
        code, out, err = cli("stores", "set-credentials", store_id)
        assert (code, out.strip()) == (
            0,
            f"store {store_id}: platform API credentials saved, accepted by the woocommerce API",
        ), err
        assert secret_json(runner, store.secret_id)["platform_api_credentials"] == {
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
        }
        assert len(versions(runner, store.secret_id)) == len(stages) + 1

        # The same again: checked, but no new version of the secret.
        typed(CONSUMER_KEY, CONSUMER_SECRET)
        code, out, _ = cli("stores", "set-credentials", store_id)
        assert (code, out.strip()) == (
            0,
            f"store {store_id}: platform API credentials unchanged, accepted by the woocommerce API",
        )
        assert len(versions(runner, store.secret_id)) == len(stages) + 1
        checks = [r for r in woocommerce.requests if r["path"] == "/wp-json/wc/v3/products"]
        assert [(r["query"], r["status"]) for r in checks] == [({"per_page": "1"}, 401)] + [
            ({"per_page": "1"}, 200)
        ] * 2


def test_credentials_input_is_checked_without_echoing_it(runner: LocalRunner, cli: Any) -> None:
    store_id = f"woo-{uuid.uuid4().hex[:10]}"
    assert cli(*new_store("woocommerce", f"https://{store_id}.example.com", store_id=store_id))[0] == 0

    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin=f"consumer_key={CONSUMER_KEY}\n")
    assert code == 2 and "missing or empty: consumer_secret; woocommerce takes consumer_key, consumer_secret" in err
    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin=f"{CONSUMER_SECRET}=x\nconsumer_key=y\n")
    assert code == 2 and "line 1 names a field (not shown) that woocommerce does not take" in err
    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin=CONSUMER_KEY)
    assert code == 2 and "line 1 of the credentials is not name=value" in err
    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin='{"consumer_key": 1}')
    assert code == 2 and "a JSON object of strings" in err
    both_from_stdin = [
        a for a in new_store("woocommerce", "https://other.example.com") if a != "--generate-webhook-secret"
    ]
    code, _, err = cli(*both_from_stdin, "--credentials-stdin", "--webhook-secret-stdin")
    assert code == 2 and "cannot share stdin" in err

    code, _, err = cli("stores", "set-credentials", f"nobody-{uuid.uuid4().hex[:6]}", "--stdin", stdin="x")
    assert code == 2 and "is not registered (register it with add-store)" in err


# ---- BigCommerce: JSON on stdin, through the installed command ---------------------------------------------


def test_bigcommerce_credentials_as_json_through_the_installed_command(runner: LocalRunner, env_file: Path) -> None:
    store_hash = f"cred{uuid.uuid4().hex[:8]}"
    store_id = f"bc-{store_hash}"
    command = Path(sys.executable).with_name("commerce-sync")

    def run(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        answer = subprocess.run(
            [str(command), "--env-file", str(env_file), *arguments],
            env={"PATH": str(command.parent)},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert not [credential for credential in EVERY_CREDENTIAL if credential in answer.stdout + answer.stderr]
        return answer

    with BigCommerceEmulator(store_hash, BIGCOMMERCE_TOKEN) as bigcommerce:
        url = f"{bigcommerce.base_url}/v3"
        assert run(*new_store("bigcommerce", store_hash, "--platform-api-url", url, store_id=store_id)).returncode == 0

        refused = run("stores", "set-credentials", store_id, "--stdin", stdin='{"access_token": "bc-not-this-one"}')
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.strip() == (
            "commerce-sync stores set-credentials: error: the access token was refused by "
            f"{host_of(url)}: 401 (nothing was saved)"
        )

        accepted = run(
            "stores", "set-credentials", store_id, "--stdin", stdin=json.dumps({"access_token": BIGCOMMERCE_TOKEN})
        )
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == (
            f"store {store_id}: platform API credentials saved, accepted by the bigcommerce API"
        )
        assert [(r["path"], r["status"]) for r in bigcommerce.requests] == [
            (f"/stores/{store_hash}/v3/catalog/summary", 401),
            (f"/stores/{store_hash}/v3/catalog/summary", 200),
        ]
    store = stored(store_id)
    assert store is not None and store.platform_api_url == bigcommerce.base_url
    assert secret_json(runner, store.secret_id)["platform_api_credentials"] == {"access_token": BIGCOMMERCE_TOKEN}


def test_a_canonical_store_takes_no_credentials(runner: LocalRunner, cli: Any) -> None:
    store_id = f"canon-{uuid.uuid4().hex[:8]}"
    assert cli(*new_store("canonical", store_id, store_id=store_id))[0] == 0
    code, _, err = cli("stores", "set-credentials", store_id, "--stdin", stdin="access_token=x")
    assert code == 2 and "a canonical store has no platform API, so it takes no credentials" in err
    code, _, err = cli("add-store", "--store-id", store_id, "--platform-api-url", "https://example.com")
    assert code == 2 and "a canonical store has no platform API" in err


# ---- Mailchimp: the key and the audience of a new store ------------------------------------------------------


def test_an_unknown_audience_is_refused_and_nothing_saved(
    runner: LocalRunner, cli: Any, mailchimp: MailchimpEmulator
) -> None:
    audience = f"gone-{uuid.uuid4().hex[:8]}"
    mailchimp.delete_audience(audience)
    arguments = [*new_store("shopify", f"x-{uuid.uuid4().hex[:8]}.myshopify.com"), "--list-id", audience]

    code, out, err = cli(*arguments)

    assert (code, out) == (2, "")
    assert err.strip() == (
        f"commerce-sync add-store: error: audience {audience} was not found in the Mailchimp account: 404 "
        "(check --list-id) (nothing was saved)"
    )
    assert stored(arguments[6]) is None and not secret_exists(runner, arguments[6])
    # Unchecked, Mailchimp itself refuses the store, and that is said as plainly.
    code, _, err = cli(*arguments, "--skip-check")
    assert code == 2 and "Mailchimp did not take the store" in err and "list_id" in err
    assert stored(arguments[6]) is None


def test_a_refused_mailchimp_key_is_named(runner: LocalRunner, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown_key = f"{uuid.uuid4().hex}-us6"
    name = f"commerce-sync/test-mailchimp-{uuid.uuid4().hex[:8]}"
    arn = runner.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps({"kind": "mailchimp_api_key", "api_key": unknown_key})
    )["ARN"]
    monkeypatch.setenv("MAILCHIMP_SECRET_ARN", arn)  # the env file only fills what is unset
    mailchimp_host = host_of(Settings.from_environment().mailchimp_api_url or "")

    arguments = new_store("shopify", f"x-{uuid.uuid4().hex[:8]}.myshopify.com")
    code, out, err = cli(*arguments)

    assert (code, out) == (2, "")
    assert f"the Mailchimp API key was refused by {mailchimp_host}: 401" in err and "(nothing was saved)" in err
    assert unknown_key not in err
    assert stored(arguments[6]) is None
