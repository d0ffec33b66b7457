"""Invites and states: genuine only when signed with the app's client secret, for their purpose, unexpired."""

from __future__ import annotations

import pytest
from commerce_sync.accounts.oauth import OAuthApp, OAuthRefused

APP = OAuthApp("client-1", "secret-one")


def test_a_genuine_invite_names_its_store() -> None:
    claims = APP.verify(APP.sign("invite", "shop-1", 60), "invite")
    assert claims["s"] == "shop-1"


@pytest.mark.parametrize(
    ("token", "purpose", "message"),
    [
        (OAuthApp("client-1", "another-secret").sign("invite", "shop-1", 60), "invite", "not genuine"),
        (APP.sign("state", "shop-1", 60), "invite", "not a invite"),
        (APP.sign("invite", "shop-1", -1), "invite", "expired"),
        (APP.sign("state", "shop-1", -1), "state", "expired"),
        ("garbage", "state", "not genuine"),
    ],
)
def test_forged_misused_and_expired_tokens_are_refused(token: str, purpose: str, message: str) -> None:
    with pytest.raises(OAuthRefused, match=message):
        APP.verify(token, purpose)  # type: ignore[arg-type]


def test_an_altered_store_breaks_the_signature() -> None:
    import base64
    import json

    body, _, signature = APP.sign("invite", "shop-1", 60).partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["s"] = "shop-2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(OAuthRefused, match="not genuine"):
        APP.verify(f"{forged}.{signature}", "invite")


def test_an_app_without_a_client_secret_says_how_to_set_it_up() -> None:
    with pytest.raises(OAuthRefused, match="commerce-sync mailchimp-app"):
        OAuthApp.from_secret({"kind": "mailchimp_oauth_app", "client_id": "client-1", "client_secret": ""})
