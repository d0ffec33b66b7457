"""Account secrets of both kinds become clients of the right datacenter and auth scheme; a broken secret is
named without its value."""

from __future__ import annotations

import pytest
from commerce_sync.mailchimp.credentials import CredentialsError, MailchimpCredentials

KEY = "0123456789abcdef0123456789abcdef-us19"


def test_an_api_key_uses_its_datacenter_and_basic_auth() -> None:
    credentials = MailchimpCredentials.from_secret("s", {"kind": "mailchimp_api_key", "api_key": KEY})
    client = credentials.client()
    assert client.base_url == "https://us19.api.mailchimp.com/3.0"
    assert client.session.auth == ("commerce-sync", KEY)


def test_an_oauth_token_uses_the_metadata_datacenter_and_the_oauth_scheme() -> None:
    credentials = MailchimpCredentials.from_secret(
        "s", {"kind": "mailchimp_oauth", "access_token": "t" * 32, "dc": "us7", "account_id": "a1"}
    )
    client = credentials.client()
    assert client.base_url == "https://us7.api.mailchimp.com/3.0"
    prepared = client.session.prepare_request(__import__("requests").Request("GET", f"{client.base_url}/ping"))
    assert prepared.headers["Authorization"] == "OAuth " + "t" * 32
    assert credentials.secret_value("a1") == {
        "kind": "mailchimp_oauth",
        "access_token": "t" * 32,
        "dc": "us7",
        "account_id": "a1",
    }


def test_a_given_api_url_wins_over_the_datacenter() -> None:
    assert MailchimpCredentials.api_key(KEY).client("http://127.0.0.1:1/3.0").base_url == "http://127.0.0.1:1/3.0"


@pytest.mark.parametrize(
    "value",
    [
        {"kind": "mailchimp_api_key", "api_key": ""},
        {"kind": "mailchimp_api_key", "api_key": "no-datacenter-"},
        {"kind": "mailchimp_oauth", "access_token": "abc"},
        {"kind": "store_webhook_secret", "webhook_secret": "x"},
    ],
)
def test_unusable_secrets_are_named_without_their_values(value: dict[str, str]) -> None:
    with pytest.raises(CredentialsError) as refused:
        MailchimpCredentials.from_secret("commerce-sync/mailchimp/a1", value)
    assert "commerce-sync/mailchimp/a1" in str(refused.value)
    secrets = [v for k, v in value.items() if k in ("api_key", "access_token", "webhook_secret") and len(v) > 3]
    assert all(secret not in str(refused.value) for secret in secrets)
