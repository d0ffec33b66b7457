"""A merchant connects their own Mailchimp account with OAuth 2, end to end (docs/mailchimp-accounts.md):
the operator's `connect-mailchimp` link, through the local runner's connect routes and the emulator playing
Mailchimp's login server (authorize, token, metadata), to the store writing into the merchant's account. A
forged, expired or replayed state, a declined consent and an invite for another store are refused; a revoked
token pauses the account, and connecting again lands every parked event."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from commerce_sync.accounts.oauth import OAuthApp

from emulators.mailchimp import MailchimpEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli import dead_letters
from tests.e2e.test_mailchimp_accounts import cli, held
from tests.e2e.test_shopify_checkout_slice import checkout, post
from tests.harness import API_KEY, RegisteredStore

CALLBACK = "/connect/mailchimp-callback"


class Merchant:
    """The operator's side set up (the app registered at Mailchimp and given to commerce-sync) and one merchant
    with a Mailchimp account of their own, logged in at Mailchimp's login server."""

    def __init__(self, runner: LocalRunner, mailchimp: MailchimpEmulator, tmp_path: Path) -> None:
        self.runner, self.mailchimp = runner, mailchimp
        self.env_file = write_env_file(runner, tmp_path / "runner.env")
        self.client_id, self.client_secret = uuid.uuid4().hex[:20], uuid.uuid4().hex
        mailchimp.register_oauth_app(self.client_id, self.client_secret, f"{runner.url}{CALLBACK}")
        code, out, err = cli(
            self.env_file, "mailchimp-app", "--client-id", self.client_id, "--client-secret-stdin",
            stdin=self.client_secret + "\n",
        )  # fmt: skip
        assert code == 0, out + err
        assert self.client_secret not in out + err
        self.account_id = f"merchant-{uuid.uuid4().hex[:8]}"
        self.account_name = f"Merchant {self.account_id}"
        self.reader_key = f"{uuid.uuid4().hex}-us6"
        mailchimp.add_account(self.account_id, self.reader_key, account_name=self.account_name)
        mailchimp.oauth_login_as(self.account_id)

    def link(self, store_id: str) -> str:
        code, out, err = cli(self.env_file, "connect-mailchimp", store_id)
        assert code == 0, out + err
        return out.strip().splitlines()[-1]

    def open(self, url: str) -> requests.Response:
        """The merchant's browser: follows every redirect."""
        return requests.get(url, timeout=30)

    def token(self) -> str:
        secretsmanager = self.runner.client("secretsmanager")
        secret = secretsmanager.get_secret_value(
            SecretId=f"commerce-sync/mailchimp/{self.account_id}", VersionStage="AWSCURRENT"
        )
        value = json.loads(secret["SecretString"])
        assert value["kind"] == "mailchimp_oauth" and value["account_id"] == self.account_id
        return str(value["access_token"])


@pytest.fixture
def merchant(runner: LocalRunner, mailchimp: MailchimpEmulator, tmp_path: Path) -> Merchant:
    return Merchant(runner, mailchimp, tmp_path)


def test_the_oauth_round_trip_connects_the_merchants_account_and_the_store_writes_there(
    runner: LocalRunner, mailchimp: MailchimpEmulator, merchant: Merchant, shopify_store: RegisteredStore
) -> None:
    page = merchant.open(merchant.link(shopify_store.store_id))

    assert page.status_code == 200, page.text
    assert f"Store {shopify_store.store_id} now writes to Mailchimp account {merchant.account_name}" in page.text
    # The exchange happened at the login server, with the app's credentials.
    paths = [request["path"] for request in mailchimp.oauth_requests]
    assert "/oauth2/token" in paths and "/oauth2/metadata" in paths
    token = merchant.token()
    assert token not in page.text
    # The Mailchimp store exists in the merchant's account, and the store's events land there only.
    assert held(mailchimp, merchant.reader_key, f"/ecommerce/stores/{shopify_store.store_id}") is not None
    body = checkout()
    assert post(runner, shopify_store, body).status_code == 202
    runner.wait_until_idle()
    cart = f"/ecommerce/stores/{shopify_store.store_id}/carts/{body['cart_token']}"
    assert held(mailchimp, merchant.reader_key, cart) is not None
    assert held(mailchimp, API_KEY, cart) is None

    # The callback's URL again (a reload, a copied link): its state connected once and never again.
    replay = merchant.open(page.url)
    assert replay.status_code == 403
    assert "used already" in replay.text


