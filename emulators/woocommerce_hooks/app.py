"""The WooCommerce webhooks emulator's HTTP side: a werkzeug WSGI app for `/wp-json/wc/v3/webhooks`.

Routes (HTTP Basic auth with a REST API key's consumer key and secret, as WooCommerce allows over HTTPS):
  GET    /wp-json/wc/v3/webhooks              `page`, `per_page` (≤ 100); `X-WP-Total`, `X-WP-TotalPages`
  POST   /wp-json/wc/v3/webhooks              create (`topic` and `delivery_url` required) → 201
  GET    /wp-json/wc/v3/webhooks/<id>
  PUT    /wp-json/wc/v3/webhooks/<id>         update `name`, `status`, `topic`, `delivery_url`, `secret`
  POST   /wp-json/wc/v3/webhooks/<id>         same as PUT (WordPress accepts both)
  DELETE /wp-json/wc/v3/webhooks/<id>         `force=true` required, as WooCommerce requires it

As WooCommerce does, a webhook's `secret` is never returned. Errors are WordPress REST documents
`{code, message, data: {status}}`. Injected failures (`fail_updates`) answer updates with a 500.
Every request is recorded (method, path, status; never a body or the credentials).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

JsonDict = dict[str, Any]
API_PREFIX = "/wp-json/wc/v3"
MAX_PER_PAGE = 100
TOPIC_HOOKS = {
    "created": "woocommerce_new_{0}",
    "updated": "woocommerce_update_{0}",
    "deleted": "woocommerce_delete_{0}",
}


def now_local() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> JsonDict:
        return {"code": self.code, "message": self.message, "data": {"status": self.status}}


@dataclass
class HooksState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    webhooks: dict[int, JsonDict] = field(default_factory=dict)
    requests: list[JsonDict] = field(default_factory=list)
    next_id: int = 1
    # Injected failures: the next `updates_to_pass` updates succeed, then `updates_to_fail` answer 500.
    updates_to_pass: int = 0
    updates_to_fail: int = 0

    def clear(self) -> None:
        with self.lock:
            self.webhooks.clear()
            self.requests.clear()
            self.next_id = 1
            self.updates_to_pass = self.updates_to_fail = 0


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def public_view(webhook: JsonDict) -> JsonDict:
    """The REST representation: everything but the secret."""
    view = {key: copy.deepcopy(value) for key, value in webhook.items() if key != "secret"}
    view["_links"] = {"self": [{"href": f"{API_PREFIX}/webhooks/{webhook['id']}"}]}
    return view


class WooCommerceHooksApp:
    def __init__(self, consumer_key: str, consumer_secret: str, state: HooksState) -> None:
        self.credentials = (consumer_key, consumer_secret)
        self.state = state
        self._routes = Map(
            [
                Rule("/webhooks", endpoint="collection", methods=["GET", "POST"]),
                Rule("/webhooks/<int:hook_id>", endpoint="item", methods=["GET", "PUT", "POST", "PATCH", "DELETE"]),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except WpError as error:
            response = _json(error.body(), error.status)
        except Exception:
            response = _json(WpError(500, "internal_server_error", "There has been a critical error.").body(), 500)
        with self.state.lock:
            self.state.requests.append({"method": request.method, "path": request.path, "status": response.status_code})
        return response(environ, start_response)

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        given: tuple[str, str] | None = None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
                given = (user, password)
            except (binascii.Error, UnicodeDecodeError):
                given = None
        if given != self.credentials:
            raise WpError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")

    def _dispatch(self, request: Request) -> Response:
        if not request.path.startswith(API_PREFIX + "/"):
            raise WpError(404, "rest_no_route", "No route was found matching the URL and request method.")
        self._authenticate(request)
        adapter = self._routes.bind("localhost")
        try:
            endpoint, args = adapter.match(request.path[len(API_PREFIX) :], method=request.method)
        except HTTPException as error:
            raise WpError(
                error.code or 404, "rest_no_route", "No route was found matching the URL and request method."
            ) from error
        with self.state.lock:
            if endpoint == "collection":
                return self._list(request) if request.method == "GET" else self._create(request)
            hook_id = int(args["hook_id"])
            if request.method == "GET":
                return _json(public_view(self._find(hook_id)))
            if request.method == "DELETE":
                return self._delete(request, hook_id)
            return self._update(request, hook_id)

    def _body(self, request: Request) -> JsonDict:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError as error:
            raise WpError(400, "rest_invalid_json", "Invalid JSON body passed.") from error
        if not isinstance(body, dict):
            raise WpError(400, "rest_invalid_json", "Invalid JSON body passed.")
        return body

    def _find(self, hook_id: int) -> JsonDict:
        webhook = self.state.webhooks.get(hook_id)
        if webhook is None:
            raise WpError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return webhook

    def _list(self, request: Request) -> Response:
        try:
            page = max(int(request.args.get("page", 1)), 1)
            per_page = int(request.args.get("per_page", 10))
        except ValueError as error:
            raise WpError(400, "rest_invalid_param", "Invalid parameter(s): page, per_page") from error
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise WpError(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        hooks = [self.state.webhooks[key] for key in sorted(self.state.webhooks)]
        status = request.args.get("status", "all")
        if status != "all":
            hooks = [hook for hook in hooks if hook["status"] == status]
        total = len(hooks)
        chunk = hooks[(page - 1) * per_page : page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(math.ceil(total / per_page) if total else 0)}
        return _json([public_view(hook) for hook in chunk], headers=headers)

    @staticmethod
    def _apply(webhook: JsonDict, body: JsonDict) -> None:
        for name in ("name", "status", "delivery_url", "secret"):
            if name in body:
                webhook[name] = str(body[name])
        if "topic" in body:
            topic = str(body["topic"])
            resource, _, event = topic.partition(".")
            webhook.update(
                topic=topic, resource=resource, event=event, hooks=[TOPIC_HOOKS.get(event, "{0}").format(resource)]
            )
        if webhook["status"] not in ("active", "paused", "disabled"):
            raise WpError(400, "rest_invalid_param", "Invalid parameter(s): status")
        webhook["date_modified"] = webhook["date_modified_gmt"] = now_local()

    def _create(self, request: Request) -> Response:
        body = self._body(request)
        if not body.get("topic") or not body.get("delivery_url"):
            raise WpError(400, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url")
        hook_id = self.state.next_id
        self.state.next_id += 1
        created = now_local()
        webhook: JsonDict = {
            "id": hook_id,
            "name": str(body.get("name") or f"Webhook created on {created}"),
            "status": "active",
            "secret": "",
            "date_created": created,
            "date_created_gmt": created,
        }
        self._apply(webhook, body)
        self.state.webhooks[hook_id] = webhook
        return _json(public_view(webhook), 201)

    def _update(self, request: Request, hook_id: int) -> Response:
        webhook = self._find(hook_id)
        body = self._body(request)
        if self.state.updates_to_pass > 0:
            self.state.updates_to_pass -= 1
        elif self.state.updates_to_fail > 0:
            self.state.updates_to_fail -= 1
            raise WpError(500, "internal_server_error", "There has been a critical error on this website.")
        updated = copy.deepcopy(webhook)
        self._apply(updated, body)
        self.state.webhooks[hook_id] = updated
        return _json(public_view(updated))

    def _delete(self, request: Request, hook_id: int) -> Response:
        webhook = self._find(hook_id)
        if request.args.get("force") not in ("true", "1"):
            raise WpError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        del self.state.webhooks[hook_id]
        return _json(public_view(webhook))
