"""Every AWS request the local runner's moto server answers, by service, operation and caller: what AWS would
bill (`make cost`) and what `bench/bench_aws_calls.py` counts per event.

A WSGI layer in front of moto's own app. The service comes from the SigV4 credential scope every signed request
carries; the operation from the JSON protocol's `X-Amz-Target` (DynamoDB, SQS, EventBridge, Secrets Manager,
CloudWatch Logs), the query protocol's `Action`, or else the HTTP method and the first path segment (S3). The
caller is the function whose container sent it: each container's boto3 adds `app/<logical id>` to its
User-Agent (botocore's `AWS_SDK_UA_APP_ID`); a request without one came from the runner itself (the SQS
pollers that stand in for Lambda's event source mappings, provisioning, tests and the operator CLI).

Requests moto makes inside itself (an EventBridge rule delivering to its SQS target) are not HTTP requests and are
not in the log; the cost model adds what AWS bills for them.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

# The runner's own requests (pollers, provisioning, the CLI, tests).
RUNNER = "runner"
UA_APP_ID_VARIABLE = "AWS_SDK_UA_APP_ID"

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_APP_ID = re.compile(r"(?:^|\s)app/([A-Za-z0-9._-]+)")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class AwsRequest:
    service: str
    operation: str
    caller: str
    request_bytes: int
    response_bytes: int
    status: int
    # The table, queue or secret named in a JSON request's body ("" when none, or several).
    resource: str = ""
    # What a batch request carries: PutEvents entries, SQS batch entries, BatchGetItem keys, BatchWriteItem and
    # TransactWriteItems items (1 for a request of one thing).
    items: int = 1
    # Messages an SQS ReceiveMessage returned (0: an empty poll).
    returned: int = 0

    @property
    def call(self) -> str:
        """`service:Operation`, as the counts name it."""
        return f"{self.service}:{self.operation}"


def _resource(body: bytes) -> str:
    """`TableName`, `QueueUrl`'s last segment or `SecretId` of a JSON protocol request."""
    if not body.startswith(b"{"):
        return ""
    try:
        request = json.loads(body)
    except ValueError:
        return ""
    for name in ("TableName", "QueueUrl", "SecretId", "EventBusName"):
        value = request.get(name) if isinstance(request, dict) else None
        if isinstance(value, str):
            return value.rsplit("/", 1)[-1]
    return ""


def _items(body: bytes) -> int:
    """How many things a batch request carries (module docstring of AwsRequest.items)."""
    if not body.startswith(b"{"):
        return 1
    try:
        request = json.loads(body)
    except ValueError:
        return 1
    if not isinstance(request, dict):
        return 1
    for name in ("Entries", "TransactItems"):
        if isinstance(request.get(name), list):
            return len(request[name])
    asked = request.get("RequestItems")
    if isinstance(asked, dict):
        # BatchGetItem: {table: {"Keys": [...]}}; BatchWriteItem: {table: [requests]}.
        return sum(len(value.get("Keys", [])) if isinstance(value, dict) else len(value) for value in asked.values())
    return 1


def _returned(operation: str, response: bytes) -> int:
    if operation != "ReceiveMessage" or not response.startswith(b"{"):
        return 0
    try:
        messages = json.loads(response).get("Messages")
    except (ValueError, AttributeError):
        return 0
    return len(messages) if isinstance(messages, list) else 0


def _operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    action = query.get("Action")
    if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return str(action[0])
    first_segment = str(environ.get("PATH_INFO", "/")).strip("/").split("/", 1)[0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} /{first_segment}" if first_segment else environ["REQUEST_METHOD"]


class AwsRequestLog:
    """The log, and the WSGI app that fills it around `app`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[AwsRequest] = []
        self._app: WsgiApp | None = None

    def wrap(self, app: WsgiApp) -> WsgiApp:
        self._app = app
        return self

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        assert self._app is not None, "wrap() the moto app first"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        # moto reads the body again: hand it a fresh stream of the same bytes.
        environ["wsgi.input"] = io.BytesIO(body)
        service_match = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        caller_match = _APP_ID.search(str(environ.get("HTTP_USER_AGENT", "")))
        status: list[int] = [0]

        def recording_start_response(status_line: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, *rest)

        response = bytearray()
        for chunk in self._app(environ, recording_start_response):
            response += chunk
            yield chunk
        operation = _operation(environ, body)
        record = AwsRequest(
            service=service_match.group(1) if service_match else "unsigned",
            operation=operation,
            caller=caller_match.group(1) if caller_match else RUNNER,
            request_bytes=len(body),
            response_bytes=len(response),
            status=status[0],
            resource=_resource(body),
            items=_items(body),
            returned=_returned(operation, bytes(response)),
        )
        with self._lock:
            self._records.append(record)

    # ---- reading it -----------------------------------------------------------------------------------

    def records(self) -> list[AwsRequest]:
        with self._lock:
            return list(self._records)

    def mark(self) -> int:
        """A position in the log, for `since`."""
        with self._lock:
            return len(self._records)

    def since(self, mark: int) -> list[AwsRequest]:
        with self._lock:
            return self._records[mark:]

    @staticmethod
    def counts(records: Iterable[AwsRequest], caller: str | None = None) -> Counter[str]:
        """`service:Operation` → requests, of one caller or of all."""
        return Counter(record.call for record in records if caller is None or record.caller == caller)