def test_forged_and_expired_states_and_a_declined_consent_change_nothing(
    runner: LocalRunner, mailchimp: MailchimpEmulator, merchant: Merchant, shopify_store: RegisteredStore
) -> None:
    app = OAuthApp(merchant.client_id, merchant.client_secret)
    forged = OAuthApp(merchant.client_id, "not-the-secret").sign("state", shopify_store.store_id, 600)
    expired = app.sign("state", shopify_store.store_id, -1)
    for state, expected in ((forged, "not genuine"), (expired, "expired")):
        answer = merchant.open(f"{runner.url}{CALLBACK}?{urlencode({'code': 'whatever', 'state': state})}")
        assert answer.status_code == 403, answer.text
        assert expected in answer.text

    mailchimp.oauth_login_as(merchant.account_id, approve=False)
    declined = merchant.open(merchant.link(shopify_store.store_id))
    assert declined.status_code == 400
    assert "did not connect the account (access_denied)" in declined.text

    # No token was asked for, no account secret made: the store still writes to the default account.
    asked = [r["path"] for r in mailchimp.oauth_requests if r.get("client_id") == merchant.client_id]
    assert "/oauth2/authorize" in asked and "/oauth2/token" not in asked
    secretsmanager = runner.client("secretsmanager")
    with pytest.raises(secretsmanager.exceptions.ResourceNotFoundException):
        secretsmanager.get_secret_value(SecretId=f"commerce-sync/mailchimp/{merchant.account_id}")


def test_an_invite_works_for_its_own_store_only(
    runner: LocalRunner, merchant: Merchant, shopify_store: RegisteredStore
) -> None:
    link = urlsplit(merchant.link(shopify_store.store_id))
    other = f"{runner.url}/connect/mailchimp/some-other-store?{link.query}"

    answer = requests.get(other, timeout=30, allow_redirects=False)

    assert answer.status_code == 403
    assert "made for another store" in answer.text
    invite = parse_qs(link.query)["invite"][0]
    tampered = requests.get(f"{runner.url}{link.path}?invite={invite[:-2]}xx", timeout=30, allow_redirects=False)
    assert tampered.status_code == 403


def test_a_revoked_token_parks_the_accounts_events_and_connecting_again_lands_them(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    merchant: Merchant,
    shopify_store: RegisteredStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in runner.operator_environment().items():  # what dead_letters.peek reads
        monkeypatch.setenv(name, value)
    assert merchant.open(merchant.link(shopify_store.store_id)).status_code == 200
    mailchimp.revoke(merchant.token())

    waiting = [checkout() for _ in range(3)]
    for body in waiting:
        assert post(runner, shopify_store, body).status_code == 202
    runner.wait_until_idle()
    tokens = {body["cart_token"] for body in waiting}
    assert not [letter for letter in dead_letters.peek("cart_events") if any(t in letter.body for t in tokens)]
    code, out, _ = cli(merchant.env_file, "status", "--json")
    paused = {a["account"]: a for a in json.loads(out)["mailchimp_accounts"]}[merchant.account_id]
    assert paused["status"] == "paused" and paused["parked_events"] >= len(waiting)

    page = merchant.open(merchant.link(shopify_store.store_id))
    assert page.status_code == 200, page.text
    assert "event(s) that waited for the account are being applied now" in page.text
    runner.wait_until_idle()
    for body in waiting:
        cart = f"/ecommerce/stores/{shopify_store.store_id}/carts/{body['cart_token']}"
        assert held(mailchimp, merchant.reader_key, cart) is not None

    # An OAuth token has no rotation: connecting again replaces it.
    code, out, err = cli(
        merchant.env_file, "rotate", "mailchimp-key", "--store", shopify_store.store_id, "--stdin", "--local",
        stdin=f"{uuid.uuid4().hex}-us6\n",
    )  # fmt: skip
    assert code == 2 and "connect-mailchimp" in err
