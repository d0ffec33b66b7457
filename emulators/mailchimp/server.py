"""The emulator's HTTP side: the WSGI app (auth, concurrency limit, faults, request log, admin routes) and
the `python -m emulators.mailchimp.server` command.

Order of checks for a `/3.0` request:
1. concurrency: more than `max_concurrent` requests in flight on arrival → 429 "Too Many Requests";
2. added latency (`latency_ms`), while holding the slot;
3. injected fault, if one is drawn (see `faults.py`);
4. authentication: HTTP Basic (any user, the key as password) or `Authorization: Bearer <key>`;
5. `Dispatcher.dispatch` (routing, JSON, schema, rules).
Every `/3.0` request is recorded in `state.requests`, whatever its outcome.

Admin routes (no auth, no faults, not counted for concurrency), all JSON:
  GET  /_emulator/state                 full dump (stores, lists, campaigns, batches, order histories, faults)
  POST /_emulator/faults                body: the keyword arguments of `MailchimpEmulator.set_faults`
  POST /_emulator/reset                 clears all data, the request log and the faults
  POST /_emulator/campaigns             {"id": "..."} or {"ids": [...]}; GET lists them
  GET  /_emulator/requests              the request log; DELETE clears it
  GET  /_emulator/orders/<store>/<order>/history   the order's status history
  POST /_emulator/members               {"list_id", "email_address", "status"}: set a member's status
  POST /_emulator/api-keys              {"add": [...], "revoke": [...]}
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

from .batches import BatchRunner
from .context import ApiEnv
from .dispatch import ApiResponse, Dispatcher
from .faults import (
    AKAMAI_403_HTML,
    FAULT_403_HTML,
    FAULT_429,
    FAULT_500,
    FAULT_TIMEOUT,
    GATEWAY_TIMEOUT_HTML,
    FaultInjector,
    FaultSettings,
)
from .holds import Holds
from .members import force_member_status
from .problems import (
    PROBLEM_CONTENT_TYPE,
    ApiProblem,
    api_key_invalid,
    api_key_missing,
    internal_error,
    not_found,
    too_many_requests,
)
from .state import Account, BatchResult, EmulatorState, JsonDict, RecordedRequest, now_iso
from .validation import SpecValidator

API_PREFIX = "/3.0"
ADMIN_PREFIX = "/_emulator"
MAX_RECORDED_REQUESTS = 100_000
DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us6"


class ConcurrencyLimiter:
    """Counts requests in flight; `try_acquire` refuses once `limit` are already running. `peak` is the
    most that ran at once since the last `reset_peak` (what a benchmark checks against the limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self._in_flight

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            return True

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1


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


class EmulatorApp:
    """The WSGI application and the emulator's moving parts (state, dispatcher, faults, batch worker)."""

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
    ) -> None:
        self.api_keys: set[str] = set(api_keys)
        self.state = EmulatorState()
        self.env = ApiEnv(self.state, account, validator or SpecValidator())
        self.dispatcher = Dispatcher(self.env)
        # Keys of *other* accounts (add_api_key(key, account_id=...)): each such account has its own,
        # empty data and no batches. Keys not listed here belong to the emulator's account.
        self.key_accounts: dict[str, str] = {}
        self.other_accounts: dict[str, Dispatcher] = {}
        self.faults = FaultInjector()
        self.limiter = ConcurrencyLimiter(max_concurrent)
        self.holds = Holds()
        self.public_root = "http://127.0.0.1"
        self.batches = BatchRunner(
            self.state,
            self.run_batch_operation,
            lambda: self.public_root,
            start_delay_s=batch_start_delay_s,
            op_delay_s=batch_op_delay_s,
            results_per_file=batch_results_per_file,
            url_ttl_s=batch_url_ttl_s,
        )
        self.env.batches = self.batches
        self._admin = Map(
            [
                Rule("/state", endpoint="state", methods=["GET"]),
                Rule("/faults", endpoint="faults", methods=["GET", "POST"]),
                Rule("/reset", endpoint="reset", methods=["POST"]),
                Rule("/campaigns", endpoint="campaigns", methods=["GET", "POST"]),
                Rule("/requests", endpoint="requests", methods=["GET", "DELETE"]),
                Rule("/orders/<store_id>/<order_id>/history", endpoint="order_history", methods=["GET"]),
                Rule("/members", endpoint="members", methods=["POST"]),
                Rule("/api-keys", endpoint="api_keys", methods=["POST"]),
                Rule("/batch-results/<name>", endpoint="batch_results", methods=["GET"]),
            ],
            strict_slashes=False,
        )

    # ----- operations shared by the Python API and the admin routes -------------------------------------

    def reset(self) -> None:
        self.state.clear()
        self.faults.configure(FaultSettings())

    def record(self, entry: RecordedRequest) -> None:
        with self.state.lock:
            self.state.requests.append(entry)
            if len(self.state.requests) > MAX_RECORDED_REQUESTS:
                del self.state.requests[: len(self.state.requests) - MAX_RECORDED_REQUESTS]

    def run_batch_operation(self, operation: JsonDict) -> BatchResult:
        method = str(operation["method"]).upper()
        path = str(operation["path"])
        path = path if path.startswith("/") else "/" + path
        params = operation.get("params") if method == "GET" else None
        query: MultiDict[str, str] = MultiDict({str(k): "" if v is None else str(v) for k, v in (params or {}).items()})
        body = operation.get("body")
        raw = body.encode("utf-8") if isinstance(body, str) else b""
        request_id = str(uuid.uuid4())
        answer = self.dispatcher.dispatch(method, path, query, raw, request_id)
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
        status_fault: tuple[int, str | None, Any]
        if not self.limiter.try_acquire():
            response = self._problem_response(too_many_requests(self.limiter.limit), request_id)
            status_fault = (429, "concurrency", _parse_json(raw))
        else:
            try:
                response, status_fault = self._api_in_slot(request, api_path, raw, request_id)
            except Exception:
                response = self._problem_response(internal_error(), request_id)
                status_fault = (500, None, _parse_json(raw))
            finally:
                self.limiter.release()
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
            )
        )
        return response

    def _api_in_slot(
        self, request: Request, api_path: str, raw: bytes, request_id: str
    ) -> tuple[Response, tuple[int, str | None, Any]]:
        self.holds.pause_if_held(request.method, api_path, _parse_json(raw))
        settings = self.faults.settings
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        fault = self.faults.draw()
        if fault == FAULT_403_HTML:
            return self._html_response(AKAMAI_403_HTML, 403), (403, fault, _parse_json(raw))
        if fault == FAULT_429:
            problem = too_many_requests(self.limiter.limit)
            return self._problem_response(problem, request_id), (429, fault, _parse_json(raw))
        if fault == FAULT_500:
            return self._problem_response(internal_error(), request_id), (500, fault, _parse_json(raw))
        if fault == FAULT_TIMEOUT:
            if settings.timeout_commits:
                self._authenticated_dispatch(request, api_path, raw, request_id)
            time.sleep(settings.timeout_s)
            return self._html_response(GATEWAY_TIMEOUT_HTML, 504), (504, fault, _parse_json(raw))
        answer = self._authenticated_dispatch(request, api_path, raw, request_id)
        return self._api_response(answer, request_id), (answer.status, None, answer.request_json)

    def _authenticated_dispatch(self, request: Request, api_path: str, raw: bytes, request_id: str) -> ApiResponse:
        key = _api_key(request)
        problem = None
        if not key:
            problem = api_key_missing()
        elif key not in self.api_keys:
            problem = api_key_invalid()
        if problem is not None:
            return ApiResponse(problem.status, problem.to_json(request_id), _parse_json(raw), dict(problem.headers))
        dispatcher = self.other_accounts.get(self.key_accounts.get(key, ""), self.dispatcher)
        return dispatcher.dispatch(request.method, api_path, request.args, raw, request_id)

    def add_other_account_key(self, api_key: str, account_id: str) -> None:
        """Accept `api_key` as a key of another Mailchimp account, `account_id` (GET / names it)."""
        if account_id not in self.other_accounts:
            primary = self.env.account
            other = Account(
                account_id=account_id,
                account_name=f"Other account {account_id}",
                email=primary.email,
                login_id=f"login-{account_id}",
            )
            self.other_accounts[account_id] = Dispatcher(ApiEnv(EmulatorState(), other, self.env.validator))
        self.key_accounts[api_key] = account_id
        self.api_keys.add(api_key)

    # ----- admin ------------------------------------------------------------------------------------------

    def _admin_route(self, request: Request) -> Response:
        adapter = self._admin.bind("emulator")
        try:
            endpoint, args = adapter.match(request.path[len(ADMIN_PREFIX) :] or "/", method=request.method)
        except HTTPException as error:
            return _json_response({"error": error.name}, error.code or 404)
        try:
            return getattr(self, f"_admin_{endpoint}")(request, **args)
        except (ValueError, TypeError, KeyError) as error:
            return _json_response({"error": f"{type(error).__name__}: {error}"}, 400)

    def _admin_body(self, request: Request) -> JsonDict:
        body = _parse_json(request.get_data())
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        return body

    def _admin_state(self, request: Request) -> Response:
        dump = self.state.to_json()
        dump["faults"] = self.faults.settings.to_json()
        dump["in_flight"] = self.limiter.in_flight
        dump["account"] = {
            "account_id": self.env.account.account_id,
            "account_name": self.env.account.account_name,
        }
        return _json_response(dump)

    def _admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            self.faults.configure(FaultSettings(**self._admin_body(request)))
        return _json_response(self.faults.settings.to_json())

    def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return _json_response({"reset": True})

    def _admin_campaigns(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            ids = [body["id"]] if "id" in body else list(body["ids"])
            with self.state.lock:
                self.state.campaigns.update(str(campaign_id) for campaign_id in ids)
        with self.state.lock:
            return _json_response({"campaigns": sorted(self.state.campaigns)})

    def _admin_requests(self, request: Request) -> Response:
        with self.state.lock:
            if request.method == "DELETE":
                self.state.requests.clear()
            return _json_response({"requests": [entry.to_json() for entry in self.state.requests]})

    def _admin_order_history(self, request: Request, store_id: str, order_id: str) -> Response:
        with self.state.lock:
            events = self.state.order_events.get((store_id, order_id), [])
            return _json_response({"history": [event.to_json() for event in events]})

    def _admin_members(self, request: Request) -> Response:
        body = self._admin_body(request)
        with self.state.lock:
            member = force_member_status(self.state, body["list_id"], body["email_address"], body["status"])
            return _json_response(dict(member))

    def _admin_api_keys(self, request: Request) -> Response:
        body = self._admin_body(request)
        self.api_keys.update(body.get("add", []))
        self.api_keys.difference_update(body.get("revoke", []))
        return _json_response({"api_keys": len(self.api_keys)})

    def _admin_batch_results(self, request: Request, name: str) -> Response:
        batch_id = name.removesuffix(".tar.gz").removesuffix("-response")
        status, archive = self.batches.archive_for(batch_id, request.args.get("token", ""))
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
    args = parser.parse_args(argv)

    emulator = MailchimpEmulator(
        api_key=args.api_keys or [DEFAULT_API_KEY], account_id=args.account_id, host=args.host, port=args.port
    )
    for campaign_id in args.campaign:
        emulator.add_campaign(campaign_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    print(f"Mailchimp emulator listening on {emulator.base_url} (admin: {emulator.admin_url})", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
