"""The one request path for API calls: route, parse JSON, validate against the spec, run the handler.

Both the HTTP server and the batch worker call `Dispatcher.dispatch`, so a batch operation gets exactly the
same routing, validation and rules as a direct request. Authentication, the concurrency limit and fault
injection belong to the HTTP layer (`server.py`) and are not applied to batch operations.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from . import account, batches, carts, catalog, customers, list_webhooks, member_tags, members, orders, promos, stores
from .context import ApiEnv, Call, Route
from .paging import project
from .problems import ApiProblem, internal_error, json_parse_error, method_not_allowed, not_found

logger = logging.getLogger(__name__)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ALL_ROUTES: list[Route] = [
    *account.ROUTES,
    *stores.ROUTES,
    *customers.ROUTES,
    *catalog.ROUTES,
    *carts.ROUTES,
    *orders.ROUTES,
    *promos.ROUTES,
    *members.ROUTES,
    *list_webhooks.ROUTES,
    *member_tags.ROUTES,
    *batches.ROUTES,
]


@dataclass
class ApiResponse:
    status: int
    body: Any  # JSON-able; None for 204
    request_json: Any = None  # the parsed request body, for the request log
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_problem(self) -> bool:
        return self.status >= 400


def _werkzeug_rule(template: str) -> str:
    return template.replace("{", "<").replace("}", ">")


class Dispatcher:
    def __init__(self, env: ApiEnv, routes: list[Route] = ALL_ROUTES) -> None:
        self.env = env
        self._handlers = {(route.method, route.template): route.handler for route in routes}
        methods: dict[str, set[str]] = defaultdict(set)
        for route in routes:
            methods[route.template].add(route.method)
        self._map = Map(
            [Rule(_werkzeug_rule(t), endpoint=t, methods=sorted(m)) for t, m in methods.items()],
            strict_slashes=False,
            merge_slashes=False,
        )

    def _match(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        adapter = self._map.bind("emulator")
        try:
            template, args = adapter.match(path, method=method)
        except NotFound:
            raise not_found() from None
        except MethodNotAllowed as error:
            raise method_not_allowed([m for m in error.valid_methods or [] if m != "HEAD"]) from None
        return str(template), {key: str(value) for key, value in args.items()}

    def dispatch(
        self,
        method: str,
        path: str,
        query: MultiDict[str, str],
        raw_body: bytes,
        request_id: str,
    ) -> ApiResponse:
        """Runs one API call; `path` is relative to `/3.0` (e.g. `/ecommerce/stores`)."""
        method = method.upper()
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/") or "/"
        request_json: Any = None
        parse_failed = False
        template = "(unmatched)"
        if raw_body.strip():
            try:
                request_json = json.loads(raw_body)
            except ValueError:
                parse_failed = True
        try:
            template, args = self._match(method, path)
            body = None
            if method in BODY_METHODS:
                if parse_failed:
                    raise json_parse_error()
                body = {} if request_json is None else request_json
                self.env.validator.validate(method, template, body)
            handler = self._handlers[("GET" if method == "HEAD" else method, template)]
            call = Call(self.env, method, template, args, query, body, request_id)
            with self.env.state.lock:
                result = handler(call)
            if result is None:
                return ApiResponse(204, None, request_json)
            if method == "GET":
                result = project(result, query.get("fields"), query.get("exclude_fields"))
            return ApiResponse(200, result, request_json)
        except ApiProblem as problem:
            return ApiResponse(problem.status, problem.to_json(request_id), request_json, dict(problem.headers))
        except Exception:
            logger.exception("emulator handler failed for %s %s", method, template)  # no ids or emails
            return ApiResponse(500, internal_error().to_json(request_id), request_json)
