"""Connecting a merchant's Mailchimp account with OAuth 2 (../shared/mailchimp/NOTES.md §2,
docs/mailchimp-accounts.md).

1. The operator runs `commerce-sync connect-mailchimp STORE`, which prints a link with a signed, expiring
   **invite** for that store: only someone the operator gave the link to can connect an account to a store
   (otherwise anyone could point a store's customers and orders at an account of their own).
2. `GET /connect/mailchimp/{store}?invite=…` checks the invite and answers 302 to Mailchimp's authorize page
   with a signed **state** (the store, a nonce, 15 minutes).
3. Mailchimp sends the merchant back to `GET /connect/mailchimp-callback?code=…&state=…`. The state is
   checked and spent (once only), the code exchanged for a token (`POST /oauth2/token`), the token's
   datacenter read from `GET /oauth2/metadata` — whose body is checked, since it answers 200 with
   `{"error": "invalid_token"}` for a bad token — then the account is proved and kept as for an API key
   (commerce_sync.accounts.connections).

Invites and states are HMAC-SHA256 over their JSON, keyed by a key derived from the OAuth app's client
secret: nothing else to keep, and rotating the client secret (Mailchimp's UI) voids every outstanding link.
Written here rather than taken from a library (itsdangerous, PyJWT) because it is twenty lines on the standard
library and the layer would otherwise ship one more dependency for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import requests
from urllib3.util.retry import Retry

from commerce_sync.http.sessions import api_session, backoff_retry

Purpose = Literal["invite", "state"]
STATE_SECONDS = 15 * 60
DEFAULT_INVITE_DAYS = 7
CALLBACK_PATH = "/connect/mailchimp-callback"
KIND_OAUTH_APP = "mailchimp_oauth_app"


class OAuthRefused(Exception):
    """The link, the state or Mailchimp's answer cannot be used (the message says why; never a secret)."""


@dataclass(frozen=True)
class OAuthApp:
    """The integration's registered Mailchimp app (its secret: `{"kind", "client_id", "client_secret"}`)."""

    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def from_secret(cls, value: dict[str, Any]) -> OAuthApp:
        client_id, client_secret = str(value.get("client_id") or ""), str(value.get("client_secret") or "")
        if not client_id or not client_secret:
            raise OAuthRefused(
                "the Mailchimp OAuth app is not set up: give its client id and secret with "
                "`commerce-sync mailchimp-app --client-id ID --client-secret-stdin`"
            )
        return cls(client_id, client_secret)

    def _key(self) -> bytes:
        return hmac.new(self.client_secret.encode(), b"commerce-sync connect links", hashlib.sha256).digest()

    def sign(self, purpose: Purpose, store_id: str, seconds: float, now: float | None = None) -> str:
        claims = {
            "p": purpose,
            "s": store_id,
            "e": int((time.time() if now is None else now) + seconds),
            "n": secrets.token_urlsafe(12),
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self._key(), body.encode(), hashlib.sha256).digest())}"

    def verify(self, token: str, purpose: Purpose, now: float | None = None) -> dict[str, Any]:
        """The claims of a genuine, unexpired token made for `purpose`; OAuthRefused otherwise."""
        body, _, signature = token.partition(".")
        expected = _b64(hmac.new(self._key(), body.encode(), hashlib.sha256).digest())
        if not body or not hmac.compare_digest(signature, expected):
            raise OAuthRefused(f"the {purpose} is not genuine (altered, or made for another app or client secret)")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if claims.get("p") != purpose:
            raise OAuthRefused(f"this is not a {purpose}")
        if int(claims.get("e", 0)) < (time.time() if now is None else now):
            what = "link" if purpose == "invite" else "connection attempt"
            raise OAuthRefused(f"the {what} has expired; ask for a new link (commerce-sync connect-mailchimp)")
        return dict(claims)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class ConnectedToken:
    access_token: str = field(repr=False)
    datacenter: str
    login_email: str | None = field(default=None, repr=False)


class MailchimpLogin:
    """Mailchimp's login server (https://login.mailchimp.com; MAILCHIMP_LOGIN_URL points it elsewhere)."""

    def __init__(self, login_url: str, app: OAuthApp, session: requests.Session | None = None) -> None:
        self.login_url = login_url.rstrip("/")
        self.app = app
        retry = backoff_retry(Retry, 2, (429, 500, 502, 503, 504), 0.3, 0.3, 3.0, methods={"GET"})
        self._session = session or api_session(requests.Session(), retry, 2, proxies_for=self.login_url)

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {"response_type": "code", "client_id": self.app.client_id, "redirect_uri": redirect_uri, "state": state}
        return f"{self.login_url}/oauth2/authorize?{urlencode(query)}"

    def exchange(self, code: str, redirect_uri: str) -> ConnectedToken:
        """The code for a token, then the token's datacenter (never retried: a code is single-use)."""
        answer = self._call(
            lambda: self._session.post(
                f"{self.login_url}/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": self.app.client_id,
                    "client_secret": self.app.client_secret,
                    "redirect_uri": redirect_uri,
                    "code": code,
                },
                timeout=(3.05, 10),
            ),
            "exchange the code",
        )
        token = str(answer.get("access_token") or "")
        if not token:
            raise OAuthRefused(f"Mailchimp did not exchange the code: {_oauth_error(answer)}")
        metadata = self._call(
            lambda: self._session.get(
                f"{self.login_url}/oauth2/metadata", headers={"Authorization": f"OAuth {token}"}, timeout=(3.05, 10)
            ),
            "read the token's metadata",
        )
        datacenter = str(metadata.get("dc") or "")
        if metadata.get("error") or not datacenter.isalnum():
            raise OAuthRefused(f"Mailchimp's metadata for the new token is unusable: {_oauth_error(metadata)}")
        login = metadata.get("login") if isinstance(metadata.get("login"), dict) else {}
        return ConnectedToken(token, datacenter, str((login or {}).get("email") or "") or None)

    def _call(self, send: Callable[[], requests.Response], what: str) -> dict[str, Any]:
        try:
            response = send()
        except requests.RequestException as error:
            raise OAuthRefused(
                f"Mailchimp's login server could not be reached to {what} ({type(error).__name__})"
            ) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OAuthRefused(f"Mailchimp's login server answered {response.status_code} without JSON to {what}")
        if response.status_code >= 400 and not body.get("error"):
            body["error"] = f"HTTP {response.status_code}"
        return body


def _oauth_error(answer: dict[str, Any]) -> str:
    error = str(answer.get("error") or "no access token")
    description = answer.get("error_description")
    return f"{error} ({description})" if description else error
