"""`commerce-sync stores list|show|disable|enable|remove` against the local runner (docs/operator.md): the listing
and a store's page reflect what is registered and what Mailchimp holds, without a secret's value; a disabled
store's deliveries are answered 200 "ignored" and nothing reaches Mailchimp until it is enabled again; removing a
store deletes its registration and its own secret and nothing of any other store, Mailchimp keeping its data
unless told otherwise after a typed confirmation. Every example the help texts show, and every command of
docs/operator.md, runs as typed in test_cli_examples.py."""

from __future__ import annotations

import io
import json
import sys
import uuid
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry
from commerce_sync.mailchimp.credentials import MailchimpCredentials

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import main as operator_main
from tests.e2e.test_mailchimp_accounts import held, new_account
from tests.e2e.test_shopify_orders import new_order
from tests.harness import MailchimpReader, RegisteredStore, register_store

ACCESS_TOKEN = "shpat_not_to_be_shown_0123456789"


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def cli(capsys: pytest.CaptureFixture[str], *arguments: str, typed: str = "") -> tuple[int, str, str]:
    """The CLI as the operator runs it, with `typed` on its stdin."""
    capsys.readouterr()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(typed)
    try:
        code = operator_main.main(list(arguments))
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return code, out, err


def order_for(store: RegisteredStore) -> dict[str, Any]:
    order = new_order()
    order["email"] = order["customer"]["email"] = f"admin-{uuid.uuid4().hex[:6]}@example.com"
    return order


def deliver(runner: LocalRunner, store: RegisteredStore, order: dict[str, Any], secret: str | None = None) -> Any:
    body = json.dumps(order).encode()
    return send_shopify(runner.url, secret or store.webhook_secret, "orders/create", store.identity, body)


def mailchimp_writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}/"
    return [
        (request["method"], request["path"])
        for request in mailchimp.requests
        if request["method"] != "GET" and request["path"].startswith(prefix)
    ]


def secret_exists(secret_id: str) -> bool:
    client = boto3.client("secretsmanager")
    try:
        client.describe_secret(SecretId=secret_id)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


def registry() -> StoreRegistry:
    return StoreRegistry(Settings.from_environment().stores_table)


# ---- list and show -----------------------------------------------------------------------------------------


