"""The HTTP API on a real port: requests become API Gateway HTTP API payload 2.0 events, handler
answers become HTTP responses, with API Gateway's own answers for no route (404) and a failed
invocation (500)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local_runner.functions import Invocable
from local_runner.template import HttpRoute

log = logging.getLogger("local_runner.http_api")
# The runner's own routes (status, local-only deliveries): headers and body in, status and JSON out.
LocalRoute = Callable[[dict[str, str], bytes], tuple[int, Any]]
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def build_event(
    route: HttpRoute,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    content_type = headers.get("content-type", "")
    is_text = not body or any(content_type.startswith(kind) for kind in TEXT_TYPES)
    try:
        text_body = body.decode() if is_text else None
    except UnicodeDecodeError:
        text_body = None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "pathParameters": path_parameters,
        "isBase64Encoded": text_body is None,
    }
    if raw_query:
        event["queryStringParameters"] = dict(parse_qsl(raw_query, keep_blank_values=True))
    if body:
        event["body"] = text_body if text_body is not None else base64.b64encode(body).decode()
    return event


def _response_parts(result: Any) -> tuple[int, dict[str, str], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 lets a handler return a bare value, which API Gateway sends as JSON with 200.
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {key.lower(): str(value) for key, value in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, raw


class HttpApi:
    def __init__(
        self,
        routes: list[tuple[HttpRoute, Invocable]],
        host: str,
        port: int,
        local_routes: dict[tuple[str, str], LocalRoute] | None = None,
    ) -> None:
        self._routes = routes
        self._local_routes = local_routes or {}
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        local = self._local_routes.get((method, parts.path))
        if local is not None:
            status, answer = local(headers, body)
            return status, {"content-type": "application/json"}, json.dumps(answer).encode()
        for route, function in self._routes:
            parameters = route.match(method, parts.path)
            if parameters is None:
                continue
            # API Gateway tells the function the scheme the caller used; here it is always plain HTTP.
            headers = {**headers, "x-forwarded-proto": "http"}
            event = build_event(route, method, parts.path, parts.query, headers, body, parameters, source_ip)
            started = time.monotonic()
            try:
                result = function.invoke(event)
            except Exception as error:
                log.warning("function %s failed: %s", function.spec.logical_id, error)
                return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
            status, response_headers, raw = _response_parts(result)
            log.info("%s %s -> %s (%.1f ms)", method, parts.path, status, (time.monotonic() - started) * 1000)
            return status, response_headers, raw
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        dispatch: Callable[..., tuple[int, dict[str, str], bytes]] = self.dispatch

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                for key, value in self.headers.items():
                    key = key.lower()
                    headers[key] = f"{headers[key]},{value}" if key in headers else value
                status, response_headers, raw = dispatch(self.command, self.path, headers, body, self.client_address[0])
                self.send_response(status)
                for key, value in response_headers.items():
                    if key not in {"content-length", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        return Handler
