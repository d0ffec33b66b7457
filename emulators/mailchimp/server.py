"""The emulator's HTTP side: the WSGI app (accounts and their credentials, concurrency limits, faults, the
request log, the OAuth login server, admin routes) and the `python -m emulators.mailchimp.server` command.

Order of checks for a `/3.0` request:
1. the account: the credential (HTTP Basic with any user and the key as password, or `Authorization:
   Bearer|OAuth <key or token>`) names the account whose connection budget the request uses;
2. concurrency: more than `max_concurrent` requests in flight *for that account* on arrival → 429
   "Too Many Requests" (requests without a valid credential share a budget of their own);
3. holds, then added latency (`latency_ms`), while holding the slot;
4. injected fault, if one is drawn (see `faults.py`);
5. authentication: a missing, unknown or (meanwhile) revoked credential → 401;
6. the account's `Dispatcher.dispatch` (routing, JSON, schema, rules) on the account's own data.
Every `/3.0` request is recorded in the (emulator-wide) request log, whatever its outcome, with its account.

`/oauth2/authorize`, `/oauth2/token` and `/oauth2/metadata` are Mailchimp's login server (see `oauth.py`).

Admin routes (no auth, no faults, not counted for concurrency), all JSON. `account` (a query parameter, or
a field of the JSON body) picks an account; the primary (the constructor's) when left out; 404 if unknown.
  GET  /_emulator/state[?account=ID]    full dump of one account (stores, lists, campaigns, batches, order
                                        histories) plus faults, in_flight, account and the list of accounts
  POST /_emulator/faults                body: the keyword arguments of `MailchimpEmulator.set_faults`
  POST /_emulator/outage                {"seconds": N}: every /3.0 request answers 503 for N seconds (faults.py);
                                        DELETE ends it, GET says whether one is under way: {"in_outage": bool}
  POST /_emulator/reset                 clears every account's data, the request log, OAuth codes and login,
                                        and the faults
  POST /_emulator/campaigns             {"id": "..."} or {"ids": [...]}, [account]; GET lists them
  GET  /_emulator/requests[?account=ID] the request log (only that account's entries with ?account); DELETE
                                        clears it
  GET  /_emulator/orders/<store>/<order>/history[?account=ID]   the order's status history
  GET  /_emulator/notifications/<store>[?account=ID]  the order e-mails the store's status histories send
  POST /_emulator/members               {"list_id", "email_address", "status", [source], [account]}: a member's
                                        status, as the contact (source "user", the default) or the admin set it;
                                        the list's audience webhooks hear of it (list_webhooks.py)
  GET  /_emulator/webhook-deliveries[?account=ID]   the audience webhook deliveries made so far
  POST /_emulator/api-keys              {"add": [...], "revoke": [...], [account]}: revoke takes OAuth tokens too
  GET  /_emulator/accounts              the accounts; POST {"account_id", [api_key, account_name, email,
                                        login_id, dc]} adds one (idempotent)
  POST /_emulator/oauth/apps            {"client_id", "client_secret", "redirect_uri"}: registers an OAuth app
  POST /_emulator/oauth/apps/<client_id>/secret   {"client_secret"}: rotates its secret
  POST /_emulator/oauth/login           {"account_id": ID or null, "approve": true}: who is logged in
  GET  /_emulator/oauth/requests        the login server's request log (secrets masked)
  GET  /_emulator/batch-results/<id>-response.tar.gz?token=...   a batch's results (the response_body_url)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .accounts import BatchSettings, ConcurrencyLimiter, EmulatedAccount
from .batches import BatchRunner
from .context import ApiEnv
from .dispatch import ApiResponse, Dispatcher
from .faults import (
    AKAMAI_403_HTML,
    FAULT_403_HTML,
    FAULT_429,
    FAULT_500,
    FAULT_500_COMMITTED,
    FAULT_OUTAGE,
    FAULT_TIMEOUT,
    GATEWAY_TIMEOUT_HTML,
    FaultInjector,
    FaultSettings,
)
from .holds import Holds
from .members import force_member_status
from .notifications import notifications_of
from .oauth import DEFAULT_CODE_TTL_S, OAUTH_PREFIX, OAuthServer
from .problems import (
    PROBLEM_CONTENT_TYPE,
    ApiProblem,
    api_key_invalid,
    api_key_missing,
    internal_error,
    not_found,
    service_unavailable,
    too_many_requests,
)
from .state import Account, BatchResult, EmulatorState, JsonDict, RecordedRequest, now_iso
from .validation import SpecValidator

API_PREFIX = "/3.0"
ADMIN_PREFIX = "/_emulator"
MAX_RECORDED_REQUESTS = 100_000
DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us6"

__all__ = ["DEFAULT_API_KEY", "ConcurrencyLimiter", "EmulatorApp", "UnknownAccount", "main"]


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


def _api_key(request: Request) -> str | None:
    """The key from Basic (password) or Bearer auth; "" when a header is there but carries no key."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    if scheme.lower() in ("bearer", "oauth", "apikey"):
        return credentials
    return ""


