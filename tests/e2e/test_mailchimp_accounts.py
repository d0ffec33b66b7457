"""Each store writes to its own Mailchimp account (issue 26, docs/mailchimp-accounts.md), through the local
runner and one Mailchimp emulator serving several accounts: a store registered with its own key lands only in
its account; a key of an account without the store's audience, or of another account than the store's, is
refused before anything is saved; a revoked key pauses only its account, whose events are parked (nothing
dead-lettered) while the other account's keep landing, and a new key resumes them all."""

from __future__ import annotations

import io
import json
import sys
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.mailchimp.credentials import MailchimpCredentials

from emulators.mailchimp import MailchimpEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli import dead_letters
from operator_cli.main import main
from operator_cli.stores import CheckRefused
from tests.e2e.test_product_webhooks import post as post_product
from tests.e2e.test_product_webhooks import sample as product_sample
from tests.e2e.test_product_webhooks import shopify_headers
from tests.e2e.test_shopify_checkout_slice import checkout, post
from tests.harness import API_KEY, RegisteredStore, register_store


def new_account(mailchimp: MailchimpEmulator) -> tuple[str, str]:
    """A Mailchimp account of its own in the emulator: (account id, API key)."""
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    key = f"{uuid.uuid4().hex}-us6"
    mailchimp.add_api_key(key, account_id=account_id)
    return account_id, key


def held(mailchimp: MailchimpEmulator, key: str, path: str) -> dict[str, Any] | None:
    """What the account `key` belongs to holds at `path` (a GET through the API, as any client would)."""
    answer = requests.get(f"{mailchimp.base_url}{path}", auth=("test", key), timeout=10)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return dict(answer.json())