def test_list_and_show_reflect_the_registered_stores_and_mailchimp_without_secret_values(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = register_store("shopify", platform_api_credentials={"access_token": ACCESS_TOKEN})
    woo = register_store("woocommerce", currency_code="EUR")

    code, table, _ = cli(capsys, "stores", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in table.splitlines()}
    assert rows["STORE"][:5] == ["STORE", "PLATFORM:IDENTITY", "AUDIENCE", "CURRENCY", "STATE"]
    assert rows[shop.store_id][1:5] == [shop.store.platform_identity, "list-e2e", "USD", "active"]
    assert rows[woo.store_id][1:5] == [woo.store.platform_identity, "list-e2e", "EUR", "active"]
    assert cli(capsys, "list-stores")[1] == table, "list-stores is the same listing"

    code, listed, _ = cli(capsys, "stores", "list", "--json")
    assert code == 0
    by_id = {item["store_id"]: item for item in json.loads(listed)}
    assert by_id[woo.store_id]["platform"] == "woocommerce" and by_id[woo.store_id]["active"] is True
    assert "secret_id" not in by_id[shop.store_id]

    # An order lands, so Mailchimp's counts have something to show.
    order = order_for(shop)
    assert deliver(runner, shop, order).status_code == 202
    runner.wait_until_idle(timeout=60)

    code, page, _ = cli(capsys, "stores", "show", shop.store_id)
    assert code == 0, page
    fields = dict(line.split(":", 1) for line in page.splitlines())
    assert fields["state"].strip() == "active"
    assert fields["identity"].strip() == shop.identity
    assert fields["secret_id"].strip() == shop.store.secret_id
    assert fields["secret keys"].strip() == "kind, platform_api_credentials (access_token), webhook_secret"
    assert fields["mailchimp"].strip().startswith(f"store {shop.store_id} in audience list-e2e: 1 customers, 1 orders")
    for secret in (ACCESS_TOKEN, shop.webhook_secret, order["email"]):
        assert secret not in page

    code, shown, _ = cli(capsys, "stores", "show", shop.store_id, "--json")
    assert code == 0
    report = json.loads(shown)
    assert report["store"]["store_id"] == shop.store_id and report["state"] == "active"
    assert report["secret"] == {
        "id": shop.store.secret_id,
        "exists": True,
        "keys": ["kind", "platform_api_credentials", "webhook_secret"],
        "platform_api_credentials": ["access_token"],
    }
    assert report["mailchimp"]["present"] is True and report["mailchimp"]["list_id"] == "list-e2e"
    assert report["mailchimp"]["counts"]["orders"] == 1 and report["mailchimp"]["counts"]["customers"] == 1
    assert ACCESS_TOKEN not in shown and shop.webhook_secret not in shown

    code, page, _ = cli(capsys, "stores", "show", woo.store_id, "--skip-mailchimp")
    assert code == 0
    assert "platform_api_credentials (none)" in page and "not asked (--skip-mailchimp)" in page


def test_an_unknown_store_is_refused_in_plain_words_with_exit_code_2(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("show", "disable", "enable", "remove"):
        code, out, err = cli(capsys, "stores", command, "nobody-registered")
        assert (code, out) == (2, ""), command
        assert err.strip() == (
            f"commerce-sync stores {command}: error: store nobody-registered is not registered "
            "(`commerce-sync stores list` shows the stores)"
        )


# ---- disable and enable ------------------------------------------------------------------------------------


def test_a_disabled_store_is_answered_ignored_and_nothing_reaches_mailchimp_until_it_is_enabled(
    runner: LocalRunner,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store, neighbour = register_store("shopify"), register_store("shopify")

    code, out, _ = cli(capsys, "stores", "disable", store.store_id)
    assert code == 0
    assert out.startswith(f"store {store.store_id} disabled: its deliveries are answered 200 and ignored")
    assert registry().get(store.store_id).active is False  # type: ignore[union-attr]
    assert cli(capsys, "stores", "disable", store.store_id)[1] == f"store {store.store_id} was already disabled\n"
    listed = {item["store_id"]: item["active"] for item in json.loads(cli(capsys, "stores", "list", "--json")[1])}
    assert (listed[store.store_id], listed[neighbour.store_id]) == (False, True)
    rows = {line.split()[0]: line.split() for line in cli(capsys, "stores", "list")[1].splitlines()}
    assert (rows[store.store_id][4], rows[neighbour.store_id][4]) == ("disabled", "active")

    order, theirs = order_for(store), order_for(neighbour)
    answer = deliver(runner, store, order)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ignored", "reason": f"store {store.store_id} is disabled; nothing is synced"}
    # Verified before it is acknowledged: a forged delivery is still refused.
    assert deliver(runner, store, order, secret="not-the-secret").status_code == 401
    assert deliver(runner, neighbour, theirs).status_code == 202
    runner.wait_until_idle(timeout=60)
    assert mailchimp_writes(mailchimp, store.store_id) == []
    assert mailchimp_reader.resource(f"/ecommerce/stores/{neighbour.store_id}/orders/{theirs['id']}") is not None

    code, out, _ = cli(capsys, "stores", "enable", store.store_id, "--json")
    assert code == 0
    assert json.loads(out) == {"store_id": store.store_id, "active": True, "changed": True}
    answer = deliver(runner, store, order)
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/{order['id']}") is not None


# ---- remove ------------------------------------------------------------------------------------------------


def test_remove_deletes_the_registration_and_own_secret_and_keeps_mailchimp_and_the_shared_account(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str], mailchimp: MailchimpEmulator
) -> None:
    account_id, key = new_account(mailchimp)
    credentials = MailchimpCredentials.api_key(key)
    store = register_store("shopify", mailchimp_credentials=credentials)
    sibling = register_store("shopify", mailchimp_credentials=credentials)
    account_secret = store.store.mailchimp_secret_id
    assert account_secret and account_secret == sibling.store.mailchimp_secret_id, "one account, one secret"
    order = order_for(store)
    assert deliver(runner, store, order).status_code == 202
    runner.wait_until_idle(timeout=60)
    path = f"/ecommerce/stores/{store.store_id}/orders/{order['id']}"
    assert held(mailchimp, key, path) is not None
    sibling_before = registry().get(sibling.store_id)

    code, out, err = cli(capsys, "stores", "remove", store.store_id)

    assert code == 0, err
    assert out.splitlines()[:3] == [
        f"store {store.store_id} removed: registration deleted, secret {store.store.secret_id} deleted",
        f"Mailchimp store {store.store_id} kept with its customers, orders, carts and products",
        f"the Mailchimp account's secret {account_secret} kept (the stores of that account share it)",
    ]
    assert registry().get(store.store_id) is None
    assert not secret_exists(store.store.secret_id)
    assert held(mailchimp, key, path) is not None, "Mailchimp keeps the store's data"
    assert secret_exists(account_secret)
    assert registry().get(sibling.store_id) == sibling_before
    assert secret_exists(sibling.store.secret_id)
    # The removed store is unknown to the receiver; the sibling still writes with the account's secret.
    assert deliver(runner, store, order_for(store)).status_code == 404
    theirs = order_for(sibling)
    assert deliver(runner, sibling, theirs).status_code == 202
    runner.wait_until_idle(timeout=60)
    assert held(mailchimp, key, f"/ecommerce/stores/{sibling.store_id}/orders/{theirs['id']}") is not None
    assert account_id in account_secret


def test_remove_with_delete_mailchimp_data_asks_for_the_store_id_and_then_deletes_the_mailchimp_store(
    runner: LocalRunner,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
    mailchimp_reader: MailchimpReader,
) -> None:
    store, other = register_store("shopify"), register_store("shopify")
    order = order_for(store)
    assert deliver(runner, store, order).status_code == 202
    runner.wait_until_idle(timeout=60)
    mailchimp_store = f"/ecommerce/stores/{store.store_id}"
    assert mailchimp_reader.resource(f"{mailchimp_store}/orders/{order['id']}") is not None

    code, out, err = cli(capsys, "stores", "remove", store.store_id, "--delete-mailchimp-data", typed="my-shop\n")
    assert (code, out) == (2, "")
    assert f"Type the store id ({store.store_id}) to confirm" in err
    assert f"what was typed is not {store.store_id}, so nothing was removed" in err
    assert registry().get(store.store_id) is not None and secret_exists(store.store.secret_id)
    assert mailchimp_reader.resource(mailchimp_store) is not None

    code, out, err = cli(
        capsys, "stores", "remove", store.store_id, "--delete-mailchimp-data", "--json", typed=f"{store.store_id}\n"
    )
    assert code == 0, err
    assert json.loads(out) == {
        "store_id": store.store_id,
        "registration": "deleted",
        "secret": {"id": store.store.secret_id, "outcome": "deleted"},
        "mailchimp_store": "deleted",
        "mailchimp_account_secret": None,
    }
    assert mailchimp_reader.resource(mailchimp_store) is None
    assert mailchimp_reader.resource(f"{mailchimp_store}/orders/{order['id']}") is None
    assert registry().get(store.store_id) is None and not secret_exists(store.store.secret_id)
    assert mailchimp_reader.resource(f"/ecommerce/stores/{other.store_id}") is not None
    assert registry().get(other.store_id) is not None and secret_exists(other.store.secret_id)
    assert secret_exists(Settings.from_environment().mailchimp_secret_arn), "the default account's secret stays"

    scripted = register_store("shopify")
    code, out, err = cli(capsys, "stores", "remove", scripted.store_id, "--delete-mailchimp-data", "--yes")
    assert code == 0, err
    assert "Type the store id" not in err
    assert f"Mailchimp store {scripted.store_id} deleted" in out
    assert mailchimp_reader.resource(f"/ecommerce/stores/{scripted.store_id}") is None
