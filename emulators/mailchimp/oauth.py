"""OAuth 2 as Mailchimp's login server (`https://login.mailchimp.com`), served at the emulator's root.

shared/mailchimp/NOTES.md §2 is the contract:
- `GET /oauth2/authorize?response_type=code&client_id=…&redirect_uri=…&state=…` checks the app (an unknown
  client_id, a redirect_uri other than the registered one or a response_type other than `code` get a 400
  HTML page naming the problem), then acts as the merchant's browser session: nobody logged in → 200 with a
  login page; logged in and approving → 302 to `redirect_uri?code=…&state=…`; declining → 302 to
  `redirect_uri?error=access_denied&state=…`. Codes are single-use and expire (`code_ttl_s`, 30 s).
- `POST /oauth2/token` (form-encoded `grant_type=authorization_code`, `client_id`, `client_secret`,
  `redirect_uri`, `code`) answers `{"access_token": <32 hex>, "expires_in": 0, "scope": null}`. Tokens never
  expire and have no refresh token. Errors are RFC 6749 bodies: 401 `invalid_client` (unknown client or wrong
  secret, e.g. one rotated away), 400 `invalid_grant` (a code used, expired, unknown, issued to another client
  or with another redirect_uri), 400 `unsupported_grant_type`, 400 `invalid_request` (something missing).
- `GET /oauth2/metadata` with `Authorization: OAuth <token>` answers the account's `dc`, names and login.
  A bad or revoked token gets **200** with `{"error": "invalid_token"}`, as integrators report of the real
  one, so a client has to check the body and not only the status.

The merchant's login is simulated (`login_as`). Every request is recorded with its secrets masked
(`OAuthRecord`): client secrets, codes and tokens never appear in the record in plain text.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from .state import Account, JsonDict, now_iso

OAUTH_PREFIX = "/oauth2"
DEFAULT_CODE_TTL_S = 30.0
MAX_RECORDS = 10_000
# What the metadata endpoint reports; the emulator's own root stands in for it (`MailchimpEmulator.login_url`).
REAL_LOGIN_URL = "https://login.mailchimp.com"
# Parameters that are credentials: recorded masked, never in plain text.
SECRET_PARAMETERS = frozenset({"client_secret", "code", "access_token", "refresh_token", "token"})

AccountLookup = Callable[[str], Account | None]


def mask(value: str) -> str:
    """Enough to tell two values apart in a record (the last 4 characters), never enough to use one."""
    return "****" + value[-4:] if len(value) >= 12 else "****"


def _numeric_id(text: str) -> int:
    # Mailchimp's metadata `user_id` is a number; a stable one per account keeps runs repeatable.
    return 10_000_000 + zlib.crc32(text.encode("utf-8")) % 90_000_000


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class PendingCode:
    client_id: str
    redirect_uri: str | None  # as given to authorize; None when it was left out (the registered one applies)
    account_id: str
    expires_at: float  # monotonic


@dataclass(frozen=True)
class Login:
    """The simulated browser session at the login server: who is logged in and whether they approve."""

    account_id: str
    approve: bool


@dataclass(frozen=True)
class OAuthRecord:
    """One request to the login server. `params` are the query (GET) or form (POST) fields, secrets masked;
    `outcome` says what happened: "code", "access_denied", "login_page", "bad_request" (authorize),
    "token", "invalid_client", "invalid_grant", "unsupported_grant_type", "invalid_request" (token),
    "metadata", "invalid_token" (metadata), "not_found" (another path)."""

    method: str
    path: str
    status: int
    params: dict[str, str]
    client_id: str | None
    account_id: str | None
    outcome: str
    at: str

    def to_json(self) -> JsonDict:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "params": dict(self.params),
            "client_id": self.client_id,
            "account_id": self.account_id,
            "outcome": self.outcome,
            "at": self.at,
            "source": "oauth",
        }


def _masked(params: dict[str, str]) -> dict[str, str]:
    return {name: mask(value) if name in SECRET_PARAMETERS else value for name, value in params.items()}


def _html_page(title: str, text: str, status: int) -> Response:
    body = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)} | Mailchimp</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _json(body: Any, status: int = 200) -> Response:
    # Token answers must not be cached (RFC 6749 §5.1); harmless on the others.
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


def _with_query(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` added to whatever query it already has."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redirect(uri: str, params: dict[str, str]) -> Response:
    return Response(status=302, headers={"Location": _with_query(uri, params)})


def _bearer(request: Request) -> str:
    scheme, _, credentials = (request.headers.get("Authorization") or "").strip().partition(" ")
    return credentials.strip() if scheme.lower() in ("oauth", "bearer") else ""


class OAuthServer:
    """The login server's apps, codes, tokens and simulated login. `account_of_token` is how the API side
    authenticates a token; `revoke` ends one."""

    def __init__(
        self,
        accounts: AccountLookup,
        code_ttl_s: float = DEFAULT_CODE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = accounts
        self.code_ttl_s = code_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, OAuthApp] = {}
        self._codes: dict[str, PendingCode] = {}
        self._tokens: dict[str, str] = {}  # token -> account id
        self._login: Login | None = None
        self._records: list[OAuthRecord] = []

    # ----- configuration --------------------------------------------------------------------------------

    def register_app(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        if not client_id or not client_secret or not redirect_uri:
            raise ValueError("client_id, client_secret and redirect_uri are all required")
        with self._lock:
            self._apps[client_id] = OAuthApp(client_id, client_secret, redirect_uri)

    def rotate_client_secret(self, client_id: str, new_secret: str) -> None:
        """As Registered Apps → Rotate: the old secret gets 401 `invalid_client` from then on."""
        if not new_secret:
            raise ValueError("the new secret is empty")
        with self._lock:
            if client_id not in self._apps:
                raise KeyError(f"no OAuth app with client_id {client_id!r}")
            self._apps[client_id].client_secret = new_secret

    def login_as(self, account_id: str | None, approve: bool = True) -> None:
        """Who is logged in at the login server (None: nobody) and whether they approve the app."""
        if account_id is not None and self._accounts(account_id) is None:
            raise KeyError(f"no account {account_id!r}")
        with self._lock:
            self._login = None if account_id is None else Login(account_id, approve)

    def issue_token(self, account_id: str) -> str:
        """A token for `account_id`, as if its merchant had connected an app (tests that skip the dance)."""
        if self._accounts(account_id) is None:
            raise KeyError(f"no account {account_id!r}")
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = account_id
        return token

    def account_of_token(self, token: str) -> str | None:
        with self._lock:
            return self._tokens.get(token)

    def revoke(self, token: str) -> bool:
        """Ends a token (the merchant removed the app); True if it was one."""
        with self._lock:
            return self._tokens.pop(token, None) is not None

    def clear(self) -> None:
        """Forgets pending codes, the login and the records. Apps and tokens stay, as API keys do."""
        with self._lock:
            self._codes.clear()
            self._login = None
            self._records.clear()

    @property
    def records(self) -> list[OAuthRecord]:
        with self._lock:
            return list(self._records)

    # ----- HTTP -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        routes: dict[str, tuple[str, Callable[[Request], tuple[Response, str, str | None, str | None]]]] = {
            f"{OAUTH_PREFIX}/authorize": ("GET", self._authorize),
            f"{OAUTH_PREFIX}/token": ("POST", self._token),
            f"{OAUTH_PREFIX}/metadata": ("GET", self._metadata),
        }
        params = request.args.to_dict() if request.method == "GET" else request.form.to_dict()
        route = routes.get(path)
        if route is None:
            response = _html_page("Page not found", "There is no such page at the login server.", 404)
            outcome, client_id, account_id = "not_found", None, None
        elif request.method != route[0] and not (route[0] == "GET" and request.method == "HEAD"):
            response = _oauth_error("invalid_request", f"{request.method} is not allowed here; use {route[0]}.", 405)
            response.headers["Allow"] = route[0]
            outcome, client_id, account_id = "invalid_request", None, None
        else:
            response, outcome, client_id, account_id = route[1](request)
        if path == f"{OAUTH_PREFIX}/metadata":
            token = _bearer(request)
            if token:
                params["token"] = token  # recorded masked, so a test can tell which token was shown
        record = OAuthRecord(
            method=request.method,
            path=request.path,
            status=response.status_code,
            params=_masked(params),
            client_id=client_id,
            account_id=account_id,
            outcome=outcome,
            at=now_iso(),
        )
        with self._lock:
            self._records.append(record)
            del self._records[:-MAX_RECORDS]  # bounded, like the API's request log
        return response

    def _authorize(self, request: Request) -> tuple[Response, str, str | None, str | None]:
        args = request.args
        client_id = args.get("client_id", "")
        with self._lock:
            app = self._apps.get(client_id)
            login = self._login
        if not client_id:
            return _html_page("Invalid request", "client_id is missing.", 400), "bad_request", None, None
        if app is None:
            page = _html_page("Invalid request", f"Invalid client_id: no registered app has {client_id!r}.", 400)
            return page, "bad_request", client_id, None
        redirect_uri = args.get("redirect_uri")
        if redirect_uri is not None and redirect_uri != app.redirect_uri:
            text = f"Invalid redirect_uri: {redirect_uri!r} is not the redirect URI registered for this app."
            return _html_page("Invalid request", text, 400), "bad_request", client_id, None
        if args.get("response_type") != "code":
            text = f"Invalid response_type: {args.get('response_type', '')!r}; only 'code' is supported."
            return _html_page("Invalid request", text, 400), "bad_request", client_id, None
        if login is None:
            # The merchant's browser would see this page and log in; a test calls login_as first.
            page = _html_page("Log in", f"Log in to Mailchimp to connect the app {client_id}.", 200)
            return page, "login_page", client_id, None
        state = {"state": args["state"]} if "state" in args else {}
        target = redirect_uri or app.redirect_uri
        if not login.approve:
            return _redirect(target, {"error": "access_denied", **state}), "access_denied", client_id, login.account_id
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = PendingCode(client_id, redirect_uri, login.account_id, self._clock() + self.code_ttl_s)
        return _redirect(target, {"code": code, **state}), "code", client_id, login.account_id

    def _client(self, request: Request) -> tuple[str, str]:
        """Client credentials from the form, or HTTP Basic (RFC 6749 §2.3.1 allows both)."""
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret", "")
        if not secret and request.authorization is not None and request.authorization.type == "basic":
            client_id = client_id or (request.authorization.username or "")
            secret = request.authorization.password or ""
        return client_id, secret

    def _token(self, request: Request) -> tuple[Response, str, str | None, str | None]:
        client_id, secret = self._client(request)
        form = request.form
        with self._lock:
            app = self._apps.get(client_id)
            # compare_digest: the comparison a real server makes, whatever the emulator's needs.
            if app is None or not secrets.compare_digest(app.client_secret.encode(), secret.encode()):
                error = _oauth_error("invalid_client", "Invalid client credentials.", 401)
                return error, "invalid_client", client_id or None, None
            grant_type = form.get("grant_type", "")
            if not grant_type:
                return _oauth_error("invalid_request", "grant_type is missing."), "invalid_request", client_id, None
            if grant_type != "authorization_code":
                error = _oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")
                return error, "unsupported_grant_type", client_id, None
            code = form.get("code", "")
            if not code:
                return _oauth_error("invalid_request", "code is missing."), "invalid_request", client_id, None
            pending = self._codes.get(code)
            problem = self._code_problem(pending, app, form.get("redirect_uri"))
            if pending is None or problem:
                if pending is not None and pending.expires_at <= self._clock():
                    del self._codes[code]
                error = _oauth_error("invalid_grant", problem or "Invalid authorization code.")
                return error, "invalid_grant", client_id, None
            # Single use: gone before the token leaves, so a replay (even a concurrent one) gets invalid_grant.
            del self._codes[code]
            token = secrets.token_hex(16)
            self._tokens[token] = pending.account_id
        return _json({"access_token": token, "expires_in": 0, "scope": None}), "token", client_id, pending.account_id

    def _code_problem(self, pending: PendingCode | None, app: OAuthApp, redirect_uri: str | None) -> str:
        if pending is None:
            return "Invalid authorization code."
        if pending.expires_at <= self._clock():
            return "The authorization code has expired."
        if pending.client_id != app.client_id:
            return "The authorization code was issued to another client."
        expected = pending.redirect_uri or app.redirect_uri
        if redirect_uri is None and pending.redirect_uri is None:
            return ""
        if redirect_uri != expected:
            return "redirect_uri does not match the one the code was issued for."
        return ""

    def _metadata(self, request: Request) -> tuple[Response, str, str | None, str | None]:
        token = _bearer(request)
        account_id = self.account_of_token(token) if token else None
        account = self._accounts(account_id) if account_id else None
        if account is None:
            return _json({"error": "invalid_token"}), "invalid_token", None, None
        body = {
            "dc": account.dc,
            "role": account.role,
            "accountname": account.account_name,
            "user_id": _numeric_id(account.account_id),
            "login": {
                "email": account.email,
                "avatar": None,
                "login_id": _numeric_id(account.login_id),
                "login_name": account.login_id,
                "login_email": account.email,
            },
            "login_url": REAL_LOGIN_URL,
            "api_endpoint": f"https://{account.dc}.api.mailchimp.com",
        }
        return _json(body), "metadata", None, account.account_id
