"""The Mailchimp emulator as Mailchimp's OAuth 2 login server, over real HTTP on 127.0.0.1: authorize (302
with a code, or the login page, or a denial), the token exchange and its errors, the metadata endpoint,
and tokens that authenticate API calls as their account until revoked.

One emulator per module (its own, not the session-wide `mailchimp` fixture), reset before each test.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator

API_KEY = "0123456789abcdef0123456789abcdef-us6"
PRIMARY = "acc-1"
MERCHANT = "merchant-2"
CLIENT_ID = "123456789012"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
REDIRECT = "https://sync.example.com/connect/mailchimp/callback"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def emu() -> Iterator[MailchimpEmulator]:
    emulator = MailchimpEmulator(api_key=API_KEY, account_id=PRIMARY, port=0)
    emulator.add_account(MERCHANT, account_name="Merchant Two", account_email="two@merchant.test", dc="us19")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _fresh(emu: MailchimpEmulator) -> Iterator[None]:
    emu.reset()  # also logs the merchant out and forgets pending codes
    emu.register_oauth_app(CLIENT_ID, SECRET, REDIRECT)  # re-registering undoes a rotated secret
    emu.set_oauth_code_ttl(30.0)
    yield


def authorize(emu: MailchimpEmulator, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, **params}
    return requests.get(f"{emu.login_url}/oauth2/authorize", params=query, allow_redirects=False, timeout=5)


def redirected_to(response: requests.Response) -> tuple[str, dict[str, str]]:
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


def code_for(emu: MailchimpEmulator, account_id: str = MERCHANT) -> str:
    emu.oauth_login_as(account_id)
    return redirected_to(authorize(emu, state="s"))[1]["code"]


def exchange(emu: MailchimpEmulator, code: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        "code": code,
        **overrides,
    }
    return requests.post(f"{emu.login_url}/oauth2/token", data=form, timeout=5)


def metadata(emu: MailchimpEmulator, token: str, scheme: str = "OAuth") -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    return requests.get(f"{emu.login_url}/oauth2/metadata", headers=headers, timeout=5)


def api(
    emu: MailchimpEmulator, token: str, method: str, path: str, scheme: str = "OAuth", **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    return requests.request(method, emu.base_url + path, headers=headers, timeout=5, **kwargs)


def assert_oauth_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error and body["error_description"]


def test_the_connect_round_trip(emu: MailchimpEmulator) -> None:
    assert emu.login_url == emu.root_url
    # Nobody logged in: the login page, no redirect.
    page = authorize(emu, state="opaque")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Log in" in page.text and "Location" not in page.headers

    emu.oauth_login_as(MERCHANT)
    state = "signed.state/with+chars=&more"
    target, query = redirected_to(authorize(emu, state=state))
    assert target == REDIRECT and query["state"] == state and re.fullmatch(r"[0-9a-f]{32}", query["code"])

    answer = exchange(emu, query["code"])
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "scope"}
    assert (body["expires_in"], body["scope"]) == (0, None)
    token = body["access_token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)

    meta = metadata(emu, token)
    assert meta.status_code == 200
    info = meta.json()
    assert {key: info[key] for key in ("dc", "role", "accountname", "login_url", "api_endpoint")} == {
        "dc": "us19",
        "role": "owner",
        "accountname": "Merchant Two",
        "login_url": "https://login.mailchimp.com",
        "api_endpoint": "https://us19.api.mailchimp.com",
    }
    assert isinstance(info["user_id"], int)
    assert info["login"]["email"] == info["login"]["login_email"] == "two@merchant.test"
    assert {"avatar", "login_id", "login_name"} <= set(info["login"])
    assert metadata(emu, token, scheme="Bearer").json()["dc"] == "us19"

    # The token is the merchant's account on the API, under either scheme; tokens never expire.
    assert api(emu, token, "GET", "/").json()["account_id"] == MERCHANT
    store = {"id": "s1", "list_id": "l1", "name": "Shop", "currency_code": "USD"}
    assert api(emu, token, "POST", "/ecommerce/stores", scheme="Bearer", json=store).status_code == 200
    assert set(emu.state_of(MERCHANT).stores) == {"s1"} and emu.state.stores == {}
    assert emu.requests[-1]["account_id"] == MERCHANT

    records = emu.oauth_requests
    assert [(r["path"], r["outcome"], r["status"]) for r in records] == [
        ("/oauth2/authorize", "login_page", 200),
        ("/oauth2/authorize", "code", 302),
        ("/oauth2/token", "token", 200),
        ("/oauth2/metadata", "metadata", 200),
        ("/oauth2/metadata", "metadata", 200),
    ]
    assert records[1]["account_id"] == records[2]["account_id"] == MERCHANT
    assert records[1]["params"]["state"] == state and records[2]["params"]["grant_type"] == "authorization_code"
    assert records[2]["params"]["client_secret"].startswith("****")
    assert {r["source"] for r in records} == {"oauth"}
    logged = json.dumps(records) + json.dumps(requests.get(f"{emu.admin_url}/oauth/requests", timeout=5).json())
    for secret in (SECRET, query["code"], token):
        assert secret not in logged


def test_authorize_refuses_a_wrong_client_redirect_or_response_type(emu: MailchimpEmulator) -> None:
    emu.oauth_login_as(MERCHANT)
    cases = {
        "client_id": authorize(emu, client_id="999"),
        "redirect_uri": authorize(emu, redirect_uri="https://evil.example.com/callback"),
        "response_type": authorize(emu, response_type="token"),
    }
    for named, response in cases.items():
        assert response.status_code == 400, named
        assert response.headers["Content-Type"].startswith("text/html")
        assert f"Invalid {named}" in response.text and "Location" not in response.headers
    missing = requests.get(f"{emu.login_url}/oauth2/authorize", params={"response_type": "code"}, timeout=5)
    assert missing.status_code == 400 and "client_id is missing" in missing.text
    # No redirect_uri at all: the registered one applies (RFC 6749 §3.1.2.3).
    no_redirect = requests.get(
        f"{emu.login_url}/oauth2/authorize",
        params={"response_type": "code", "client_id": CLIENT_ID},
        allow_redirects=False,
        timeout=5,
    )
    target, query = redirected_to(no_redirect)
    assert target == REDIRECT and "state" not in query
    assert exchange(emu, query["code"]).status_code == 200


def test_a_redirect_uri_with_a_query_keeps_it(emu: MailchimpEmulator) -> None:
    emu.register_oauth_app("with-query", SECRET, REDIRECT + "?tenant=t1")
    emu.oauth_login_as(MERCHANT)
    response = authorize(emu, client_id="with-query", redirect_uri=REDIRECT + "?tenant=t1", state="x")
    target, query = redirected_to(response)
    assert target == REDIRECT and query["tenant"] == "t1" and query["state"] == "x" and query["code"]


def test_the_merchant_can_decline(emu: MailchimpEmulator) -> None:
    emu.oauth_login_as(MERCHANT, approve=False)
    target, query = redirected_to(authorize(emu, state="abc"))
    assert target == REDIRECT and query == {"error": "access_denied", "state": "abc"}
    assert emu.oauth_requests[-1]["outcome"] == "access_denied"
    emu.oauth_logout()
    assert authorize(emu, state="abc").status_code == 200


def test_token_errors(emu: MailchimpEmulator) -> None:
    code = code_for(emu)
    assert_oauth_error(exchange(emu, code, client_secret="not-the-secret"), 401, "invalid_client")
    assert_oauth_error(exchange(emu, code, client_id="999"), 401, "invalid_client")
    assert_oauth_error(exchange(emu, code, grant_type="refresh_token"), 400, "unsupported_grant_type")
    assert_oauth_error(exchange(emu, code, grant_type=""), 400, "invalid_request")
    assert_oauth_error(exchange(emu, code, redirect_uri="https://elsewhere.test/cb"), 400, "invalid_grant")
    assert_oauth_error(exchange(emu, "0" * 32), 400, "invalid_grant")
    # None of those used the code up; the first good exchange does, for good.
    assert exchange(emu, code).status_code == 200
    assert_oauth_error(exchange(emu, code), 400, "invalid_grant")

    # A code from another client's authorization is no good to this one.
    emu.register_oauth_app("other-client", "other-secret-123456", REDIRECT)
    emu.oauth_login_as(MERCHANT)
    other_code = redirected_to(authorize(emu, client_id="other-client"))[1]["code"]
    assert_oauth_error(exchange(emu, other_code), 400, "invalid_grant")

    # Codes expire.
    emu.set_oauth_code_ttl(0.2)
    late = code_for(emu)
    time.sleep(0.3)
    assert_oauth_error(exchange(emu, late), 400, "invalid_grant")

    outcomes = [r["outcome"] for r in emu.oauth_requests if r["path"] == "/oauth2/token"]
    assert outcomes.count("invalid_client") == 2 and outcomes.count("token") == 1
    assert requests.get(f"{emu.login_url}/oauth2/token", timeout=5).status_code == 405


def test_a_rotated_secret_is_refused(emu: MailchimpEmulator) -> None:
    emu.rotate_oauth_client_secret(CLIENT_ID, "the-new-secret-0000")
    code = code_for(emu)
    assert_oauth_error(exchange(emu, code), 401, "invalid_client")
    assert exchange(emu, code, client_secret="the-new-secret-0000").status_code == 200
    # HTTP Basic client authentication works too (RFC 6749 §2.3.1).
    second = code_for(emu)
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT, "code": second}
    basic = requests.post(
        f"{emu.login_url}/oauth2/token", data=form, auth=(CLIENT_ID, "the-new-secret-0000"), timeout=5
    )
    assert basic.status_code == 200
    with pytest.raises(KeyError):
        emu.rotate_oauth_client_secret("nobody", "x")


def test_a_revoked_token_is_refused_everywhere(emu: MailchimpEmulator) -> None:
    token = exchange(emu, code_for(emu)).json()["access_token"]
    spare = emu.issue_oauth_token(MERCHANT)  # a second connection of the same merchant
    assert api(emu, token, "GET", "/ping").status_code == 200

    assert emu.revoke(token) is True
    refused = api(emu, token, "GET", "/ping")
    assert refused.status_code == 401 and refused.json()["title"] == "API Key Invalid"
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    # The metadata endpoint answers 200 with an error body, as the real one is reported to.
    gone = metadata(emu, token)
    assert gone.status_code == 200 and gone.json() == {"error": "invalid_token"}
    assert metadata(emu, "f" * 32).json() == {"error": "invalid_token"}
    assert requests.get(f"{emu.login_url}/oauth2/metadata", timeout=5).json() == {"error": "invalid_token"}
    assert emu.oauth_requests[-1]["outcome"] == "invalid_token"
    assert emu.revoke(token) is False

    assert api(emu, spare, "GET", "/").json()["account_id"] == MERCHANT
    # Through the admin route as well.
    requests.post(f"{emu.admin_url}/api-keys", json={"revoke": [spare]}, timeout=5)
    assert api(emu, spare, "GET", "/ping").status_code == 401


def test_the_login_server_through_admin_routes(emu: MailchimpEmulator) -> None:
    admin = emu.admin_url
    account = {"account_id": "merchant-3", "account_name": "Three", "dc": "us3"}
    assert requests.post(f"{admin}/accounts", json=account, timeout=5).status_code == 200
    app = {"client_id": "admin-client", "client_secret": "admin-secret-0001", "redirect_uri": REDIRECT}
    assert requests.post(f"{admin}/oauth/apps", json=app, timeout=5).status_code == 200
    rotated = requests.post(f"{admin}/oauth/apps/admin-client/secret", json={"client_secret": "new-0002"}, timeout=5)
    assert rotated.json() == {"client_id": "admin-client", "rotated": True}
    unknown = requests.post(f"{admin}/oauth/login", json={"account_id": "nobody"}, timeout=5)
    assert unknown.status_code == 400
    assert requests.post(f"{admin}/oauth/login", json={"account_id": "merchant-3"}, timeout=5).status_code == 200

    code = redirected_to(authorize(emu, client_id="admin-client"))[1]["code"]
    token = exchange(emu, code, client_id="admin-client", client_secret="new-0002").json()["access_token"]
    assert metadata(emu, token).json()["dc"] == "us3"
    assert api(emu, token, "GET", "/").json()["account_name"] == "Three"
    logged = requests.get(f"{admin}/oauth/requests", timeout=5).json()["requests"]
    assert [r["outcome"] for r in logged] == ["code", "token", "metadata"]
    assert requests.post(f"{admin}/oauth/login", json={"account_id": None}, timeout=5).status_code == 200
    assert authorize(emu, client_id="admin-client").status_code == 200  # the login page again


def test_command_line_serves_accounts_and_an_oauth_app() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    other_key = "fedcba9876543210fedcba9876543210-us6"
    command = [
        *(sys.executable, "-m", "emulators.mailchimp", "--port", str(port), "--api-key", API_KEY),
        *("--account", f"{MERCHANT}={other_key}", "--oauth-app", CLIENT_ID, SECRET, REDIRECT),
        *("--oauth-login", MERCHANT),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                merchant = requests.get(f"{root}/3.0/", auth=("u", other_key), timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert merchant.json()["account_id"] == MERCHANT
        query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT}
        answer = requests.get(f"{root}/oauth2/authorize", params=query, allow_redirects=False, timeout=5)
        assert redirected_to(answer)[1]["code"]
    finally:
        process.terminate()
        process.wait(timeout=5)