class UnknownAccount(LookupError):
    """An admin call named an account the emulator does not serve (404)."""


class EmulatorApp:
    """The WSGI application and the emulator's moving parts: the accounts (each with its own state,
    dispatcher, batch worker and connection budget), the credentials, the login server, faults and holds."""

    def __init__(
        self,
        api_keys: Iterable[str],
        account: Account,
        *,
        max_concurrent: int = 10,
        batch_start_delay_s: float = 0.0,
        batch_op_delay_s: float = 0.0,
        batch_results_per_file: int = 1,
        batch_url_ttl_s: float = 600.0,
        validator: SpecValidator | None = None,
        oauth_code_ttl_s: float = DEFAULT_CODE_TTL_S,
    ) -> None:
        self.validator = validator or SpecValidator()
        self.max_concurrent = max_concurrent
        self.batch_settings = BatchSettings(
            start_delay_s=batch_start_delay_s,
            op_delay_s=batch_op_delay_s,
            results_per_file=batch_results_per_file,
            url_ttl_s=batch_url_ttl_s,
        )
        self.public_root = "http://127.0.0.1"
        self._accounts_lock = threading.Lock()
        self._workers_started = False
        self.accounts: dict[str, EmulatedAccount] = {}
        self.primary_id = account.account_id
        self._new_account(account)
        # API key -> account id. OAuth tokens live in `oauth` and authenticate the same way.
        self.credentials: dict[str, str] = dict.fromkeys(api_keys, account.account_id)
        # Requests without a valid credential belong to no account; they get a budget of their own, so a
        # flood of bad keys neither uses up nor shows in any account's connections.
        self.unauthenticated_limiter = ConcurrencyLimiter(max_concurrent)
        self.oauth = OAuthServer(self.profile_of, code_ttl_s=oauth_code_ttl_s)
        self.faults = FaultInjector()
        self.holds = Holds()
        self._admin = Map(
            [
                Rule("/state", endpoint="state", methods=["GET"]),
                Rule("/faults", endpoint="faults", methods=["GET", "POST"]),
                Rule("/outage", endpoint="outage", methods=["GET", "POST", "DELETE"]),
                Rule("/reset", endpoint="reset", methods=["POST"]),
                Rule("/campaigns", endpoint="campaigns", methods=["GET", "POST"]),
                Rule("/requests", endpoint="requests", methods=["GET", "DELETE"]),
                Rule("/orders/<store_id>/<order_id>/history", endpoint="order_history", methods=["GET"]),
                Rule("/notifications/<store_id>", endpoint="notifications", methods=["GET"]),
                Rule("/members", endpoint="members", methods=["POST"]),
                Rule("/webhook-deliveries", endpoint="webhook_deliveries", methods=["GET"]),
                Rule("/api-keys", endpoint="api_keys", methods=["POST"]),
                Rule("/accounts", endpoint="accounts", methods=["GET", "POST"]),
                Rule("/oauth/apps", endpoint="oauth_apps", methods=["POST"]),
                Rule("/oauth/apps/<client_id>/secret", endpoint="oauth_secret", methods=["POST"]),
                Rule("/oauth/login", endpoint="oauth_login", methods=["POST"]),
                Rule("/oauth/requests", endpoint="oauth_requests", methods=["GET"]),
                Rule("/batch-results/<name>", endpoint="batch_results", methods=["GET"]),
            ],
            strict_slashes=False,
        )

    # ----- accounts ---------------------------------------------------------------------------------------

    def _new_account(self, profile: Account) -> EmulatedAccount:
        """Creates and registers the account, unless one with that id exists already (then returns it)."""
        with self._accounts_lock:
            existing = self.accounts.get(profile.account_id)
            if existing is not None:
                return existing
            account = EmulatedAccount.create(
                profile,
                self.validator,
                max_concurrent=self.max_concurrent,
                batch_settings=self.batch_settings,
                run_operation=self.run_batch_operation_as,
                url_root=lambda: self.public_root,
            )
            self.accounts[profile.account_id] = account
            if self._workers_started:
                account.batches.start()
        return account

    @property
    def primary(self) -> EmulatedAccount:
        return self.accounts[self.primary_id]

    # The primary account's parts, under the names they had when there was only one account.
    @property
    def state(self) -> EmulatorState:
        return self.primary.state

    @property
    def env(self) -> ApiEnv:
        return self.primary.env

    @property
    def dispatcher(self) -> Dispatcher:
        return self.primary.dispatcher

    @property
    def batches(self) -> BatchRunner:
        return self.primary.batches

    @property
    def limiter(self) -> ConcurrencyLimiter:
        return self.primary.limiter

    def account(self, account_id: str | None = None) -> EmulatedAccount:
        """The account `account_id` (the primary when None); `UnknownAccount` when there is none."""
        found = self.accounts.get(self.primary_id if account_id is None else account_id)
        if found is None:
            raise UnknownAccount(f"no account {account_id!r}")
        return found

    def profile_of(self, account_id: str) -> Account | None:
        found = self.accounts.get(account_id)
        return found.profile if found else None

    def all_accounts(self) -> list[EmulatedAccount]:
        with self._accounts_lock:
            return list(self.accounts.values())

    def add_account(
        self,
        account_id: str,
        api_key: str | None = None,
        *,
        account_name: str | None = None,
        email: str | None = None,
        login_id: str | None = None,
        dc: str = "us6",
    ) -> EmulatedAccount:
        """Creates the account if it is new (an existing one keeps its settings) and accepts `api_key` for it."""
        if not account_id:
            raise ValueError("account_id is empty")
        account = self.accounts.get(account_id) or self._new_account(
            Account(
                account_id=account_id,
                account_name=account_name or f"Other account {account_id}",
                email=email or f"owner-{account_id}@example.com",
                login_id=login_id or f"login-{account_id}",
                dc=dc,
            )
        )
        if api_key:
            self.credentials[api_key] = account_id
        return account

    def add_other_account_key(self, api_key: str, account_id: str) -> None:
        """Accept `api_key` as a key of the account `account_id` (created when new). Kept for old callers."""
        self.add_account(account_id, api_key)

    def account_of(self, credential: str | None) -> EmulatedAccount | None:
        """The account an API key or OAuth token authenticates as, or None (missing, unknown, revoked)."""
        if not credential:
            return None
        account_id = self.credentials.get(credential) or self.oauth.account_of_token(credential)
        return self.accounts.get(account_id) if account_id else None

    def revoke(self, credential: str) -> bool:
        """Ends an API key or OAuth token; True if it was one."""
        was_key = self.credentials.pop(credential, None) is not None
        return self.oauth.revoke(credential) or was_key

    @property
    def other_accounts(self) -> dict[str, Dispatcher]:
        """Every account but the primary, by id, as the dispatcher each used to be (`.env.state` is its data).
        Kept for callers written before accounts were full peers; new code uses `account(account_id)`."""
        return {
            account.account_id: account.dispatcher for account in self.all_accounts() if account is not self.primary
        }

    @property
    def key_accounts(self) -> dict[str, str]:
        """API key -> account id for the keys of accounts other than the primary (the old view; read-only)."""
        # A copy first: request threads may add or revoke keys meanwhile.
        return {key: account_id for key, account_id in dict(self.credentials).items() if account_id != self.primary_id}

    @property
    def api_keys(self) -> set[str]:
        """The accepted API keys of every account (OAuth tokens not included)."""
        return set(self.credentials)

    # ----- operations shared by the Python API and the admin routes -------------------------------------

    def start_workers(self) -> None:
        with self._accounts_lock:
            self._workers_started = True
            accounts = list(self.accounts.values())
        for account in accounts:
            account.batches.start()

    def stop_workers(self) -> None:
        with self._accounts_lock:
            self._workers_started = False
            accounts = list(self.accounts.values())
        for account in accounts:
            account.batches.stop()

    def wait_for_batches(self, timeout: float) -> bool:
        """True once every account's submitted batches have finished; False on timeout."""
        deadline = time.monotonic() + timeout
        return all(account.batches.wait_idle(max(0.0, deadline - time.monotonic())) for account in self.all_accounts())

    def reset(self) -> None:
        """Every account's data, the request log, pending OAuth codes and login, and the faults.
        Accounts, keys, tokens and OAuth apps stay."""
        for account in self.all_accounts():
            account.state.clear()
        self.oauth.clear()
        self.faults.configure(FaultSettings())
        self.faults.end_outage()

    def record(self, entry: RecordedRequest) -> None:
        # One emulator-wide log, in the primary's state (where it always was); entries name their account.
        state = self.state
        with state.lock:
            state.requests.append(entry)
            if len(state.requests) > MAX_RECORDED_REQUESTS:
                del state.requests[: len(state.requests) - MAX_RECORDED_REQUESTS]

    def run_batch_operation(self, operation: JsonDict, account_id: str | None = None) -> BatchResult:
        """Runs one batch operation as `account_id` (the primary when None)."""
        return self.run_batch_operation_as(self.account(account_id), operation)

    def run_batch_operation_as(self, account: EmulatedAccount, operation: JsonDict) -> BatchResult:
        method = str(operation["method"]).upper()
        path = str(operation["path"])
        path = path if path.startswith("/") else "/" + path
        params = operation.get("params") if method == "GET" else None
        query: MultiDict[str, str] = MultiDict({str(k): "" if v is None else str(v) for k, v in (params or {}).items()})
        body = operation.get("body")
        raw = body.encode("utf-8") if isinstance(body, str) else b""
        request_id = str(uuid.uuid4())
        answer = account.dispatcher.dispatch(method, path, query, raw, request_id)
        operation_id = operation.get("operation_id")
        self.record(
            RecordedRequest(
                method=method,
                path=API_PREFIX + path,
                status=answer.status,
                body=answer.request_json,
                query=dict(query),
                source="batch",
                request_id=request_id,
                fault=None,
                at=now_iso(),
                operation_id=operation_id,
                account_id=account.account_id,
            )
        )
        text = "" if answer.body is None else json.dumps(answer.body)
        return BatchResult(answer.status, operation_id, text)

    # ----- WSGI -------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            response = self._api(request)
        elif path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            response = self._admin_route(request)
        elif path.startswith(OAUTH_PREFIX + "/"):
            response = self.oauth.handle(request)
        else:
            response = self._problem_response(not_found(), str(uuid.uuid4()))
        return response(environ, start_response)

    def _problem_response(self, problem: ApiProblem, request_id: str) -> Response:
        headers = {"X-Request-Id": request_id, **problem.headers}
        return Response(
            json.dumps(problem.to_json(request_id)),
            status=problem.status,
            headers=headers,
            content_type=PROBLEM_CONTENT_TYPE,
        )

    def _api_response(self, answer: ApiResponse, request_id: str) -> Response:
        headers = {"X-Request-Id": request_id, **answer.headers}
        if answer.body is None:
            return Response(status=answer.status, headers=headers)
        content_type = PROBLEM_CONTENT_TYPE if answer.is_problem else "application/json; charset=utf-8"
        return Response(json.dumps(answer.body), status=answer.status, headers=headers, content_type=content_type)

    def _html_response(self, html: str, status: int) -> Response:
        return Response(html, status=status, content_type="text/html")

    def _api(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        raw = request.get_data()
        api_path = request.path[len(API_PREFIX) :] or "/"
        # The account is known on arrival (from the credential) because the connection limit is its own.
        account = self.account_of(_api_key(request))
        limiter = account.limiter if account is not None else self.unauthenticated_limiter
        account_id = account.account_id if account is not None else None
        status_fault: tuple[int, str | None, Any]
        if not limiter.try_acquire():
            response = self._problem_response(too_many_requests(limiter.limit), request_id)
            status_fault = (429, "concurrency", _parse_json(raw))
        else:
            try:
                response, status_fault, account_id = self._api_in_slot(request, api_path, raw, request_id, account)
            except Exception:
                response = self._problem_response(internal_error(), request_id)
                status_fault = (500, None, _parse_json(raw))
            finally:
                limiter.release()
        status, fault, body = status_fault
        self.record(
            RecordedRequest(
                method=request.method,
                path=request.path,
                status=status,
                body=body,
                query=request.args.to_dict(),
                source="http",
                request_id=request_id,
                fault=fault,
                at=now_iso(),
                account_id=account_id,
            )
        )
        return response

    def _api_in_slot(
        self, request: Request, api_path: str, raw: bytes, request_id: str, account: EmulatedAccount | None
    ) -> tuple[Response, tuple[int, str | None, Any], str | None]:
        """The response, (status, fault, parsed body) for the log, and the account it ran as (None: refused)."""
        account_id = account.account_id if account is not None else None
        self.holds.pause_if_held(request.method, api_path, _parse_json(raw), account_id)
        settings = self.faults.settings
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        fault = self.faults.draw()
        if fault == FAULT_403_HTML:
            return self._html_response(AKAMAI_403_HTML, 403), (403, fault, _parse_json(raw)), account_id
        if fault == FAULT_429:
            problem = too_many_requests(self.max_concurrent)
            return self._problem_response(problem, request_id), (429, fault, _parse_json(raw)), account_id
        if fault == FAULT_500:
            return self._problem_response(internal_error(), request_id), (500, fault, _parse_json(raw)), account_id
        if fault == FAULT_OUTAGE:
            problem = service_unavailable()
            return self._problem_response(problem, request_id), (503, fault, _parse_json(raw)), account_id
        if fault == FAULT_500_COMMITTED:
            # The work is done (a write lands), only the answer is lost: the client sees a plain 500.
            _, ran_as = self._authenticated_dispatch(request, api_path, raw, request_id)
            return self._problem_response(internal_error(), request_id), (500, fault, _parse_json(raw)), ran_as
        if fault == FAULT_TIMEOUT:
            if settings.timeout_commits:
                self._authenticated_dispatch(request, api_path, raw, request_id)
            time.sleep(settings.timeout_s)
            return self._html_response(GATEWAY_TIMEOUT_HTML, 504), (504, fault, _parse_json(raw)), account_id
        answer, ran_as = self._authenticated_dispatch(request, api_path, raw, request_id)
        return self._api_response(answer, request_id), (answer.status, None, answer.request_json), ran_as

    def _authenticated_dispatch(
        self, request: Request, api_path: str, raw: bytes, request_id: str
    ) -> tuple[ApiResponse, str | None]:
        # Checked again here, not taken from arrival: a credential revoked while the request was held or
        # delayed is refused, as Mailchimp would once the key is gone.
        credential = _api_key(request)
        account = self.account_of(credential)
        if account is None:
            problem = api_key_missing() if not credential else api_key_invalid()
            refused = ApiResponse(problem.status, problem.to_json(request_id), _parse_json(raw), dict(problem.headers))
            return refused, None
        answer = account.dispatcher.dispatch(request.method, api_path, request.args, raw, request_id)
        return answer, account.account_id

    # ----- admin ------------------------------------------------------------------------------------------

    def _admin_route(self, request: Request) -> Response:
        adapter = self._admin.bind("emulator")
        try:
            endpoint, args = adapter.match(request.path[len(ADMIN_PREFIX) :] or "/", method=request.method)
        except HTTPException as error:
            return _json_response({"error": error.name}, error.code or 404)
        try:
            response: Response = getattr(self, f"_admin_{endpoint}")(request, **args)
            return response
        except UnknownAccount as error:
            return _json_response({"error": str(error)}, 404)
        except (ValueError, TypeError, KeyError) as error:
            return _json_response({"error": f"{type(error).__name__}: {error}"}, 400)

    def _admin_body(self, request: Request) -> JsonDict:
        body = _parse_json(request.get_data())
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        return body

    def _admin_account(self, request: Request, body: JsonDict | None = None) -> EmulatedAccount:
        """The account an admin call names (`account` in the JSON body or the query), else the primary."""
        named = (body or {}).get("account") or request.args.get("account")
        return self.account(str(named) if named else None)

    def _admin_state(self, request: Request) -> Response:
        account = self._admin_account(request)
        dump = account.state.to_json()
        dump["faults"] = self.faults.settings.to_json()
        dump["in_flight"] = account.limiter.in_flight
        dump["account"] = {
            "account_id": account.profile.account_id,
            "account_name": account.profile.account_name,
            "dc": account.profile.dc,
        }
        dump["accounts"] = [each.account_id for each in self.all_accounts()]
        return _json_response(dump)

    def _admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            self.faults.configure(FaultSettings(**self._admin_body(request)))
        return _json_response(self.faults.settings.to_json())

    def _admin_outage(self, request: Request) -> Response:
        if request.method == "POST":
            self.faults.start_outage(float(self._admin_body(request)["seconds"]))
        elif request.method == "DELETE":
            self.faults.end_outage()
        return _json_response({"in_outage": self.faults.in_outage})

    def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return _json_response({"reset": True})

    def _admin_campaigns(self, request: Request) -> Response:
        body = self._admin_body(request) if request.method == "POST" else {}
        state = self._admin_account(request, body).state
        if request.method == "POST":
            ids = [body["id"]] if "id" in body else list(body["ids"])
            with state.lock:
                state.campaigns.update(str(campaign_id) for campaign_id in ids)
        with state.lock:
            return _json_response({"campaigns": sorted(state.campaigns)})

    def _admin_requests(self, request: Request) -> Response:
        named = request.args.get("account")
        with self.state.lock:
            if request.method == "DELETE":
                self.state.requests.clear()
            entries = [entry for entry in self.state.requests if named is None or entry.account_id == named]
            return _json_response({"requests": [entry.to_json() for entry in entries]})

    def _admin_order_history(self, request: Request, store_id: str, order_id: str) -> Response:
        state = self._admin_account(request).state
        with state.lock:
            events = state.order_events.get((store_id, order_id), [])
            return _json_response({"history": [event.to_json() for event in events]})

    def _admin_notifications(self, request: Request, store_id: str) -> Response:
        state = self._admin_account(request).state
        with state.lock:
            histories = {
                order: list(events) for (store, order), events in state.order_events.items() if store == store_id
            }
        sent = [
            note.to_json() for order, events in histories.items() for note in notifications_of(store_id, order, events)
        ]
        return _json_response({"notifications": sent})

    def _admin_members(self, request: Request) -> Response:
        body = self._admin_body(request)
        state = self._admin_account(request, body).state
        with state.lock:
            source = str(body.get("source") or "user")
            member = force_member_status(state, body["list_id"], body["email_address"], body["status"], source)
            return _json_response(dict(member))

    def _admin_webhook_deliveries(self, request: Request) -> Response:
        state = self._admin_account(request).state
        with state.lock:
            return _json_response({"deliveries": [dict(each) for each in state.webhook_deliveries]})

    def _admin_api_keys(self, request: Request) -> Response:
        body = self._admin_body(request)
        account_id = self._admin_account(request, body).account_id
        for key in body.get("add", []):
            self.credentials[str(key)] = account_id
        for credential in body.get("revoke", []):
            self.revoke(str(credential))
        return _json_response({"api_keys": len(self.credentials)})

    def _admin_accounts(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            self.add_account(
                str(body["account_id"]),
                body.get("api_key"),
                account_name=body.get("account_name"),
                email=body.get("email"),
                login_id=body.get("login_id"),
                dc=str(body.get("dc") or "us6"),
            )
        accounts = [
            {
                "account_id": account.account_id,
                "account_name": account.profile.account_name,
                "dc": account.profile.dc,
                "primary": account.account_id == self.primary_id,
                "in_flight": account.limiter.in_flight,
                "peak_in_flight": account.limiter.peak,
            }
            for account in self.all_accounts()
        ]
        return _json_response({"accounts": accounts})

    def _admin_oauth_apps(self, request: Request) -> Response:
        body = self._admin_body(request)
        self.oauth.register_app(str(body["client_id"]), str(body["client_secret"]), str(body["redirect_uri"]))
        return _json_response({"client_id": body["client_id"]})

    def _admin_oauth_secret(self, request: Request, client_id: str) -> Response:
        body = self._admin_body(request)
        self.oauth.rotate_client_secret(client_id, str(body["client_secret"]))
        return _json_response({"client_id": client_id, "rotated": True})

    def _admin_oauth_login(self, request: Request) -> Response:
        body = self._admin_body(request)
        account_id = body.get("account_id")
        self.oauth.login_as(None if account_id is None else str(account_id), approve=bool(body.get("approve", True)))
        return _json_response({"logged_in": account_id})

    def _admin_oauth_requests(self, request: Request) -> Response:
        return _json_response({"requests": [record.to_json() for record in self.oauth.records]})

    def _admin_batch_results(self, request: Request, name: str) -> Response:
        batch_id = name.removesuffix(".tar.gz").removesuffix("-response")
        # The URL carries no account: the batch id (random) finds the account whose batch it is.
        owner = next((each for each in self.all_accounts() if batch_id in each.state.batches), self.primary)
        status, archive = owner.batches.archive_for(batch_id, request.args.get("token", ""))
        if archive is None:
            message = "Request has expired" if status == 403 else "NoSuchKey"
            return Response(f"<Error><Code>{message}</Code></Error>", status=status, content_type="application/xml")
        return Response(
            archive,
            headers={"Content-Disposition": f'attachment; filename="{batch_id}-response.tar.gz"'},
            content_type="application/x-gzip",
        )


def main(argv: list[str] | None = None) -> None:
    """Runs the emulator in the foreground until interrupted."""
    from .emulator import MailchimpEmulator

    parser = argparse.ArgumentParser(description="Mailchimp Marketing API emulator (e-commerce subset).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)")
    parser.add_argument("--account-id", default="acc-1")
    parser.add_argument("--campaign", action="append", default=[], help="known campaign id (repeatable)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ACCOUNT_ID[=API_KEY]",
        help="another account, with an API key of its own if given (repeatable)",
    )
    parser.add_argument(
        "--oauth-app",
        nargs=3,
        action="append",
        default=[],
        metavar=("CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI"),
        help="a registered OAuth app (repeatable)",
    )
    parser.add_argument("--oauth-login", metavar="ACCOUNT_ID", help="the account logged in at the login server")
    args = parser.parse_args(argv)

    emulator = MailchimpEmulator(
        api_key=args.api_keys or [DEFAULT_API_KEY], account_id=args.account_id, host=args.host, port=args.port
    )
    for campaign_id in args.campaign:
        emulator.add_campaign(campaign_id)
    for account in args.account:
        account_id, _, api_key = str(account).partition("=")
        emulator.add_account(account_id, api_key or None)
    for client_id, client_secret, redirect_uri in args.oauth_app:
        emulator.register_oauth_app(client_id, client_secret, redirect_uri)
    if args.oauth_login:
        emulator.oauth_login_as(args.oauth_login)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    print(
        f"Mailchimp emulator listening on {emulator.base_url} (admin: {emulator.admin_url},"
        f" OAuth login server: {emulator.login_url})",
        flush=True,
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