def cli(env_file: Path, *arguments: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--env-file", str(env_file), *arguments])
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def own_account(runner: LocalRunner, mailchimp: MailchimpEmulator) -> tuple[str, str, RegisteredStore]:
    account_id, key = new_account(mailchimp)
    store = register_store("shopify", mailchimp_credentials=MailchimpCredentials.api_key(key))
    return account_id, key, store


def test_a_store_with_its_own_account_writes_only_there(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    own_account: tuple[str, str, RegisteredStore],
    shopify_store: RegisteredStore,
) -> None:
    account_id, key, store = own_account
    assert store.store.mailchimp_account_id == account_id
    assert f"commerce-sync/mailchimp/{account_id}" in str(store.store.mailchimp_secret_id)
    ours, theirs = checkout(), checkout()

    assert post(runner, store, ours).status_code == 202
    assert post(runner, shopify_store, theirs).status_code == 202
    runner.wait_until_idle()

    own_path = f"/ecommerce/stores/{store.store_id}/carts/{ours['cart_token']}"
    default_path = f"/ecommerce/stores/{shopify_store.store_id}/carts/{theirs['cart_token']}"
    default_key = API_KEY
    assert held(mailchimp, key, own_path) is not None
    assert held(mailchimp, key, f"/ecommerce/stores/{store.store_id}")["name"] == store.store.name  # type: ignore[index]
    # Neither store's data reaches the other's account.
    assert held(mailchimp, default_key, f"/ecommerce/stores/{store.store_id}") is None
    assert held(mailchimp, key, default_path) is None
    assert held(mailchimp, default_key, default_path) is not None


def test_a_key_of_an_account_without_the_audience_is_refused_and_nothing_is_saved(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    account_id, key = new_account(mailchimp)
    mailchimp.delete_audience("list-elsewhere", account_id=account_id)

    with pytest.raises(CheckRefused, match=f"audience list-elsewhere is not in Mailchimp account .*{account_id}"):
        register_store("shopify", list_id="list-elsewhere", mailchimp_credentials=MailchimpCredentials.api_key(key))


def test_a_key_of_another_account_than_the_stores_is_refused(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    own_account: tuple[str, str, RegisteredStore],
    tmp_path: Path,
) -> None:
    account_id, _, store = own_account
    other_account, other_key = new_account(mailchimp)
    env_file = write_env_file(runner, tmp_path / "runner.env")

    code, _, err = cli(env_file, "stores", "set-mailchimp-key", store.store_id, "--stdin", stdin=other_key + "\n")

    assert code == 2
    assert f"writes to Mailchimp account {account_id}" in err and other_account in err
    assert "nothing was saved" in err
    assert other_key not in err


def test_a_revoked_key_pauses_only_its_account_and_a_new_key_resumes_every_parked_event(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    own_account: tuple[str, str, RegisteredStore],
    shopify_store: RegisteredStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account_id, key, store = own_account
    env_file = write_env_file(runner, tmp_path / "runner.env")
    for name, value in runner.operator_environment().items():  # what dead_letters.peek and status read
        monkeypatch.setenv(name, value)
    first = checkout()
    assert post(runner, store, first).status_code == 202
    runner.wait_until_idle()
    mailchimp.revoke_api_key(key)

    parked = [checkout() for _ in range(4)]
    flowing = [checkout() for _ in range(2)]
    for body in parked:
        assert post(runner, store, body).status_code == 202
    # A product change waits with them (the product consumer parks as the cart and order consumers do).
    product = dict(product_sample("shopify_product_update_body.json"), id=int(uuid.uuid4().int % 10**12))
    headers = shopify_headers(store, "products/update", product)
    assert post_product(runner, "shopify", product, headers).status_code == 202
    for body in flowing:
        assert post(runner, shopify_store, body).status_code == 202
    runner.wait_until_idle()

    default_key = API_KEY
    for body in flowing:
        assert held(mailchimp, default_key, f"/ecommerce/stores/{shopify_store.store_id}/carts/{body['cart_token']}")
    # Nothing dead-lettered: the events wait, parked.
    tokens = {body["cart_token"] for body in parked}
    assert not [letter for letter in dead_letters.peek("cart_events") if any(t in letter.body for t in tokens)]
    code, out, _ = cli(env_file, "status", "--json")
    # A paused account needs attention: exit code 1, for cron or a monitor (docs/operator.md#status).
    assert code == 1
    accounts = {account["account"]: account for account in json.loads(out)["mailchimp_accounts"]}
    assert accounts[account_id]["status"] == "paused"
    assert accounts[account_id]["parked_events"] >= len(parked)  # a customer event per cart is parked too
    assert store.store_id in accounts[account_id]["stores"]
    assert accounts["default"]["status"] == "ok"

    new_key = f"{uuid.uuid4().hex}-us6"
    mailchimp.add_api_key(new_key, account_id=account_id)
    code, out, err = cli(env_file, "stores", "set-mailchimp-key", store.store_id, "--stdin", stdin=new_key + "\n")
    assert code == 0, err
    assert "parked event(s) put back on the bus" in out
    assert new_key not in out + err
    runner.wait_until_idle()

    for body in parked:
        cart = held(mailchimp, new_key, f"/ecommerce/stores/{store.store_id}/carts/{body['cart_token']}")
        assert cart is not None and cart["order_total"] == float(body["total_price"])
    landed = held(mailchimp, new_key, f"/ecommerce/stores/{store.store_id}/products/{product['id']}")
    assert landed is not None and landed["title"] == product["title"]
    code, out, _ = cli(env_file, "status", "--json")
    accounts = {account["account"]: account for account in json.loads(out)["mailchimp_accounts"]}
    assert accounts[account_id]["status"] == "ok"
    assert accounts[account_id]["parked_events"] == 0


def test_a_stores_own_key_rotates_like_the_default_one_and_only_within_its_account(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    own_account: tuple[str, str, RegisteredStore],
    tmp_path: Path,
) -> None:
    account_id, key, store = own_account
    env_file = write_env_file(runner, tmp_path / "runner.env")
    secretsmanager = runner.client("secretsmanager")
    secret_id = str(store.store.mailchimp_secret_id)

    _, other_key = new_account(mailchimp)
    code, out, err = cli(
        env_file, "rotate", "mailchimp-key", "--store", store.store_id, "--stdin", "--local", stdin=other_key + "\n"
    )
    # A key of another account is tested and never promoted.
    assert code == 1, out + err
    assert (
        json.loads(secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"])[
            "api_key"
        ]
        == key
    )

    new_key = f"{uuid.uuid4().hex}-us6"
    mailchimp.add_api_key(new_key, account_id=account_id)
    code, out, err = cli(
        env_file,
        "rotate",
        "mailchimp-key",
        "--store",
        store.store_id,
        "--stdin",
        "--local",
        "--restart",
        stdin=new_key + "\n",
    )
    assert code == 0, out + err
    assert "the new version is AWSCURRENT" in out
    value = json.loads(secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"])
    assert (value["api_key"], value["account_id"]) == (new_key, account_id)
    assert new_key not in out + err
    mailchimp.revoke_api_key(key)

    body = checkout()
    assert post(runner, store, body).status_code == 202
    runner.wait_until_idle()
    assert held(mailchimp, new_key, f"/ecommerce/stores/{store.store_id}/carts/{body['cart_token']}") is not None


def test_a_store_moved_from_the_default_account_to_its_own_finds_its_mailchimp_store_made_there(
    runner: LocalRunner, mailchimp: MailchimpEmulator, tmp_path: Path
) -> None:
    store = register_store("shopify")
    _, key = new_account(mailchimp)
    env_file = write_env_file(runner, tmp_path / "runner.env")
    assert held(mailchimp, key, f"/ecommerce/stores/{store.store_id}") is None

    code, out, err = cli(env_file, "stores", "set-mailchimp-key", store.store_id, "--stdin", stdin=key + "\n")

    assert code == 0, err
    made = held(mailchimp, key, f"/ecommerce/stores/{store.store_id}")
    assert made is not None and made["list_id"] == store.store.list_id and made["name"] == store.store.name
    assert key not in out + err
    cart = checkout()
    assert post(runner, store, cart).status_code == 202
    runner.wait_until_idle()
    assert held(mailchimp, key, f"/ecommerce/stores/{store.store_id}/carts/{cart['cart_token']}") is not None
    assert held(mailchimp, API_KEY, f"/ecommerce/stores/{store.store_id}/carts/{cart['cart_token']}") is None
