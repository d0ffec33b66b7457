"""Answering API Gateway HTTP API requests (payload format 2.0): a request's handler is found by its route key, and
what it answers, or a known error it raises, becomes the proxy result API Gateway sends back.

Why not Powertools' Event Handler (APIGatewayHttpResolver), as the style guide would otherwise have it: importing
`aws_lambda_powertools.event_handler` cost the webhooks and connect functions about 114 M CPU instructions (21 ms)
of cold start beyond what they import anyway (callgrind, as the cold-start bench counts them), because the package
imports every resolver (AppSync with asyncio, Bedrock agents, VPC Lattice...) and its API Gateway resolver imports
every event data class. And its routing is work done twice: API Gateway has already matched the request to one of
the template's routes and says which (`routeKey`, e.g. `POST /webhooks/{platform}`) and with what `pathParameters`
(the local runner's HTTP API does the same), so finding the handler is a dictionary lookup.

The answers are the ones the Event Handler gave: a JSON body serialized compactly (`{"a":1}`) under `Content-Type:
application/json`, an unknown route `404 {"statusCode":404,"message":"Not found"}`, and an exception without a
handler raised (API Gateway then answers 500), so a handled error is never a 5xx unless its handler says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

JSON = "application/json"

Handler = TypeVar("Handler", bound=Callable[..., "HttpResponse"])
Error = TypeVar("Error", bound=Exception)
ErrorHandler = Callable[["HttpRequest", Error], "HttpResponse"]


# Plain classes, not dataclasses: generating a dataclass's methods at import cost more than the rest of this module.
class HttpRequest:
    """What the handlers read of a payload 2.0 event. Header names are lower case (API Gateway sends them so; an
    event made otherwise is read the same way); a repeated query parameter or header is one value, comma-joined,
    as API Gateway sends it. `domain_name`: the API's domain as the caller reached it (requestContext.domainName),
    a custom domain or the default one."""

    __slots__ = ("body", "domain_name", "headers", "is_base64_encoded", "path_parameters", "query", "route_key")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.route_key = str(event.get("routeKey") or "")
        self.headers: Mapping[str, str] = {
            str(name).lower(): value for name, value in (event.get("headers") or {}).items()
        }
        self.query: Mapping[str, str] = dict(event.get("queryStringParameters") or {})
        self.path_parameters: Mapping[str, str] = dict(event.get("pathParameters") or {})
        self.body: str | None = event.get("body")
        self.is_base64_encoded = bool(event.get("isBase64Encoded"))
        self.domain_name = str((event.get("requestContext") or {}).get("domainName") or "")


class HttpResponse:
    """An answer: a str body is sent as it is, a dict is serialized as compact JSON. `headers` may add to
    Content-Type or override it."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: str | Mapping[str, Any] = "",
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: Mapping[str, str] = headers or {}

    def proxy_result(self) -> dict[str, Any]:
        body = self.body if isinstance(self.body, str) else json.dumps(self.body, separators=(",", ":"))
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": self.content_type, **self.headers},
            "body": body,
            "isBase64Encoded": False,
        }


NOT_FOUND = HttpResponse(HTTPStatus.NOT_FOUND.value, {"statusCode": HTTPStatus.NOT_FOUND.value, "message": "Not found"})


class HttpApi:
    """One function's routes, by route key exactly as the template declares them (`METHOD /path/{name}`), and its
    answers to exceptions. A handler is called with the request and the path parameters as keyword arguments."""

    def __init__(self) -> None:
        self._routes: dict[str, Callable[..., HttpResponse]] = {}
        self._error_handlers: dict[type[Exception], Callable[[HttpRequest, Any], HttpResponse]] = {}

    def route(self, route_key: str) -> Callable[[Handler], Handler]:
        method, _, path = route_key.partition(" ")
        if not method.isupper() or not path.startswith("/") or "<" in path:
            raise ValueError(f"{route_key!r} is not an HTTP API route key (e.g. 'POST /webhooks/{{platform}}')")
        if route_key in self._routes:
            raise ValueError(f"route {route_key!r} has a handler already")

        def register(handler: Handler) -> Handler:
            self._routes[route_key] = handler
            return handler

        return register

    def exception_handler(self, *kinds: type[Error]) -> Callable[[ErrorHandler[Error]], ErrorHandler[Error]]:
        """The answer to an exception of these kinds or a subclass of them; the closest class's handler wins."""

        def register(handler: ErrorHandler[Error]) -> ErrorHandler[Error]:
            for kind in kinds:
                self._error_handlers[kind] = handler
            return handler

        return register

    def resolve(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The proxy result for one request event. An exception no handler answers is raised."""
        request = HttpRequest(event)
        handler = self._routes.get(request.route_key)
        if handler is None:
            return NOT_FOUND.proxy_result()
        try:
            response = handler(request, **request.path_parameters)
        except Exception as error:
            error_handler = self._error_handler(error)
            if error_handler is None:
                raise
            response = error_handler(request, error)
        return response.proxy_result()

    def _error_handler(self, error: Exception) -> Callable[[HttpRequest, Any], HttpResponse] | None:
        for kind in type(error).__mro__:
            handler = self._error_handlers.get(kind)
            if handler is not None:
                return handler
        return None
